"""Cats vs dogs: the drawn stand-in and the Oxford-IIIT Pet reader (on a fake folder)."""

import numpy as np
import pytest
from PIL import Image

from helpers import data
from helpers.data import pets
from helpers.paths import data_dir


def test_drawn_pets_are_deterministic_balanced_and_varied():
    images, labels = pets.drawn_pets("train", 30, seed=2)
    again, labels_again = pets.drawn_pets("train", 30, seed=2)
    assert images.shape == (30, 3, 64, 64) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [15, 15]
    assert np.array_equal(images, again) and np.array_equal(labels, labels_again)
    assert not np.array_equal(images, pets.drawn_pets("train", 30, seed=3)[0])
    assert not np.array_equal(images, pets.drawn_pets("test", 30, seed=2)[0])
    assert images.std() > 30 and len({img.tobytes() for img in images}) == 30


def test_drawn_pets_check_their_arguments():
    with pytest.raises(ValueError, match="split"):
        pets.drawn_pets("validation", 4)
    with pytest.raises(ValueError, match="size"):
        pets.drawn_pets("train", 0)


ANNOTATION_HEADER = ("#Image CLASS-ID SPECIES BREED ID\n#ID: 1:37 Class ids\n"
                     "#SPECIES: 1:Cat 2:Dog\n#BREED ID: 1-25:Cat 1:12:Dog\n")
# name, class id, species (1 cat, 2 dog), breed id — the real file's format
TRAINVAL = [("Abyssinian_1", 1, 1, 1), ("american_bulldog_10", 2, 2, 1),
            ("Bengal_12", 6, 1, 2), ("beagle_3", 11, 2, 4)]
TEST = [("Persian_7", 24, 1, 8), ("pug_2", 31, 2, 19)]


def _fake_pet_folder(root):
    """Write annotations and small jpgs (wide, tall, grey and CMYK) like the real set."""
    folder = root / "oxford-iiit-pet"
    (folder / "annotations").mkdir(parents=True)
    (folder / "images").mkdir()
    for split, rows in (("trainval", TRAINVAL), ("test", TEST)):
        lines = "".join(" ".join(map(str, row)) + "\n" for row in rows)
        (folder / "annotations" / f"{split}.txt").write_text(ANNOTATION_HEADER + lines)
    for index, (name, *_rest) in enumerate(TRAINVAL + TEST):
        # a red centre square flanked by blue strips that the centre crop must cut off
        width, height = (150, 100) if index % 2 == 0 else (100, 150)
        photo = Image.new("RGB", (width, height), (0, 0, 255))
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        photo.paste((220, 20, 20), (left, top, left + side, top + side))
        if index == 2:
            photo = photo.convert("CMYK")  # a few real files are not RGB
        photo.save(folder / "images" / f"{name}.jpg", quality=95)
    return folder


def test_the_real_reader_parses_the_oxford_pet_layout():
    _fake_pet_folder(data_dir())
    train = data.load("pets", "train", source="real")
    test = data.load("pets", "test", source="auto")
    assert train.source == test.source == "real" and train.classes == ("cat", "dog")
    assert train.images.shape == (4, 3, 64, 64) and test.images.shape == (2, 3, 64, 64)
    assert train.labels.tolist() == [0, 1, 0, 1] and test.labels.tolist() == [0, 1]
    red, blue = train.images[:, 0].float(), train.images[:, 2].float()
    assert red.mean() > 180 and blue.mean() < 40, "centre crop must remove the side strips"


def test_the_real_reader_reports_a_broken_annotation():
    folder = _fake_pet_folder(data_dir())
    (folder / "annotations" / "test.txt").write_text("pug_2 31 dog 19\n")
    with pytest.raises(ValueError, match="species"):
        pets.read_pets(data_dir(), "test")


def test_missing_pets_say_what_to_run():
    assert not data.real_available("pets")
    with pytest.raises(FileNotFoundError, match=r"download.py pets"):
        data.load("pets", "train", source="real")
    standin = data.load("pets", "test", size=8, source="auto")
    assert standin.source == "standin" and standin.classes == ("cat", "dog")
