"""Readers of the real datasets in their published on-disk formats (via torchvision).

Each reader takes the data directory and a split and returns ``(images, labels)``:
uint8 (N, 3, 32, 32) and int64 (N,). Downloading is ``data_scripts/download.py``'s job;
these functions only read files that are already there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def read_svhn(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """SVHN cropped digits from ``svhn/{split}_32x32.mat`` (the layout torchvision uses).

    The file holds ``X`` (32, 32, 3, N) uint8 and ``y`` (N, 1) with labels 1-10, where 10
    stands for the digit 0. We read it directly (as torchvision does, minus its MD5 check:
    checksums are verified when the file is downloaded).
    """
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    path = Path(root) / "svhn" / f"{split}_32x32.mat"
    try:
        content = loadmat(path)
        images, labels = content["X"], content["y"]
    except (MatReadError, ValueError, KeyError, OSError) as error:
        raise ValueError(f"{path} is not a readable SVHN file ({error}); delete it and "
                         f"download it again with `python data_scripts/download.py svhn`.") from error
    labels = labels.astype(np.int64).reshape(-1) % 10
    return np.ascontiguousarray(images.transpose(3, 2, 0, 1)), labels


def read_idx(root: Path, split: str, folder: str = "MNIST") -> tuple[np.ndarray, np.ndarray]:
    """The four uncompressed idx files of an MNIST-like dataset in ``<folder>/raw/``.

    ``folder`` is torchvision's class folder: ``"MNIST"`` or ``"FashionMNIST"``. Returns
    the images as published, uint8 (N, 28, 28), and int64 labels (N,).
    """
    from torchvision.datasets.mnist import read_image_file, read_label_file

    prefix = "train" if split == "train" else "t10k"
    raw = Path(root) / folder / "raw"
    try:
        images = read_image_file(str(raw / f"{prefix}-images-idx3-ubyte"))
        labels = read_label_file(str(raw / f"{prefix}-labels-idx1-ubyte"))
    except (AssertionError, RuntimeError, ValueError, OSError) as error:
        raise ValueError(f"{raw} holds no readable {prefix} idx files ({error}); delete "
                         f"them and download them again with data_scripts/download.py.") from error
    if len(images) != len(labels):
        raise ValueError(f"{raw}: {len(images)} {prefix} images but {len(labels)} labels.")
    return images.numpy(), labels.numpy().astype(np.int64)


def read_mnist(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """MNIST (the four uncompressed idx files in ``MNIST/raw/``), resized to 32x32 and repeated to 3 channels like the reports."""
    images, labels = read_idx(root, split, "MNIST")
    gray = torch.from_numpy(images).unsqueeze(1).float()
    resized = F.interpolate(gray, size=(32, 32), mode="bilinear", align_corners=False)
    images = resized.round().clamp(0, 255).to(torch.uint8).repeat(1, 3, 1, 1)
    return images.numpy(), labels
