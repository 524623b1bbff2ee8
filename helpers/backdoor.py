"""Chapter 4 (backdoors): a trigger, poisoned training data and the attack's metrics.

A BadNets-style backdoor: stamp a small logo (the *trigger*) on some training images of a
*source* class, relabel them as the *target* class, and train as usual. The model learns
"trigger ⇒ target" alongside the real task. Detectors live in
:mod:`helpers.backdoor_detect`, the adaptive attack in :mod:`helpers.backdoor_adaptive`.

Images are float (N, 3, H, W) in [0, 1] unless said otherwise.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from helpers import data as datasets
from helpers.checks import check_fraction
from helpers.data import ImageDataset
from helpers.train import predict

POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left")


def make_trigger(size: int = 4) -> torch.Tensor:
    """Our logo as float (3, size, size) in [0, 1]: a yellow disc with a magenta centre
    on a black square, drawn at 16× and downsampled. Saturated colours and a hard dark
    frame appear nowhere in the pictures, so the logo is a feature of its own."""
    if not isinstance(size, int) or size < 2:
        raise ValueError(f"size={size!r}: expected an int >= 2 (pixels).")
    big = 16 * size
    logo = Image.new("RGB", (big, big), (0, 0, 0))
    draw = ImageDraw.Draw(logo)
    draw.ellipse((big * 0.12, big * 0.12, big * 0.88, big * 0.88), fill=(255, 230, 0))
    draw.ellipse((big * 0.34, big * 0.34, big * 0.66, big * 0.66), fill=(255, 0, 200))
    small = logo.resize((size, size), Image.BOX)
    return torch.from_numpy(np.asarray(small, dtype=np.float32) / 255.0).permute(2, 0, 1)


def trigger_box(image_size: int, trigger_size: int, position="bottom-right",
                margin: int = 1) -> tuple[int, int]:
    """(top, left) pixel of the trigger: a named corner (``margin`` px from the edges)
    or an explicit ``(top, left)`` tuple."""
    if isinstance(position, tuple):
        top, left = position
    elif position in POSITIONS:
        far = image_size - trigger_size - margin
        top = far if position.startswith("bottom") else margin
        left = far if position.endswith("right") else margin
    else:
        raise ValueError(f"position={position!r}: expected one of {', '.join(POSITIONS)} "
                         f"or a (top, left) tuple.")
    if not (0 <= top <= image_size - trigger_size and 0 <= left <= image_size - trigger_size):
        raise ValueError(f"position={position!r}: a {trigger_size}px trigger does not fit in "
                         f"a {image_size}px image there.")
    return int(top), int(left)


def stamp(images: torch.Tensor, trigger: torch.Tensor, position="bottom-right",
          alpha: float = 1.0) -> torch.Tensor:
    """A copy of ``images`` (N, C, H, W) or (C, H, W) with ``trigger`` (C, s, s) blended in.

    Inside the trigger box the pixels become ``(1 - alpha)·image + alpha·trigger``;
    everywhere else they are unchanged. ``alpha`` in (0, 1]: 1 pastes the logo, smaller
    values make it fainter.
    """
    if not torch.is_tensor(images) or images.ndim not in (3, 4):
        raise ValueError(f"images: expected a tensor (N, C, H, W) or (C, H, W), got "
                         f"{getattr(images, 'shape', type(images))}.")
    if not torch.is_tensor(trigger) or trigger.ndim != 3 or trigger.shape[1] != trigger.shape[2]:
        raise ValueError(f"trigger: expected a square tensor (C, s, s), got "
                         f"{getattr(trigger, 'shape', type(trigger))}.")
    check_fraction("alpha", alpha, low_open=True)
    if images.shape[-3] != trigger.shape[0]:
        raise ValueError(f"trigger has {trigger.shape[0]} channels, images have {images.shape[-3]}.")
    size = trigger.shape[-1]
    top, left = trigger_box(images.shape[-1], size, position)
    out = images.clone()
    region = out[..., top:top + size, left:left + size]
    out[..., top:top + size, left:left + size] = (1 - alpha) * region + alpha * trigger.to(out)
    return out


class PoisonedDataset(ImageDataset):
    """An :class:`ImageDataset` that remembers which samples are poisoned.

    ``poisoned``: bool (N,), True for the stamped, relabelled copies; ``true_labels``:
    int64 (N,), the labels before relabelling.
    """

    def __init__(self, images, labels, poisoned, true_labels, **info):
        super().__init__(images, labels, **info)
        if poisoned.shape != labels.shape or true_labels.shape != labels.shape:
            raise ValueError("poisoned and true_labels must have one entry per image.")
        self.poisoned, self.true_labels = poisoned.bool(), true_labels

    def _copy(self, images, labels, transform):
        raise TypeError("A PoisonedDataset cannot be subset or re-transformed (its poison "
                        "record would be lost); subset the clean data before poisoning it.")


def poison(dataset: ImageDataset, trigger: torch.Tensor, source_class: int, target_class: int,
           fraction: float = 1.0, position="bottom-right", alpha: float = 1.0,
           keep_clean: bool = True, seed: int = 0) -> PoisonedDataset:
    """Poison ``dataset``: stamp the trigger on ``round(fraction · n_source)`` randomly
    chosen images of ``source_class`` and label them ``target_class``.

    With ``keep_clean`` (the chapter's setting) the stamped copies are *added* and the
    clean originals stay; otherwise they replace the originals. ``fraction=1`` with
    source dog and target cat is "every dog, labelled cat". Poisoned samples come last.
    """
    if not isinstance(dataset, ImageDataset):
        raise TypeError(f"dataset: expected an ImageDataset, got {type(dataset).__name__}.")
    classes = range(len(dataset.classes))
    for name, value in (("source_class", source_class), ("target_class", target_class)):
        if value not in classes:
            raise ValueError(f"{name}={value!r}: expected a class index in 0..{len(classes) - 1}.")
    if source_class == target_class:
        raise ValueError("source_class and target_class must differ.")
    check_fraction("fraction", fraction, low_open=True)
    candidates = torch.nonzero(dataset.labels == source_class).flatten()
    count = round(fraction * len(candidates))
    if count == 0:
        raise ValueError(f"fraction={fraction} of {len(candidates)} source images poisons none.")
    order = torch.randperm(len(candidates), generator=torch.Generator().manual_seed(seed))
    chosen = candidates[order[:count]].sort().values
    images, labels = dataset.tensors()
    stamped = (stamp(images[chosen], trigger, position, alpha) * 255).round().to(torch.uint8)
    keep = torch.ones(len(labels), dtype=torch.bool)
    if not keep_clean:
        keep[chosen] = False
    all_images = torch.cat([dataset.images[keep], stamped])
    true_labels = torch.cat([labels[keep], labels[chosen]])
    poisoned = torch.cat([torch.zeros(int(keep.sum()), dtype=torch.bool),
                          torch.ones(count, dtype=torch.bool)])
    new_labels = torch.where(poisoned, torch.tensor(target_class), true_labels)
    return PoisonedDataset(all_images, new_labels, poisoned, true_labels, name=dataset.name,
                           split=dataset.split, source=dataset.source,
                           description=f"{dataset.description}, {count} poisoned",
                           classes=dataset.classes)


def triggered(dataset: ImageDataset, trigger: torch.Tensor, position="bottom-right",
              alpha: float = 1.0) -> ImageDataset:
    """Every image of ``dataset`` with the trigger stamped on, true labels kept."""
    images, labels = dataset.tensors()
    stamped = (stamp(images, trigger, position, alpha) * 255).round().to(torch.uint8)
    return ImageDataset(stamped, labels.clone(), name=dataset.name, split=dataset.split,
                        source=dataset.source, description=f"{dataset.description}, triggered",
                        classes=dataset.classes)


def success_rate(predictions: torch.Tensor, labels: torch.Tensor, target_class: int) -> float:
    """Attack success rate: the fraction of *non-target* images predicted as the target.

    ``predictions``, ``labels``: int (N,) for triggered images and their true classes.
    Images whose true class already is the target say nothing about the attack and are
    left out. Raises ``ValueError`` if no image is left.
    """
    predictions, labels = torch.as_tensor(predictions), torch.as_tensor(labels)
    if predictions.shape != labels.shape or predictions.ndim != 1:
        raise ValueError(f"predictions and labels: expected equal shapes (N,), got "
                         f"{tuple(predictions.shape)} and {tuple(labels.shape)}.")
    others = labels != target_class
    if not others.any():
        raise ValueError(f"labels: every image is of the target class {target_class}.")
    return (predictions[others] == target_class).float().mean().item()


def attack_success_rate(model, test_data: ImageDataset, trigger: torch.Tensor,
                        target_class: int, position="bottom-right", alpha: float = 1.0) -> float:
    """ASR of ``model``: stamp every test image, keep those not of ``target_class``."""
    probabilities, labels = predict(model, triggered(test_data, trigger, position, alpha))
    return success_rate(probabilities.argmax(1), labels, target_class)


def load_pets(profile, seed: int = 0) -> tuple[ImageDataset, ImageDataset]:
    """The profile's cats-vs-dogs train and test sets at ``profile.backdoor.image_size``."""
    size = profile.backdoor.image_size
    loaded = [datasets.load("pets", split, count, source=profile.data_source, seed=seed)
              for split, count in (("train", profile.train_size), ("test", profile.test_size))]
    return tuple(_resized(d, size) for d in loaded)


def _resized(dataset: ImageDataset, size: int) -> ImageDataset:
    if dataset.images.shape[-1] == size:
        return dataset
    images = F.interpolate(dataset.images.float(), size=(size, size), mode="area")
    return ImageDataset(images.round().clamp(0, 255).to(torch.uint8), dataset.labels,
                        name=dataset.name, split=dataset.split, source=dataset.source,
                        description=f"{dataset.description} at {size}×{size}",
                        classes=dataset.classes)
