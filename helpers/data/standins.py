"""Embedded stand-in datasets, generated offline and deterministically from the seed.

They need no download: everything comes from files the installed packages carry.

- ``handwritten_digits``: scikit-learn's 1,797 bundled 8x8 handwritten digits, upsampled
  and centred like MNIST, each drawn with a small random affine jitter. Train and test
  use disjoint writers' samples (the first 1,300 and the rest).
- ``street_digits``: "printed street digits" in the spirit of SVHN, rendered with the
  fonts matplotlib ships: a centred digit with neighbouring digits cut by the frame,
  random colours (either polarity), size, rotation, blur and noise.
- ``printed_letters``: the same renderer with the letters A-Z, a 26-class pretraining
  task that stands in for ImageNet pretraining in the tiny and quick profiles.

All return ``(images, labels)``: uint8 arrays of shape (N, 3, 32, 32) and int64 (N,).
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SIZE = 32
NEIGHBOUR_PROBABILITY = 0.35  # per side; real SVHN crops often show parts of neighbours
_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_FONTS = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "STIXGeneral.ttf",
    "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "cmr10.ttf", "cmss10.ttf", "cmb10.ttf",
)
_SPLIT_OFFSET = {"train": 0, "test": 1}
_SKLEARN_TRAIN_COUNT = 1300


def _rng(seed: int, split: str, dataset: str) -> np.random.Generator:
    """A generator that differs per (seed, split, dataset) and is stable across runs."""
    return np.random.default_rng([seed, _SPLIT_OFFSET[split], sum(map(ord, dataset))])


@lru_cache(maxsize=None)
def _glyph(font_file: str, char: str) -> np.ndarray:
    """A tightly cropped coverage mask of one character, float32 in [0, 1], ~64 px high."""
    font = ImageFont.truetype(str(_FONT_DIR / font_file), 64)
    canvas = Image.new("L", (128, 128), 0)
    ImageDraw.Draw(canvas).text((20, 10), char, fill=255, font=font)
    mask = np.asarray(canvas, dtype=np.float32) / 255.0
    rows, cols = np.nonzero(mask > 0.05)
    return mask[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def _place(canvas: np.ndarray, glyph: np.ndarray, height: int, centre_x: float,
           centre_y: float, angle: float) -> float:
    """Draw ``glyph`` scaled to ``height`` px at a centre on ``canvas`` (max-blend).

    Returns the drawn glyph's width in pixels, so neighbours can be spaced.
    """
    width = max(2, round(glyph.shape[1] * height / glyph.shape[0]))
    image = Image.fromarray((glyph * 255).astype(np.uint8)).resize((width, height),
                                                                    Image.BILINEAR)
    image = image.rotate(angle, resample=Image.BILINEAR, expand=True)
    patch = np.asarray(image, dtype=np.float32) / 255.0
    top = round(centre_y - patch.shape[0] / 2)
    left = round(centre_x - patch.shape[1] / 2)
    y0, x0 = max(top, 0), max(left, 0)
    y1 = min(top + patch.shape[0], canvas.shape[0])
    x1 = min(left + patch.shape[1], canvas.shape[1])
    if y1 > y0 and x1 > x0:
        region = patch[y0 - top:y1 - top, x0 - left:x1 - left]
        canvas[y0:y1, x0:x1] = np.maximum(canvas[y0:y1, x0:x1], region)
    return float(width)


def _contrasting_colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Background and foreground RGB in [0, 1] whose luminances differ by at least 0.3."""
    luminance = np.array([0.299, 0.587, 0.114])
    while True:
        background, foreground = rng.uniform(0, 1, size=(2, 3))
        if abs(luminance @ background - luminance @ foreground) >= 0.3:
            return background, foreground


def _render_printed(rng: np.random.Generator, labels: np.ndarray, alphabet: str,
                    neighbours: bool) -> np.ndarray:
    images = np.empty((len(labels), SIZE, SIZE, 3), dtype=np.float32)
    for i, label in enumerate(labels):
        font = _FONTS[rng.integers(len(_FONTS))]
        height = int(rng.integers(16, 25))
        angle = float(rng.uniform(-8, 8))
        centre_x = SIZE / 2 + rng.uniform(-2, 2)
        centre_y = SIZE / 2 + rng.uniform(-2, 2)
        mask = np.zeros((SIZE, SIZE), dtype=np.float32)
        width = _place(mask, _glyph(font, alphabet[label]), height, centre_x, centre_y, angle)
        if neighbours:
            gap = rng.uniform(1, 4)
            for side in (-1, 1):
                if rng.random() < NEIGHBOUR_PROBABILITY:
                    other = _glyph(font, alphabet[rng.integers(len(alphabet))])
                    other_width = other.shape[1] * height / other.shape[0]
                    offset = side * (width / 2 + gap + other_width / 2)
                    _place(mask, other, height, centre_x + offset, centre_y, angle)
        background, foreground = _contrasting_colours(rng)
        shading = np.linspace(rng.uniform(-0.15, 0.15), rng.uniform(-0.15, 0.15), SIZE)
        image = background + (foreground - background) * mask[..., None]
        image = image + shading[None, :, None] if rng.random() < 0.5 else image + shading[:, None, None]
        blur = rng.uniform(0, 0.8)
        pil = Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8))
        image = np.asarray(pil.filter(ImageFilter.GaussianBlur(blur)), dtype=np.float32) / 255
        images[i] = image + rng.normal(0, rng.uniform(0, 0.04), size=image.shape)
    return _to_uint8_chw(images)


def _to_uint8_chw(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) floats in ~[0, 1] → (N, 3, H, W) uint8."""
    return np.ascontiguousarray((np.clip(images, 0, 1) * 255).round().astype(np.uint8)
                                .transpose(0, 3, 1, 2))


def _check(split: str, size: int) -> None:
    if split not in _SPLIT_OFFSET:
        raise ValueError(f"split={split!r}: expected 'train' or 'test'.")
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size={size!r}: expected a positive number of images.")


def street_digits(split: str, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``size`` printed street digits (SVHN stand-in); labels 0-9, balanced up to one."""
    _check(split, size)
    rng = _rng(seed, split, "street_digits")
    labels = rng.permutation(np.arange(size) % 10)
    return _render_printed(rng, labels, string.digits, neighbours=True), labels.astype(np.int64)


def printed_letters(split: str, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``size`` printed capital letters (26 classes, A=0), the pretraining stand-in."""
    _check(split, size)
    rng = _rng(seed, split, "printed_letters")
    labels = rng.permutation(np.arange(size) % 26)
    return (_render_printed(rng, labels, string.ascii_uppercase, neighbours=False),
            labels.astype(np.int64))


def handwritten_digits(split: str, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``size`` handwritten digits (MNIST stand-in): white on black, centred, jittered.

    Built from scikit-learn's bundled digits; the test split uses writers' samples that
    the train split never sees.
    """
    from sklearn.datasets import load_digits

    _check(split, size)
    bundled = load_digits()
    base_images = bundled.images.astype(np.float32) / 16.0
    base_labels = bundled.target.astype(np.int64)
    pool = (np.arange(_SKLEARN_TRAIN_COUNT) if split == "train"
            else np.arange(_SKLEARN_TRAIN_COUNT, len(base_labels)))
    rng = _rng(seed, split, "handwritten_digits")
    chosen = rng.choice(pool, size=size, replace=size > len(pool))
    images = np.empty((size, SIZE, SIZE, 3), dtype=np.float32)
    for i, index in enumerate(chosen):
        digit = Image.fromarray((base_images[index] * 255).astype(np.uint8))
        # MNIST puts a 20x20 digit in a 28x28 frame; in 32x32 that is ~23 px.
        box = int(rng.integers(20, 25))
        digit = digit.resize((box, box), Image.BICUBIC)
        digit = digit.rotate(float(rng.uniform(-12, 12)), resample=Image.BILINEAR, expand=True)
        frame = Image.new("L", (SIZE, SIZE), 0)
        shift = rng.integers(-2, 3, size=2)
        frame.paste(digit, (int((SIZE - digit.width) // 2 + shift[0]),
                            int((SIZE - digit.height) // 2 + shift[1])))
        pixels = np.asarray(frame, dtype=np.float32) / 255.0
        # Sharpen the upsampled blur into pen strokes of varying thickness.
        pixels = np.clip((pixels - rng.uniform(0.15, 0.35)) * 2.5, 0, 1)
        images[i] = pixels[..., None]
    return _to_uint8_chw(images), base_labels[chosen]
