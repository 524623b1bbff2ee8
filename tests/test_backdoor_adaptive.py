"""helpers.backdoor_adaptive: the adaptive attack as a train.fit step and batch source."""

import math

import pytest
import torch

from helpers import backdoor, backdoor_adaptive, data, models, train


@pytest.fixture(scope="module")
def poisoned():
    """48 stand-in pets at 16×16 (cats = 0, dogs = 1), half of the dogs stamped as cats."""
    pets = data.load("pets", "train", size=48, source="standin", verbose=False)
    small = torch.nn.functional.interpolate(pets.images.float(), size=(16, 16), mode="area")
    clean = data.ImageDataset(small.round().to(torch.uint8), pets.labels, name="pets",
                              split="train", source="standin", description="16px",
                              classes=pets.classes)
    return backdoor.poison(clean, backdoor.make_trigger(3), 1, 0, fraction=0.5)


def test_discriminator_maps_latents_to_one_logit_each():
    disc = backdoor_adaptive.discriminator(8, hidden=4)
    assert disc(torch.zeros(5, 8)).shape == (5,), "expected one logit per latent"
    with pytest.raises(ValueError, match="feature_dim"):
        backdoor_adaptive.discriminator(0)


def test_balanced_bce_weighs_both_groups_equally():
    groups = torch.tensor([True, False, False, False])
    # at logit 0 every sample costs log 2, whatever the target
    even = backdoor_adaptive.balanced_bce(torch.zeros(4), groups.float(), groups)
    assert even.item() == pytest.approx(math.log(2)), f"expected log 2, got {even.item()}"
    # one wrong poisoned sample costs as much as three wrong clean ones
    wrong_poison = backdoor_adaptive.balanced_bce(torch.tensor([-5.0, -5, -5, -5]),
                                                  groups.float(), groups)
    wrong_clean = backdoor_adaptive.balanced_bce(torch.tensor([5.0, 5, 5, 5]),
                                                 groups.float(), groups)
    assert wrong_poison.item() == pytest.approx(wrong_clean.item()), (
        f"expected equal costs, got {wrong_poison.item()} and {wrong_clean.item()}")


def test_contrast_batches_top_up_every_batch_reproducibly(poisoned):
    adaptive = backdoor_adaptive.adaptive_training(models.build_model("small_cnn", 2, 4),
                                                   poisoned, 0, batch_size=20)
    batches = adaptive.batches(torch.Generator().manual_seed(1))
    listed = list(batches)
    expected = math.ceil(len(poisoned) / 20)
    assert len(batches) == len(listed) == expected, (
        f"expected {expected} batches, got len {len(batches)} and {len(listed)}")
    seen = 0
    for images, labels, flags in listed:
        chunk = len(images) - 20
        contrast_labels, contrast_flags = labels[chunk:], flags[chunk:]
        assert (contrast_labels == 0).all() and contrast_flags[:10].all(), (
            f"expected 10 poisoned target samples first in the top-up, got {contrast_flags}")
        assert not contrast_flags[10:].any(), "expected 10 clean target samples last"
        assert images.dtype == torch.float32 and images.max() <= 1, "expected [0, 1] floats"
        seen += chunk
    assert seen == len(poisoned), f"expected one pass over {len(poisoned)} samples, got {seen}"
    again = list(adaptive.batches(torch.Generator().manual_seed(1)))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(listed, again)), (
        "expected the same generator seed to give the same batches")


def test_fit_runs_the_game_and_records_the_discriminator(poisoned):
    model = models.build_model("small_cnn", 2, width=4)
    adaptive = backdoor_adaptive.adaptive_training(model, poisoned, 0, lam=1.0,
                                                   batch_size=20, seed=0)
    before = [p.clone() for p in adaptive.discriminator.parameters()]
    history = train.fit(model, poisoned, epochs=2, batch_size=20, optimizer="adam",
                        lr=2e-3, step=adaptive.step, batches=adaptive.batches,
                        progress=False)
    assert history["epoch"] == [1, 2] and len(history["disc_acc"]) == 2, (
        f"expected two epochs of disc_acc, got {history['epoch']}, {history['disc_acc']}")
    values = history["disc_acc"] + history["train_acc"]
    assert all(0.0 <= a <= 1.0 for a in values), f"expected fractions, got {values}"
    changed = any(not torch.equal(a, b)
                  for a, b in zip(before, adaptive.discriminator.parameters()))
    assert changed and not model.training, "expected a trained D and a model in eval mode"
    again = backdoor_adaptive.adaptive_training(model, poisoned, 0, seed=0).discriminator
    fresh = backdoor_adaptive.adaptive_training(model, poisoned, 0, seed=0).discriminator
    assert all(torch.equal(a, b) for a, b in zip(again.parameters(), fresh.parameters())), (
        "expected the discriminator's initialisation to follow the seed")


def test_step_reports_no_disc_acc_without_both_groups(poisoned):
    model = models.build_model("small_cnn", 2, width=4)
    adaptive = backdoor_adaptive.adaptive_training(model, poisoned, 0, batch_size=8)
    clean = ~poisoned.poisoned
    images = poisoned.images[clean][:8].float() / 255
    result = adaptive.step(model, (images, poisoned.labels[clean][:8],
                                   poisoned.poisoned[clean][:8]))
    assert result["disc_acc"] is None and result["loss"].ndim == 0, (
        f"expected no discriminator run and a scalar loss, got {result['disc_acc']}")


def test_adaptive_training_checks_its_arguments(poisoned):
    model = models.build_model("small_cnn", 2, width=4)
    clean = data.load("pets", "train", size=8, source="standin", verbose=False)
    with pytest.raises(TypeError, match="PoisonedDataset"):
        backdoor_adaptive.adaptive_training(model, clean, 0)
    with pytest.raises(ValueError, match="lam"):
        backdoor_adaptive.adaptive_training(model, poisoned, 0, lam=-1)
    with pytest.raises(ValueError, match="target class 1"):
        backdoor_adaptive.adaptive_training(model, poisoned, 1)
