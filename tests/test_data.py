import struct

import numpy as np
import pytest
import torch
from scipy.io import savemat

from helpers import data
from helpers.data import standins


@pytest.mark.parametrize("make", [standins.street_digits, standins.handwritten_digits,
                                  standins.printed_letters])
def test_standins_are_deterministic_and_well_formed(make):
    images, labels = make("train", 40, seed=3)
    again, labels_again = make("train", 40, seed=3)
    other, _ = make("train", 40, seed=4)
    assert images.shape == (40, 3, 32, 32) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and labels.shape == (40,)
    assert np.array_equal(images, again) and np.array_equal(labels, labels_again)
    assert not np.array_equal(images, other)
    assert images.std() > 20  # not blank


def test_train_and_test_splits_differ():
    train, _ = standins.street_digits("train", 20, seed=0)
    test, _ = standins.street_digits("test", 20, seed=0)
    assert not np.array_equal(train, test)


def test_street_digits_are_balanced():
    _, labels = standins.street_digits("train", 100)
    assert np.bincount(labels, minlength=10).tolist() == [10] * 10


def test_handwritten_digits_look_like_mnist():
    images, _ = standins.handwritten_digits("test", 50)
    # white strokes on a black background, grey (all three channels equal)
    assert np.array_equal(images[:, 0], images[:, 1])
    assert np.median(images) == 0 and images.max() == 255
    assert images[:, :, :2].max() == 0 or images[:, :, :2].mean() < 5  # empty top border


def test_load_records_the_source_and_prints_it(capsys):
    dataset = data.load("svhn", "test", size=30, source="standin")
    assert dataset.source == "standin" and "stand-in" in dataset.description
    assert "svhn/test: embedded stand-in" in capsys.readouterr().out
    image, label = dataset[0]
    assert image.dtype == torch.float32 and image.shape == (3, 32, 32)
    assert 0.0 <= image.min() and image.max() <= 1.0 and isinstance(label, int)


def test_auto_falls_back_to_the_standin_with_a_visible_notice(capsys):
    dataset = data.load("mnist", "train", size=10, source="auto")
    assert dataset.source == "standin"
    assert "download.py mnist" in capsys.readouterr().out


def test_real_requested_but_missing_says_what_to_run():
    with pytest.raises(FileNotFoundError, match=r"data_scripts/download.py svhn"):
        data.load("svhn", "train", source="real")


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "cifar100"}, "Unknown dataset"),
    ({"name": "svhn", "split": "val"}, "split"),
    ({"name": "svhn", "source": "internet"}, "source"),
    ({"name": "svhn", "size": 0}, "size"),
    ({"name": "letters", "source": "real"}, "stand-in"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        data.load(**kwargs)


def test_unwritable_data_dir_says_how_to_fix(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("TAI_DATA_DIR", str(blocker / "data"))
    with pytest.raises(PermissionError, match="TAI_DATA_DIR"):
        data.load("svhn", "train", size=5, source="auto")


def _write_svhn(root, split, images, labels_1_to_10):
    folder = root / "svhn"
    folder.mkdir(parents=True, exist_ok=True)
    savemat(folder / f"{split}_32x32.mat", {"X": images.transpose(2, 3, 1, 0),
                                            "y": labels_1_to_10.reshape(-1, 1)})


def test_real_svhn_in_its_published_format(tmp_path, monkeypatch):
    monkeypatch.setenv("TAI_DATA_DIR", str(tmp_path))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 3, 32, 32), dtype=np.uint8)
    labels = np.array([10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1], dtype=np.uint8)
    _write_svhn(tmp_path, "test", images, labels)
    dataset = data.load("svhn", "test", source="auto")
    assert dataset.source == "real" and len(dataset) == 12
    assert torch.equal(dataset.images, torch.from_numpy(images))
    assert dataset.labels.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert len(data.load("svhn", "test", size=5, source="real")) == 5


def test_corrupt_svhn_file_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TAI_DATA_DIR", str(tmp_path))
    (tmp_path / "svhn").mkdir()
    (tmp_path / "svhn" / "train_32x32.mat").write_bytes(b"truncated")
    with pytest.raises(ValueError, match="download it again"):
        data.load("svhn", "train", source="real")


def _write_idx(path, array, magic):
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_real_mnist_in_its_published_format(tmp_path, monkeypatch):
    monkeypatch.setenv("TAI_DATA_DIR", str(tmp_path))
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.zeros((6, 28, 28), dtype=np.uint8)
    images[:, 10:18, 12:16] = 255
    labels = np.arange(6, dtype=np.uint8)
    for prefix in ("train", "t10k"):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images, 2051)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, 2049)
    dataset = data.load("mnist", "train", source="real")
    assert dataset.source == "real" and dataset.images.shape == (6, 3, 32, 32)
    assert dataset.labels.tolist() == list(range(6))
    assert torch.equal(dataset.images[:, 0], dataset.images[:, 2])
    assert dataset.images.max() == 255 and dataset.images[:, :, 0].max() == 0


def test_subset_and_transform_share_storage():
    dataset = data.load("svhn", "train", size=50, source="standin", verbose=False)
    small = dataset.subset(10, seed=1)
    assert len(small) == 10 and small.source == dataset.source
    assert torch.equal(small.labels, dataset.subset(10, seed=1).labels)
    flipped = dataset.with_transform(lambda image: image.flip(-1))
    assert flipped.images is dataset.images
    assert torch.equal(flipped[0][0], dataset[0][0].flip(-1))
    with pytest.raises(ValueError, match="size"):
        dataset.subset(51)


def test_digit_augmentation_keeps_shape_range_and_never_flips():
    augmentation = data.digit_augmentation()
    names = [type(t).__name__ for t in augmentation.transforms]
    assert not any("Flip" in name for name in names)
    torch.manual_seed(0)
    image = torch.rand(3, 32, 32)
    out = augmentation(image)
    assert out.shape == (3, 32, 32) and 0 <= out.min() and out.max() <= 1
