"""Cats vs dogs: the Oxford-IIIT Pet reader and an embedded stand-in of drawn pets.

Both return ``(images, labels)``: uint8 (N, 3, 64, 64) and int64 (N,) with
0 = cat, 1 = dog. 64×64 keeps enough of a photo to tell a cat from a dog while a small
CNN still trains in seconds; chapters that want less resize further
(``helpers.backdoor.load_pets`` brings the tiny profile down to 32×32).

- ``read_pets``: torchvision's ``OxfordIIITPet`` layout under the data directory,
  ``oxford-iiit-pet/images/<name>.jpg`` and ``oxford-iiit-pet/annotations/{trainval,test}.txt``
  (lines ``<name> <class id> <species> <breed id>``; species 1 = cat, 2 = dog). "train"
  reads ``trainval.txt``. Each photo is centre-cropped to a square and resized.
- ``drawn_pets``: procedurally drawn cat-like and dog-like heads. Cats have round heads,
  pointed upright ears, slit pupils and whiskers; dogs have longer heads, floppy ears
  hanging down the sides, a pale muzzle and a big nose. Fur colour, pattern, pose, size,
  background clutter, blur and noise vary independently of the class, so the class is
  in the *shape*, and a small stamped logo (the backdoor trigger) stays a distinct feature.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 64
CLASSES = ("cat", "dog")
_SPLIT_FILE = {"train": "trainval.txt", "test": "test.txt"}
_SPLIT_OFFSET = {"train": 0, "test": 1}
_SCALE = 2  # draw the head at 2× and downsample: smooth, anti-aliased shapes


def read_pets(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Oxford-IIIT Pet photos of ``split`` as uint8 (N, 3, 64, 64) and species labels (N,)."""
    folder = Path(root) / "oxford-iiit-pet"
    names, labels = [], []
    annotation = folder / "annotations" / _SPLIT_FILE[split]
    for number, line in enumerate(annotation.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 4 or fields[2] not in ("1", "2"):
            raise ValueError(f"{annotation}:{number}: expected '<name> <class id> <species 1|2> "
                             f"<breed id>', got {line!r}; download the dataset again with "
                             f"`python data_scripts/download.py pets`.")
        names.append(fields[0])
        labels.append(int(fields[2]) - 1)
    images = np.stack([_read_photo(folder / "images" / f"{name}.jpg") for name in names])
    return images, np.asarray(labels, dtype=np.int64)


def _read_photo(path: Path) -> np.ndarray:
    """One photo, centre-cropped to a square and resized to SIZE: uint8 (3, SIZE, SIZE)."""
    try:
        with Image.open(path) as photo:
            photo.draft("RGB", (2 * SIZE, 2 * SIZE))  # JPEG: decode at reduced scale, faster
            photo = photo.convert("RGB")
    except OSError as error:
        raise ValueError(f"{path} is not a readable image ({error}); download the dataset "
                         f"again with `python data_scripts/download.py pets`.") from error
    side = min(photo.size)
    left, top = (photo.width - side) // 2, (photo.height - side) // 2
    square = photo.crop((left, top, left + side, top + side)).resize((SIZE, SIZE), Image.BILINEAR)
    return np.asarray(square, dtype=np.uint8).transpose(2, 0, 1)


def drawn_pets(split: str, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``size`` drawn cat and dog heads (balanced up to one), uint8 (N, 3, 64, 64)."""
    if split not in _SPLIT_OFFSET:
        raise ValueError(f"split={split!r}: expected 'train' or 'test'.")
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size={size!r}: expected a positive number of images.")
    rng = np.random.default_rng([seed, _SPLIT_OFFSET[split], 5017])
    labels = rng.permutation(np.arange(size) % 2).astype(np.int64)
    images = np.stack([_draw(rng, int(label)) for label in labels])
    return images, labels


def _colour(rng: np.random.Generator, low: float = 0.0, high: float = 1.0) -> tuple:
    return tuple(int(c) for c in rng.uniform(low, high, 3) * 255)


def _fur(rng: np.random.Generator) -> tuple:
    """Cat and dog fur share one palette: black, white, grey, ginger, brown, cream."""
    palette = np.array([[30, 28, 28], [235, 232, 225], [128, 128, 132], [214, 128, 50],
                        [120, 78, 45], [226, 200, 150]], dtype=float)
    base = palette[rng.integers(len(palette))] + rng.normal(0, 14, 3)
    return tuple(int(c) for c in np.clip(base, 0, 255))


def _background(rng: np.random.Generator, side: int) -> Image.Image:
    """A muted two-tone gradient with a few soft blobs (furniture, grass, cushions)."""
    top, bottom = np.array(_colour(rng, 0.15, 0.85)), np.array(_colour(rng, 0.15, 0.85))
    ramp = np.linspace(0, 1, side)[:, None, None]
    canvas = Image.fromarray((top * (1 - ramp) + bottom * ramp).repeat(side, 1).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(0, 4)):
        x, y = rng.uniform(-0.2, 1.0, 2) * side
        w, h = rng.uniform(0.2, 0.6, 2) * side
        draw.ellipse((x, y, x + w, y + h), fill=_colour(rng, 0.2, 0.8))
    return canvas.filter(ImageFilter.GaussianBlur(side / 40))


def _draw(rng: np.random.Generator, label: int) -> np.ndarray:
    side = SIZE * _SCALE
    canvas = _background(rng, SIZE)
    head = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(head)
    fur, dark = _fur(rng), tuple(int(c * 0.35) for c in _colour(rng, 0.1, 0.5))
    r = side * rng.uniform(0.2, 0.27)            # head radius
    cx, cy = side / 2, side * 0.55
    (_draw_cat if label == 0 else _draw_dog)(draw, rng, cx, cy, r, fur, dark)
    if rng.random() < 0.4:                        # stripes or patches, either class
        for _ in range(3):
            x = cx + rng.uniform(-0.6, 0.6) * r
            draw.line((x, cy - r * 0.95, x + rng.uniform(-5, 5), cy - r * 0.4),
                      fill=dark + (255,), width=int(r * 0.08))
    head = head.rotate(float(rng.uniform(-15, 15)), resample=Image.BILINEAR,
                       translate=tuple(rng.uniform(-0.12, 0.12, 2) * side))
    if rng.random() < 0.5:
        head = head.transpose(Image.FLIP_LEFT_RIGHT)
    head = head.resize((SIZE, SIZE), Image.BILINEAR, reducing_gap=2.0)
    canvas.paste(head, (0, 0), head)
    small = canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.7)))
    pixels = np.asarray(small, dtype=np.float32) + rng.normal(0, rng.uniform(0, 8), (SIZE, SIZE, 3))
    return np.clip(pixels, 0, 255).round().astype(np.uint8).transpose(2, 0, 1)


def _eyes(draw, rng, cx, cy, r, slit: bool) -> None:
    iris = _colour(rng, 0.3, 0.9) if slit else (40, 25, 15)
    for side in (-1, 1):
        x, y = cx + side * r * 0.38, cy - r * 0.12
        w, h = r * 0.17, r * (0.13 if slit else 0.15)
        draw.ellipse((x - w, y - h, x + w, y + h), fill=iris + (255,))
        pupil = r * 0.04 if slit else r * 0.09
        draw.ellipse((x - pupil, y - h * 0.9, x + pupil, y + h * 0.9), fill=(5, 5, 5, 255))


def _draw_cat(draw, rng, cx, cy, r, fur, dark) -> None:
    """Round head, two pointed upright ears, small pink nose, whiskers, slit pupils."""
    fill = fur + (255,)
    for side in (-1, 1):
        spread, height = rng.uniform(0.45, 0.75), rng.uniform(0.75, 1.05)
        base_in, base_out = cx + side * r * 0.1, cx + side * r * 0.95
        tip = (cx + side * r * spread * 1.1, cy - r * (0.55 + height))
        draw.polygon([(base_in, cy - r * 0.6), (base_out, cy - r * 0.25), tip], fill=fill)
        inner = (cx + side * r * spread, cy - r * (0.45 + height * 0.75))
        draw.polygon([(cx + side * r * 0.3, cy - r * 0.55), (cx + side * r * 0.8, cy - r * 0.3),
                      inner], fill=(230, 150, 160, 255))
    draw.ellipse((cx - r, cy - r * 0.85, cx + r, cy + r * 0.85), fill=fill)
    _eyes(draw, rng, cx, cy, r, slit=True)
    nose_y = cy + r * 0.22
    draw.polygon([(cx - r * 0.09, nose_y), (cx + r * 0.09, nose_y), (cx, nose_y + r * 0.1)],
                 fill=(225, 120, 135, 255))
    whisker = tuple(255 - c for c in fur[:1]) * 3 + (255,)
    for side in (-1, 1):
        for lift in (-0.12, 0.0, 0.12):
            draw.line((cx + side * r * 0.2, nose_y + r * 0.12,
                       cx + side * r * 1.15, nose_y + r * (0.05 + lift)),
                      fill=whisker, width=max(2, int(r * 0.025)))


def _draw_dog(draw, rng, cx, cy, r, fur, dark) -> None:
    """Longer head, floppy ears hanging down the sides, pale muzzle, big black nose."""
    fill, ear = fur + (255,), (dark if rng.random() < 0.6 else fur) + (255,)
    length = rng.uniform(1.0, 1.2)
    draw.ellipse((cx - r * 0.85, cy - r * length, cx + r * 0.85, cy + r * length), fill=fill)
    for side in (-1, 1):
        droop = rng.uniform(0.8, 1.3)
        x0, x1 = sorted((cx + side * r * 0.6, cx + side * r * 1.15))
        draw.ellipse((x0, cy - r * 0.95, x1, cy - r * 0.95 + r * 1.3 * droop), fill=ear)
    muzzle = tuple(min(255, int(c * 0.5 + 120)) for c in fur) + (255,)
    draw.ellipse((cx - r * 0.45, cy + r * 0.15, cx + r * 0.45, cy + r * 0.85), fill=muzzle)
    _eyes(draw, rng, cx, cy, r, slit=False)
    draw.ellipse((cx - r * 0.2, cy + r * 0.2, cx + r * 0.2, cy + r * 0.45), fill=(15, 12, 12, 255))
    if rng.random() < 0.4:                        # tongue
        draw.ellipse((cx - r * 0.12, cy + r * 0.7, cx + r * 0.12, cy + r * 1.0),
                     fill=(220, 90, 100, 255))
