"""CIFAR-10: the real reader and an embedded, procedurally drawn stand-in.

Real data: torchvision's ``cifar-10-batches-py/`` layout in the data directory
(``data_batch_1`` … ``data_batch_5``, ``test_batch``: pickled dicts with ``data``
(N, 3072) uint8 and ``labels``). The course's split: the 50,000 training images are cut
once, with a fixed seed, into 40,000 for ``"train"`` and 10,000 for ``"validation"``;
``"test"`` is the 10,000-image test batch.

Stand-in ("drawn objects"): 32×32 colour pictures of the ten CIFAR-10 classes, each a
class-specific silhouette (wings, wheels, ears, legs, hull …) drawn with random size,
position, pose and colours on a scene background (sky, road, grass, water, room, or
any of them with some probability, as in photos). Shape is the main cue, colour and
background only help, so a small CNN must learn shape features; that is what the
robustness and OOD chapters need. Deterministic from ``(seed, split)``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")
SPLITS = ("train", "validation", "test")
FOLDER = "cifar-10-batches-py"
VALIDATION_SIZE = 10_000
_CANVAS = 64   # draw at twice the size, then downsample: anti-aliased edges


# --- real CIFAR-10 ----------------------------------------------------------------------------

def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as handle:
            content = pickle.load(handle, encoding="latin1")
        images = np.asarray(content["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(content["labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, OSError) as error:
        raise ValueError(f"{path} is not a readable CIFAR-10 batch ({error}); delete the "
                         f"folder and run `python data_scripts/download.py cifar10`.") from error
    if len(images) != len(labels):
        raise ValueError(f"{path}: {len(images)} images but {len(labels)} labels.")
    return images, labels


def read_cifar10(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of one split: uint8 (N, 3, 32, 32) and int64 (N,).

    ``"train"`` and ``"validation"`` are a fixed 40,000 / 10,000 partition of the five
    training batches (the same for everybody: the permutation is seeded with 0);
    ``"test"`` is ``test_batch``.
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: expected one of {', '.join(SPLITS)}.")
    folder = Path(root) / FOLDER
    if split == "test":
        return _read_batch(folder / "test_batch")
    parts = [_read_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    order = np.random.default_rng(0).permutation(len(labels))
    held_out = min(VALIDATION_SIZE, len(labels) // 5)
    chosen = order[:held_out] if split == "validation" else order[held_out:]
    return np.ascontiguousarray(images[chosen]), labels[chosen]


# --- the stand-in -----------------------------------------------------------------------------

_SCENES = {  # (top colour, bottom colour, horizon height as a fraction), before jitter
    "sky": ((0.45, 0.65, 0.90), (0.70, 0.80, 0.95), 1.0),
    "road": ((0.55, 0.70, 0.85), (0.35, 0.35, 0.38), 0.55),
    "grass": ((0.55, 0.70, 0.85), (0.30, 0.50, 0.20), 0.45),
    "water": ((0.60, 0.75, 0.90), (0.15, 0.30, 0.55), 0.55),
    "room": ((0.65, 0.55, 0.45), (0.45, 0.35, 0.25), 0.65),
}
_TYPICAL_SCENE = ("sky", "road", "sky", "room", "grass", "room", "grass", "grass", "water", "road")
_TYPICAL_COLOUR = (  # a base RGB per class, jittered strongly per image
    (0.85, 0.85, 0.88), (0.75, 0.15, 0.15), (0.45, 0.30, 0.20), (0.60, 0.50, 0.40),
    (0.55, 0.38, 0.22), (0.50, 0.40, 0.30), (0.30, 0.60, 0.25), (0.40, 0.25, 0.15),
    (0.80, 0.80, 0.80), (0.25, 0.35, 0.70))
SCENE_PROBABILITY = 0.6   # how often the background is the class's typical scene


def _background(rng: np.random.Generator, scene: str) -> np.ndarray:
    top, bottom, horizon = _SCENES[scene]
    top = np.clip(np.array(top) + rng.normal(0, 0.08, 3), 0, 1)
    bottom = np.clip(np.array(bottom) + rng.normal(0, 0.08, 3), 0, 1)
    rows = np.linspace(0, 1, _CANVAS)[:, None, None]
    cut = np.clip(horizon + rng.uniform(-0.1, 0.1), 0.2, 1.0)
    blend = np.clip((rows - cut) * 12 + 0.5, 0, 1)
    sky = top + (rows * 0.2)            # a little vertical gradient
    image = sky * (1 - blend) + bottom * blend
    return np.broadcast_to(image, (_CANVAS, _CANVAS, 3)).copy()


def _ellipse(draw, cx, cy, rx, ry, fill):
    draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=fill)


def _legs(draw, x0, x1, y, length, width, fill, count=4):
    for x in np.linspace(x0, x1, count):
        draw.line([(x, y), (x, y + length)], fill=fill, width=width)


def _draw_object(draw: ImageDraw.ImageDraw, label: int, s: float, fill, detail) -> None:
    """Draw class ``label`` centred at (32, 32) on a 64×64 mask-sized canvas, scale ``s``."""
    c = _CANVAS / 2
    if label == 0:    # airplane: fuselage, swept wings, tail fin
        draw.polygon([(c - 22 * s, c), (c + 22 * s, c - 2 * s), (c + 22 * s, c + 2 * s)], fill=fill)
        draw.polygon([(c - 2 * s, c), (c + 8 * s, c - 18 * s), (c + 12 * s, c - 18 * s), (c + 6 * s, c)], fill=fill)
        draw.polygon([(c - 2 * s, c), (c + 8 * s, c + 18 * s), (c + 12 * s, c + 18 * s), (c + 6 * s, c)], fill=fill)
        draw.polygon([(c + 16 * s, c), (c + 20 * s, c - 9 * s), (c + 23 * s, c - 9 * s), (c + 22 * s, c)], fill=fill)
    elif label == 1:  # automobile: low body, cabin with window, two wheels
        draw.rounded_rectangle([c - 20 * s, c - 2 * s, c + 20 * s, c + 8 * s], radius=3 * s, fill=fill)
        draw.polygon([(c - 10 * s, c - 2 * s), (c - 5 * s, c - 10 * s), (c + 7 * s, c - 10 * s), (c + 12 * s, c - 2 * s)], fill=fill)
        draw.polygon([(c - 7 * s, c - 3 * s), (c - 4 * s, c - 8 * s), (c + 6 * s, c - 8 * s), (c + 9 * s, c - 3 * s)], fill=detail)
        for x in (c - 11 * s, c + 11 * s):
            _ellipse(draw, x, c + 8 * s, 5 * s, 5 * s, (20, 20, 20))
    elif label == 2:  # bird: small round body, head, beak, raised wing
        _ellipse(draw, c, c, 10 * s, 6 * s, fill)
        _ellipse(draw, c + 10 * s, c - 5 * s, 4.5 * s, 4.5 * s, fill)
        draw.polygon([(c + 14 * s, c - 6 * s), (c + 20 * s, c - 4 * s), (c + 14 * s, c - 3 * s)], fill=(230, 170, 30))
        draw.polygon([(c - 4 * s, c - 2 * s), (c - 12 * s, c - 16 * s), (c + 4 * s, c - 3 * s)], fill=detail)
        draw.polygon([(c - 9 * s, c), (c - 18 * s, c - 3 * s), (c - 17 * s, c + 4 * s)], fill=fill)
    elif label == 3:  # cat: big round head with pointed ears and eyes
        _ellipse(draw, c, c + 2 * s, 14 * s, 12 * s, fill)
        draw.polygon([(c - 13 * s, c - 2 * s), (c - 11 * s, c - 18 * s), (c - 2 * s, c - 8 * s)], fill=fill)
        draw.polygon([(c + 13 * s, c - 2 * s), (c + 11 * s, c - 18 * s), (c + 2 * s, c - 8 * s)], fill=fill)
        for x in (c - 5 * s, c + 5 * s):
            _ellipse(draw, x, c, 2.5 * s, 3 * s, (40, 160, 60))
    elif label == 4:  # deer: body on thin legs, long neck, branching antlers
        _ellipse(draw, c - 2 * s, c, 14 * s, 6 * s, fill)
        _legs(draw, c - 12 * s, c + 8 * s, c + 3 * s, 14 * s, max(1, round(2 * s)), fill)
        draw.line([(c + 9 * s, c - 2 * s), (c + 15 * s, c - 14 * s)], fill=fill, width=max(2, round(4 * s)))
        _ellipse(draw, c + 16 * s, c - 15 * s, 4 * s, 3 * s, fill)
        for side in (-1, 1):
            draw.line([(c + 15 * s, c - 17 * s), (c + 15 * s + side * 6 * s, c - 27 * s)], fill=detail, width=2)
            draw.line([(c + 15 * s + side * 3 * s, c - 22 * s), (c + 15 * s + side * 8 * s, c - 21 * s)], fill=detail, width=2)
    elif label == 5:  # dog: body, legs, head with floppy ears hanging down, tail
        _ellipse(draw, c - 2 * s, c + 2 * s, 13 * s, 7 * s, fill)
        _legs(draw, c - 11 * s, c + 7 * s, c + 5 * s, 10 * s, max(2, round(3 * s)), fill)
        _ellipse(draw, c + 12 * s, c - 6 * s, 7 * s, 6 * s, fill)
        _ellipse(draw, c + 19 * s, c - 4 * s, 3 * s, 2.5 * s, (30, 20, 20))
        draw.polygon([(c + 8 * s, c - 10 * s), (c + 5 * s, c + 2 * s), (c + 10 * s, c - 4 * s)], fill=detail)
        draw.line([(c - 14 * s, c), (c - 20 * s, c - 9 * s)], fill=fill, width=max(2, round(3 * s)))
    elif label == 6:  # frog: wide flat body, bulging eyes on top, bent legs
        _ellipse(draw, c, c + 4 * s, 16 * s, 8 * s, fill)
        for side in (-1, 1):
            _ellipse(draw, c + side * 8 * s, c - 4 * s, 4 * s, 4 * s, fill)
            _ellipse(draw, c + side * 8 * s, c - 4 * s, 2 * s, 2 * s, (15, 15, 15))
            draw.polygon([(c + side * 12 * s, c + 6 * s), (c + side * 22 * s, c + 4 * s), (c + side * 20 * s, c + 12 * s)], fill=detail)
    elif label == 7:  # horse: long body, long legs, arched neck, mane, tail
        _ellipse(draw, c - 2 * s, c - 2 * s, 15 * s, 6 * s, fill)
        _legs(draw, c - 14 * s, c + 10 * s, c + 1 * s, 16 * s, max(2, round(3 * s)), fill)
        draw.polygon([(c + 8 * s, c - 6 * s), (c + 16 * s, c - 20 * s), (c + 22 * s, c - 16 * s), (c + 14 * s, c)], fill=fill)
        draw.line([(c + 9 * s, c - 7 * s), (c + 16 * s, c - 21 * s)], fill=detail, width=max(2, round(3 * s)))
        draw.line([(c - 17 * s, c - 4 * s), (c - 22 * s, c + 10 * s)], fill=detail, width=max(2, round(3 * s)))
    elif label == 8:  # ship: wide hull (trapezoid), deck house, mast
        draw.polygon([(c - 24 * s, c + 2 * s), (c + 24 * s, c + 2 * s), (c + 17 * s, c + 11 * s), (c - 17 * s, c + 11 * s)], fill=fill)
        draw.rectangle([c - 8 * s, c - 7 * s, c + 8 * s, c + 2 * s], fill=detail)
        draw.line([(c + 2 * s, c - 7 * s), (c + 2 * s, c - 20 * s)], fill=(40, 40, 40), width=2)
    else:             # truck: tall cargo box, separate cab, three wheels
        draw.rectangle([c - 22 * s, c - 14 * s, c + 6 * s, c + 6 * s], fill=fill)
        draw.rectangle([c + 7 * s, c - 6 * s, c + 20 * s, c + 6 * s], fill=detail)
        draw.rectangle([c + 13 * s, c - 4 * s, c + 18 * s, c], fill=(190, 220, 240))
        for x in (c - 15 * s, c - 4 * s, c + 14 * s):
            _ellipse(draw, x, c + 7 * s, 4.5 * s, 4.5 * s, (20, 20, 20))


def _colour(rng: np.random.Generator, base) -> tuple[int, int, int]:
    rgb = np.clip(np.array(base) + rng.normal(0, 0.15, 3), 0, 1)
    return tuple(int(v * 255) for v in rgb)


def _render(rng: np.random.Generator, label: int) -> tuple[np.ndarray, np.ndarray]:
    """One (32, 32, 3) float image in [0, 1] of class ``label`` and its object mask.

    The mask, bool (32, 32), marks the pixels the object covers (its drawn layer's
    opacity above one half, after the same flip, rotation and shift as the object).
    """
    scene = (_TYPICAL_SCENE[label] if rng.random() < SCENE_PROBABILITY
             else tuple(_SCENES)[rng.integers(len(_SCENES))])
    canvas = Image.fromarray((_background(rng, scene) * 255).astype(np.uint8))
    layer = Image.new("RGBA", (_CANVAS, _CANVAS), (0, 0, 0, 0))
    fill = _colour(rng, _TYPICAL_COLOUR[label] if rng.random() < 0.7 else rng.uniform(0, 1, 3))
    detail = _colour(rng, rng.uniform(0, 1, 3))
    _draw_object(ImageDraw.Draw(layer), label, float(rng.uniform(0.8, 1.2)), fill + (255,),
                 detail + (255,))
    if rng.random() < 0.5:                       # objects face either way
        layer = layer.transpose(Image.FLIP_LEFT_RIGHT)
    layer = layer.rotate(float(rng.uniform(-12, 12)), resample=Image.BILINEAR,
                         translate=tuple(int(v) for v in rng.integers(-6, 7, size=2)))
    canvas.paste(layer, (0, 0), layer)
    canvas = canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    image = np.asarray(canvas.resize((32, 32), Image.BILINEAR), dtype=np.float32) / 255
    mask = np.asarray(layer.getchannel("A").resize((32, 32), Image.BILINEAR)) > 127
    return image + rng.normal(0, rng.uniform(0.01, 0.05), size=image.shape), mask


def drawn_objects(split: str, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``size`` stand-in CIFAR-10 images (classes as :data:`CLASSES`), balanced up to one.

    Returns uint8 (size, 3, 32, 32) and int64 (size,). Splits draw from different random
    streams, so no image repeats across train, validation and test.
    """
    images, labels, _ = drawn_objects_with_masks(split, size, seed)
    return images, labels


def drawn_objects_with_masks(split: str, size: int,
                             seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`drawn_objects` (the very same images and labels) plus the object masks.

    Returns uint8 (size, 3, 32, 32), int64 (size,) and bool (size, 32, 32): where each
    picture's object is, the region that should decide its class (the sparsity
    chapter's trustworthiness score needs it).
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: expected one of {', '.join(SPLITS)}.")
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size={size!r}: expected a positive number of images.")
    rng = np.random.default_rng([seed, SPLITS.index(split), 1010])
    labels = rng.permutation(np.arange(size) % len(CLASSES))
    rendered = [_render(rng, int(label)) for label in labels]
    images = np.stack([image for image, _ in rendered])
    images = (np.clip(images, 0, 1) * 255).round().astype(np.uint8).transpose(0, 3, 1, 2)
    masks = np.stack([mask for _, mask in rendered])
    return np.ascontiguousarray(images), labels.astype(np.int64), masks
