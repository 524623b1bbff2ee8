"""Datasets: one registry, real loaders and embedded stand-ins behind the same API.

>>> train = load("svhn", "train", size=2500, source="auto")   # doctest: +SKIP
svhn/train: embedded stand-in (printed street digits), 2,500 images

``source`` picks the data: ``"real"`` (the published dataset, which must have been
downloaded: ``python data_scripts/download.py NAME``), ``"standin"`` (generated offline,
deterministic from ``seed``) or ``"auto"`` (real if present in the data directory, else
the stand-in, with a notice). The dataset returned says which one it is
(``dataset.source``) and notebooks record it with their results. Tables (:data:`TABLES`:
UCI Adult) load through the same ``load`` and ``source``, as one bundle of both halves.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from helpers.data import adult, cifar, downloads, fashion, pets, real, standins
from helpers.paths import data_dir

SOURCES = ("auto", "real", "standin")
DIGITS = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class DatasetInfo:
    """What the registry knows about one dataset."""

    title: str
    classes: tuple[str, ...]
    make_standin: Callable[[str, int, int], tuple[np.ndarray, np.ndarray]]
    standin_title: str
    standin_sizes: tuple[int, int]                 # default (train, test) sizes
    read_real: Callable | None = None              # (root, split) -> (images, labels)


DATASETS: dict[str, DatasetInfo] = {
    "svhn": DatasetInfo("SVHN", DIGITS, standins.street_digits, "printed street digits",
                        (10000, 2000), real.read_svhn),
    "mnist": DatasetInfo("MNIST", DIGITS, standins.handwritten_digits,
                         "scikit-learn handwritten digits", (10000, 2000),
                         real.read_mnist),
    "letters": DatasetInfo("printed letters", tuple(chr(65 + i) for i in range(26)),
                           standins.printed_letters, "printed letters", (5000, 1000)),
    "cifar10": DatasetInfo("CIFAR-10", cifar.CLASSES, cifar.drawn_objects,
                           "drawn objects in the CIFAR-10 classes", (10000, 2000),
                           cifar.read_cifar10),
    "pets": DatasetInfo("Oxford-IIIT Pet (cats vs dogs)", pets.CLASSES, pets.drawn_pets,
                        "drawn cats and dogs", (4000, 1000), pets.read_pets),
    "fashion_mnist": DatasetInfo("Fashion-MNIST", fashion.CLASSES, fashion.drawn_clothing,
                                 "drawn clothing items", (10000, 2000),
                                 fashion.read_fashion_mnist),
}

#: Tabular datasets: name → loader ``(source, size, seed, verbose)`` returning one bundle
#: with both halves (Adult: :class:`helpers.data.adult.AdultData`).
TABLES: dict[str, Callable] = {"adult": adult.load_adult}


class ImageDataset(Dataset):
    """Images in memory as uint8 (N, C, H, W) with int64 labels (N,).

    ``dataset[i]`` returns ``(image, label)`` with ``image`` float32 (C, H, W) in [0, 1],
    after ``transform`` if one is set. Attributes: ``name``, ``split``, ``source``
    ("real" or "standin"), ``description``, ``classes``.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, name: str, split: str,
                 source: str, description: str, classes: tuple[str, ...], transform=None):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images: expected uint8 (N, C, H, W), got {images.dtype} "
                             f"{tuple(images.shape)}.")
        if labels.shape != (len(images),):
            raise ValueError(f"labels: expected shape ({len(images)},), got {tuple(labels.shape)}.")
        self.images, self.labels = images, labels
        self.name, self.split, self.source = name, split, source
        self.description, self.classes, self.transform = description, classes, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = self.images[index].float() / 255.0
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images as float32 (N, C, H, W) in [0, 1] (no transform) and labels (N,)."""
        return self.images.float() / 255.0, self.labels

    def with_transform(self, transform) -> "ImageDataset":
        """The same images (shared, not copied) read through ``transform``."""
        return self._copy(self.images, self.labels, transform)

    def subset(self, size: int, seed: int = 0) -> "ImageDataset":
        """``size`` images drawn at random without replacement (deterministic from ``seed``)."""
        if not 0 < size <= len(self):
            raise ValueError(f"size={size}: expected 1..{len(self)} for {self.name}/{self.split}.")
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:size]
        return self._copy(self.images[order], self.labels[order], self.transform)

    def _copy(self, images, labels, transform) -> "ImageDataset":
        return ImageDataset(images, labels, name=self.name, split=self.split,
                            source=self.source, description=self.description,
                            classes=self.classes, transform=transform)

    def __repr__(self) -> str:
        return (f"ImageDataset({self.name}/{self.split}: {self.description}, "
                f"{len(self):,} images, {tuple(self.images.shape[1:])})")


def real_available(name: str, split: str = "train") -> bool:
    """Whether the real ``name`` dataset's ``split`` is in the data directory.

    The download registry (:mod:`helpers.data.downloads`) says which files that takes,
    so what ``data_scripts/download.py`` placed is exactly what is found here.
    """
    info = _info(name)
    return info.read_real is not None and downloads.present(name, split, data_dir())


def load(name: str, split: str | None = None, size: int | None = None,
         source: str = "auto", seed: int = 0,
         verbose: bool = True) -> ImageDataset | adult.AdultData:
    """Load ``split`` ("train"/"test"; default "train") of dataset ``name`` as an
    :class:`ImageDataset`, or the table ``name`` (a key of :data:`TABLES`; leave ``split``
    unset) as its bundle of both halves, e.g. :class:`helpers.data.adult.AdultData`.

    ``size``: number of images or rows (a seeded random subset of real data; that many
    generated stand-in items); ``None`` = all real data, or the stand-in's default size.
    Raises ``ValueError`` for an unknown name/split/source and ``FileNotFoundError`` when
    ``source="real"`` but the dataset has not been downloaded.
    """
    if name in TABLES:
        if split is not None:
            raise ValueError(f"split={split!r}: {name!r} is a table whose bundle holds both "
                             f"halves (X_train, X_test, ...); leave split unset.")
        return TABLES[name](source=source, size=size, seed=seed, verbose=verbose)
    info = _info(name)
    split = "train" if split is None else split
    if split not in ("train", "test"):
        raise ValueError(f"split={split!r}: expected 'train' or 'test'.")
    if source not in SOURCES:
        raise ValueError(f"source={source!r}: expected one of {', '.join(SOURCES)}.")
    if size is not None and (not isinstance(size, int) or size < 1):
        raise ValueError(f"size={size!r}: expected a positive int or None.")
    available = source != "standin" and real_available(name, split)
    if source == "real" and not available:
        raise FileNotFoundError(_missing_message(name, info))
    use_real = source == "real" or (source == "auto" and available)
    root = str(data_dir()) if use_real else ""
    images, labels, description = _cached(name, split, size, seed, root)
    dataset = ImageDataset(images, labels, name=name, split=split,
                           source="real" if use_real else "standin",
                           description=description, classes=info.classes)
    if verbose:
        notice = "" if use_real or source == "standin" else (
            f" ({info.title} not found in {data_dir()}; "
            f"run `python data_scripts/download.py {name}` for the real data)")
        print(f"{name}/{split}: {description}, {len(dataset):,} images{notice}")
    return dataset


@lru_cache(maxsize=16)
def _cached(name: str, split: str, size: int | None, seed: int, real_root: str):
    """Images, labels and description; real data from ``real_root``, stand-in if ""."""
    info = DATASETS[name]
    if real_root:
        images, labels = info.read_real(real_root, split)
        if size is not None and size < len(labels):
            keep = np.random.default_rng([seed, 7]).choice(len(labels), size, replace=False)
            images, labels = images[keep], labels[keep]
        description = f"real {info.title}"
    else:
        count = size or info.standin_sizes[split == "test"]
        images, labels = info.make_standin(split, count, seed)
        description = f"embedded stand-in ({info.standin_title})"
    return torch.from_numpy(images), torch.from_numpy(labels), description


def _info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; known: {', '.join([*DATASETS, *TABLES])}.")
    return DATASETS[name]


def _missing_message(name: str, info: DatasetInfo) -> str:
    if info.read_real is None:
        return f"{name!r} exists only as an embedded stand-in; use source='standin'."
    return (f"The real {info.title} dataset is not in {data_dir()}. Download it with "
            f"`python data_scripts/download.py {name}` (needs network; without it, "
            f"`--print-urls` lists what to fetch elsewhere and `import` places it), or set "
            f"$TAI_DATA_DIR to where it is, or use source='standin'/'auto'.")


def digit_augmentation() -> v2.Compose:
    """The chapter's digit-safe augmentation for float (C, H, W) images in [0, 1].

    Affine jitter, colour jitter, perspective and padded crops, but no flips: a flipped
    6 reads as a 9 and a flipped 2 as a 5, so flips would teach wrong labels.
    """
    return v2.Compose([
        v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
        v2.ColorJitter(brightness=0.2, contrast=0.2),
        v2.RandomPerspective(distortion_scale=0.2, p=0.5),
        v2.RandomCrop(32, padding=4),
    ])
