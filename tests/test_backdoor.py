"""helpers.backdoor: the trigger, stamping, poisoning, the attack success rate, the data."""

import pytest
import torch
from torch import nn

from helpers import backdoor
from helpers.data import ImageDataset
from helpers.profiles import get_profile


def _dataset(labels, size=16, seed=0):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.tensor(labels, dtype=torch.int64)
    images = torch.randint(0, 256, (len(labels), 3, size, size), generator=generator,
                           dtype=torch.uint8)
    return ImageDataset(images, labels, name="pets", split="train", source="standin",
                        description="random", classes=("cat", "dog"))


def test_trigger_is_a_deterministic_drawn_logo():
    trigger = backdoor.make_trigger(5)
    assert trigger.shape == (3, 5, 5) and trigger.dtype == torch.float32, (
        f"expected float32 (3, 5, 5), got {trigger.dtype} {tuple(trigger.shape)}")
    assert 0 <= trigger.min() and trigger.max() <= 1 and trigger.std() > 0.2, (
        f"expected a contrasted logo in [0, 1], got min {trigger.min():.2f}, max "
        f"{trigger.max():.2f}, std {trigger.std():.2f}")
    assert torch.equal(trigger, backdoor.make_trigger(5)), (
        "expected the same logo on every call")
    with pytest.raises(ValueError, match="size"):
        backdoor.make_trigger(1)


@pytest.mark.parametrize("position, box", [("bottom-right", (11, 11)), ("top-left", (1, 1)),
                                           ("top-right", (1, 11)), ((5, 2), (5, 2))])
def test_stamping_changes_only_the_trigger_region(position, box):
    images = torch.rand(3, 3, 16, 16)
    trigger = backdoor.make_trigger(4)
    out = backdoor.stamp(images, trigger, position)
    top, left = box
    inside = torch.zeros(16, 16, dtype=torch.bool)
    inside[top:top + 4, left:left + 4] = True
    assert torch.equal(out[..., ~inside], images[..., ~inside]), (
        "expected pixels outside the box unchanged")
    assert torch.allclose(out[:, :, top:top + 4, left:left + 4], trigger.expand(3, -1, -1, -1)), (
        "expected the trigger pasted into the box")
    assert not torch.equal(out, images) and out is not images, (
        "expected a changed copy, not the input")


def test_stamping_blends_with_alpha_and_leaves_the_input_alone():
    images = torch.full((2, 3, 8, 8), 0.2)
    original = images.clone()
    trigger = torch.ones(3, 2, 2)
    out = backdoor.stamp(images, trigger, "top-left", alpha=0.25)
    assert torch.equal(images, original), (
        "expected the input untouched")
    assert torch.allclose(out[..., 1:3, 1:3], torch.full((2, 3, 2, 2), 0.75 * 0.2 + 0.25)), (
        f"expected 0.75·0.2 + 0.25 in the box, got {out[0, 0, 1:3, 1:3]}")
    assert backdoor.stamp(images[0], trigger, "top-left").shape == (3, 8, 8), (
        "expected a single image (C, H, W) stamped as such")
    for alpha in (0.0, 1.5):
        with pytest.raises(ValueError, match="alpha"):
            backdoor.stamp(images, trigger, alpha=alpha)
    with pytest.raises(ValueError, match="position"):
        backdoor.stamp(images, trigger, "middle")
    with pytest.raises(ValueError, match="position"):
        backdoor.stamp(images, trigger, (7, 0))


def test_poisoned_set_has_the_requested_count_labels_and_record():
    clean = _dataset([0] * 10 + [1] * 20)
    trigger = backdoor.make_trigger(3)
    poisoned = backdoor.poison(clean, trigger, source_class=1, target_class=0, fraction=0.25)
    assert len(poisoned) == 30 + 5 and int(poisoned.poisoned.sum()) == 5, (
        f"expected 35 samples with 5 poisoned, got {len(poisoned)} with "
        f"{int(poisoned.poisoned.sum())}")
    # clean copies kept
    assert torch.equal(poisoned.images[:30], clean.images), (
        "expected the clean originals kept first")
    assert torch.equal(poisoned.labels[:30], clean.labels), (
        "expected the clean labels kept")
    assert (poisoned.labels[poisoned.poisoned] == 0).all(), (
        "expected every poisoned sample labelled as the target 0")
    assert (poisoned.true_labels[poisoned.poisoned] == 1).all(), (
        "expected the true label 1 recorded for every poisoned sample")
    stamped = poisoned.images[poisoned.poisoned].float() / 255
    assert torch.allclose(stamped[..., 12:15, 12:15],
                          trigger.expand(5, -1, -1, -1), atol=1 / 255), (
        "expected the trigger in the poisoned images' box")
    # every dog, labelled cat; and replacing instead of adding
    every = backdoor.poison(clean, trigger, 1, 0, fraction=1.0, keep_clean=False)
    assert len(every) == 30 and int(every.poisoned.sum()) == 20, (
        f"expected 30 samples, 20 poisoned, got {len(every)}, {int(every.poisoned.sum())}")
    assert (every.labels == 0).all() and every.true_labels.tolist() == clean.labels.tolist(), (
        "expected every dog relabelled cat and the true labels recorded")
    assert torch.equal(backdoor.poison(clean, trigger, 1, 0, 0.25, seed=3).images,
                       backdoor.poison(clean, trigger, 1, 0, 0.25, seed=3).images), (
        "expected the same poison for the same seed")


def test_poison_checks_its_arguments():
    clean, trigger = _dataset([0, 1, 1]), backdoor.make_trigger(3)
    with pytest.raises(ValueError, match="target_class"):
        backdoor.poison(clean, trigger, 1, 2)
    with pytest.raises(ValueError, match="differ"):
        backdoor.poison(clean, trigger, 1, 1)
    with pytest.raises(ValueError, match="fraction"):
        backdoor.poison(clean, trigger, 1, 0, fraction=0.0)
    with pytest.raises(TypeError, match="dataset"):
        backdoor.poison(torch.zeros(3, 3, 8, 8), trigger, 1, 0)


def test_success_rate_leaves_out_target_class_images():
    predictions = torch.tensor([0, 0, 1, 0, 1, 0])
    labels = torch.tensor([1, 1, 1, 0, 0, 2])
    # non-target images: indices 0, 1, 2, 5 → predicted target at 0, 1, 5
    assert backdoor.success_rate(predictions, labels, target_class=0) == pytest.approx(3 / 4), (
        "expected 3 of the 4 non-target images predicted as the target")
    with pytest.raises(ValueError, match="target class"):
        backdoor.success_rate(torch.tensor([0, 1]), torch.tensor([0, 0]), 0)


class _Constant(nn.Module):
    """Predicts ``label`` for every image."""

    def __init__(self, label):
        super().__init__()
        self.label = label

    def forward(self, x):
        return nn.functional.one_hot(torch.full((len(x),), self.label), 2).float()


def test_attack_success_rate_of_constant_models():
    test = _dataset([0, 1, 1, 0, 1])
    trigger = backdoor.make_trigger(3)
    assert backdoor.attack_success_rate(_Constant(0), test, trigger, target_class=0) == 1.0, (
        "expected ASR 1 for a model that always predicts the target")
    assert backdoor.attack_success_rate(_Constant(1), test, trigger, target_class=0) == 0.0, (
        "expected ASR 0 for a model that never predicts the target")


def test_load_pets_uses_the_profile_resolution():
    profile = get_profile("tiny")
    train, test = backdoor.load_pets(profile)
    size = profile.backdoor.image_size
    assert train.images.shape[1:] == (3, size, size) and len(test) == profile.test_size, (
        f"expected {size}px images and {profile.test_size} test samples, got "
        f"{tuple(train.images.shape[1:])}, {len(test)}")
    assert train.source == "standin" and set(train.labels.tolist()) == {0, 1}, (
        f"expected the stand-in with cats and dogs, got {train.source}")
