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


def read_mnist(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """MNIST (the four uncompressed idx files in ``MNIST/raw/``), resized to 32x32 and repeated to 3 channels like the reports."""
    from torchvision.datasets import MNIST

    dataset = MNIST(str(root), train=split == "train", download=False)
    gray = dataset.data.unsqueeze(1).float()
    resized = F.interpolate(gray, size=(32, 32), mode="bilinear", align_corners=False)
    images = resized.round().clamp(0, 255).to(torch.uint8).repeat(1, 3, 1, 1)
    return images.numpy(), dataset.targets.numpy().astype(np.int64)
