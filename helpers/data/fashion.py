"""Fashion-MNIST: the real reader and an embedded, procedurally drawn stand-in.

Real data: the four idx files in ``FashionMNIST/raw/`` (torchvision's layout), read by
the same idx reader as MNIST (:func:`helpers.data.real.read_idx`); images stay 28×28
grayscale, as the causal chapter's shallow network expects.

Stand-in ("drawn clothing"): 28×28 grayscale silhouettes of the ten Fashion-MNIST
classes, drawn with PIL at twice the size and downsampled. Every item varies in size,
proportions, position, brightness, fabric texture (stripes, checks, speckle), blur and
sensor noise, so a small CNN must learn shape; the look-alike classes of the real set
(T-shirt/shirt/pullover/coat, sneaker/sandal/ankle boot) stay look-alikes here.
Deterministic from ``(seed, split)``. Both return uint8 (N, 1, 28, 28) and int64 (N,).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from helpers.data.real import read_idx

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SIZE = 28
_CANVAS = 56
_SPLIT_OFFSET = {"train": 0, "test": 1}


def read_fashion_mnist(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Real Fashion-MNIST ``split``: uint8 (N, 1, 28, 28) and int64 labels (N,)."""
    images, labels = read_idx(root, split, "FashionMNIST")
    return np.ascontiguousarray(images[:, None]), labels


# --- the stand-in: one drawing function per class, on a 56×56 canvas --------------------------
# Each takes (draw, rng, centre x, top y, scale) and draws filled polygons with value 255.

def _top(draw, rng, cx, top, s, sleeve: float, length: float, collar: bool, zipper: bool):
    """Upper-body garments: a torso with sleeves of relative length ``sleeve``."""
    half, height = s * rng.uniform(9, 12), s * length
    shoulder = s * rng.uniform(2, 4)
    draw.polygon([(cx - half, top + shoulder), (cx + half, top + shoulder),
                  (cx + half * 0.95, top + height), (cx - half * 0.95, top + height)], fill=255)
    arm = s * rng.uniform(4, 6)
    for side in (-1, 1):
        root = cx + side * half
        tip_x = root + side * s * (3 + 6 * min(sleeve, 0.4))
        tip_y = top + shoulder + s * 32 * sleeve
        draw.polygon([(root, top + shoulder), (tip_x + side * arm * 0.6, tip_y),
                      (tip_x - side * arm * 0.6, tip_y + arm * 0.4),
                      (root, top + shoulder + arm * 1.5)], fill=255)
    neck = s * rng.uniform(3, 5)
    draw.ellipse([cx - neck, top + shoulder - neck * 0.6, cx + neck, top + shoulder + neck * 0.8],
                 fill=0)
    if collar:
        draw.polygon([(cx - neck, top + shoulder), (cx, top + shoulder + neck * 1.6),
                      (cx + neck, top + shoulder)], fill=150)
        for k in range(4):
            y = top + shoulder + neck * 2 + k * height / 6
            draw.ellipse([cx - 1, y - 1, cx + 1, y + 1], fill=60)
    if zipper:
        draw.line([(cx, top + shoulder + neck), (cx, top + height)], fill=40, width=2)


def _tshirt(draw, rng, cx, top, s):
    _top(draw, rng, cx, top, s, sleeve=rng.uniform(0.12, 0.22), length=rng.uniform(34, 40),
         collar=False, zipper=False)


def _pullover(draw, rng, cx, top, s):
    _top(draw, rng, cx, top, s, sleeve=rng.uniform(0.85, 1.0), length=rng.uniform(34, 40),
         collar=False, zipper=False)


def _coat(draw, rng, cx, top, s):
    _top(draw, rng, cx, top, s, sleeve=rng.uniform(0.9, 1.05), length=rng.uniform(40, 46),
         collar=rng.random() < 0.5, zipper=True)


def _shirt(draw, rng, cx, top, s):
    _top(draw, rng, cx, top, s, sleeve=rng.uniform(0.3, 1.0), length=rng.uniform(34, 42),
         collar=True, zipper=False)


def _trouser(draw, rng, cx, top, s):
    half, length = s * rng.uniform(8, 11), s * rng.uniform(40, 46)
    gap = s * rng.uniform(0.8, 2.5)
    draw.rectangle([cx - half, top, cx + half, top + s * 5], fill=255)
    for side in (-1, 1):
        outer = cx + side * half
        draw.polygon([(outer, top), (cx + side * gap, top + s * 8),
                      (cx + side * gap * 1.2, top + length),
                      (outer + side * s * rng.uniform(-1, 1.5), top + length)], fill=255)


def _dress(draw, rng, cx, top, s):
    waist, hem, length = s * rng.uniform(4, 6), s * rng.uniform(11, 15), s * rng.uniform(40, 46)
    bodice = s * rng.uniform(12, 16)
    draw.polygon([(cx - waist * 1.3, top), (cx + waist * 1.3, top), (cx + waist, top + bodice),
                  (cx + hem, top + length), (cx - hem, top + length), (cx - waist, top + bodice)],
                 fill=255)
    if rng.random() < 0.5:   # straps
        draw.rectangle([cx - waist * 1.3, top - s * 4, cx - waist * 0.9, top], fill=255)
        draw.rectangle([cx + waist * 0.9, top - s * 4, cx + waist * 1.3, top], fill=255)


def _shoe(draw, rng, cx, top, s, height: float, straps: bool, shaft: float):
    """Footwear seen from the side: a sole, a toe, a heel and an optional shaft."""
    length = s * rng.uniform(40, 46)
    left, base = cx - length / 2, top + s * 34
    body = s * height
    if straps:
        for k in range(int(rng.integers(3, 5))):
            x = left + length * (0.15 + 0.22 * k)
            draw.line([(x, base - body), (x + s * 5, base)], fill=255, width=max(2, int(s * 2.5)))
        draw.line([(left, base - body * 0.2), (left + length, base - body * 0.3)], fill=255,
                  width=max(2, int(s * 2)))
    else:
        draw.polygon([(left, base), (left, base - body), (left + length * 0.55, base - body),
                      (left + length, base - body * 0.35), (left + length, base)], fill=255)
        draw.line([(left + length * 0.2, base - body * 0.7),
                   (left + length * 0.6, base - body * 0.6)], fill=90, width=2)
    if shaft:
        draw.rectangle([left, base - body - s * shaft, left + length * 0.42, base - body + 1],
                       fill=255)
    draw.rectangle([left, base - s * 3, left + length, base], fill=200)   # the sole


def _sandal(draw, rng, cx, top, s):
    _shoe(draw, rng, cx, top, s, height=rng.uniform(7, 10), straps=True, shaft=0)


def _sneaker(draw, rng, cx, top, s):
    _shoe(draw, rng, cx, top, s, height=rng.uniform(9, 13), straps=False, shaft=0)


def _boot(draw, rng, cx, top, s):
    _shoe(draw, rng, cx, top, s, height=rng.uniform(10, 13), straps=False,
          shaft=rng.uniform(10, 16))


def _bag(draw, rng, cx, top, s):
    half, height = s * rng.uniform(13, 19), s * rng.uniform(20, 28)
    body_top = top + s * rng.uniform(12, 16)
    draw.rectangle([cx - half, body_top, cx + half, body_top + height], fill=255)
    handle = half * rng.uniform(0.4, 0.8)
    draw.arc([cx - handle, body_top - s * 12, cx + handle, body_top + s * 8], 180, 360,
             fill=255, width=max(2, int(s * 3)))
    if rng.random() < 0.5:   # a flap
        draw.line([(cx - half, body_top + height * 0.3), (cx + half, body_top + height * 0.3)],
                  fill=120, width=2)


_DRAWERS = (_tshirt, _trouser, _pullover, _dress, _coat, _sandal, _shirt, _sneaker, _bag, _boot)


def _texture(rng: np.random.Generator) -> np.ndarray:
    """A fabric pattern, float (56, 56) in about [0.55, 1]: plain, stripes, checks or speckle."""
    y, x = np.mgrid[:_CANVAS, :_CANVAS].astype(np.float32)
    kind = rng.integers(4)
    period = rng.uniform(4, 10)
    if kind == 1:
        pattern = np.sin(2 * np.pi * (y if rng.random() < 0.7 else x) / period) > 0
    elif kind == 2:
        pattern = (np.sin(2 * np.pi * y / period) > 0) ^ (np.sin(2 * np.pi * x / period) > 0)
    elif kind == 3:
        pattern = rng.random((_CANVAS, _CANVAS)) < 0.5
    else:
        return np.ones((_CANVAS, _CANVAS), np.float32)
    return 1 - rng.uniform(0.15, 0.45) * pattern.astype(np.float32)


def _draw_item(rng: np.random.Generator, label: int) -> np.ndarray:
    canvas = Image.new("L", (_CANVAS, _CANVAS), 0)
    scale = rng.uniform(0.8, 1.1)
    cx = _CANVAS / 2 + rng.uniform(-3, 3)
    top = rng.uniform(3, 8)
    _DRAWERS[label](ImageDraw.Draw(canvas), rng, cx, top, scale)
    canvas = canvas.rotate(rng.uniform(-8, 8), resample=Image.BILINEAR)
    shape = np.asarray(canvas, np.float32) / 255.0
    image = shape * _texture(rng) * rng.uniform(0.45, 1.0)
    small = Image.fromarray((image * 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2))).resize((SIZE, SIZE), Image.BILINEAR)
    pixels = np.asarray(small, np.float32) / 255.0
    return pixels + rng.normal(0, rng.uniform(0.01, 0.06), pixels.shape)


def drawn_clothing(split: str, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``size`` drawn clothing items (Fashion-MNIST stand-in); labels 0-9, balanced up to one.

    Returns uint8 (N, 1, 28, 28) on a black background, like the real set, and int64 (N,).
    """
    if split not in _SPLIT_OFFSET:
        raise ValueError(f"split={split!r}: expected 'train' or 'test'.")
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size={size!r}: expected a positive number of images.")
    rng = np.random.default_rng([seed, _SPLIT_OFFSET[split], 7_305])
    labels = rng.permutation(np.arange(size) % 10)
    images = np.stack([_draw_item(rng, int(label)) for label in labels])
    images = (np.clip(images, 0, 1) * 255).round().astype(np.uint8)[:, None]
    return np.ascontiguousarray(images), labels.astype(np.int64)
