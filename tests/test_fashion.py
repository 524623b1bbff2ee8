"""Fashion-MNIST: the real reader on idx files the test writes, and the drawn stand-in."""

import numpy as np
import pytest
import torch
from test_data import _write_idx   # the idx writer of the MNIST reader's test

from helpers import data
from helpers.data import fashion


def test_real_fashion_mnist_in_torchvisions_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("TAI_DATA_DIR", str(tmp_path))
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.zeros((5, 28, 28), dtype=np.uint8)
    images[:, 4:20, 9:19] = np.arange(5, dtype=np.uint8).reshape(5, 1, 1) * 50
    for prefix, labels in (("train", [9, 0, 3, 3, 1]), ("t10k", [2, 2, 8, 7, 5])):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images, 2051)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.array(labels), 2049)
    assert data.real_available("fashion_mnist", "test")
    dataset = data.load("fashion_mnist", "test", source="real")
    assert dataset.source == "real" and dataset.images.shape == (5, 1, 28, 28)
    assert dataset.labels.tolist() == [2, 2, 8, 7, 5]
    assert torch.equal(dataset.images[:, 0], torch.from_numpy(images))
    assert dataset.classes[9] == "Ankle boot"


def test_corrupt_idx_file_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TAI_DATA_DIR", str(tmp_path))
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="download"):
        data.load("fashion_mnist", "train", source="real")


def test_missing_real_data_points_to_the_download_command(tmp_path, monkeypatch):
    monkeypatch.setenv("TAI_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="download.py fashion_mnist"):
        data.load("fashion_mnist", "train", source="real")


def test_stand_in_is_deterministic_balanced_and_shaped_like_fashion_mnist():
    images, labels = fashion.drawn_clothing("train", 60, seed=3)
    again, _ = fashion.drawn_clothing("train", 60, seed=3)
    other, _ = fashion.drawn_clothing("test", 60, seed=3)
    assert images.dtype == np.uint8 and images.shape == (60, 1, 28, 28)
    assert np.array_equal(images, again) and not np.array_equal(images, other)
    assert np.bincount(labels, minlength=10).tolist() == [6] * 10
    # Items on a dark background: the border is darker than the centre.
    border = np.concatenate([images[:, 0, 0], images[:, 0, -1]], axis=1).mean()
    assert border < 40 < images[:, 0, 8:20, 8:20].mean()
    with pytest.raises(ValueError, match="split"):
        fashion.drawn_clothing("validation", 5)


def test_stand_in_classes_differ_in_shape():
    images, labels = fashion.drawn_clothing("train", 200, seed=0)
    coverage = (images[:, 0] > 30).reshape(200, -1).mean(1)
    per_class = np.array([coverage[labels == c].mean() for c in range(10)])
    trouser, bag, sandal = (fashion.CLASSES.index(n) for n in ("Trouser", "Bag", "Sandal"))
    assert per_class[bag] > per_class[trouser] and per_class[trouser] > per_class[sandal]
