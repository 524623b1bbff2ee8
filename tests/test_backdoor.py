"""Backdoor chapter: trigger stamping, poisoning, ASR, latent detectors, the adaptive attack."""

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from helpers import backdoor, backdoor_adaptive, backdoor_detect, backdoor_plots, models
from helpers.data import ImageDataset
from helpers.profiles import get_profile

matplotlib.use("Agg")


def _dataset(labels, size=16, seed=0):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.tensor(labels, dtype=torch.int64)
    images = torch.randint(0, 256, (len(labels), 3, size, size), generator=generator,
                           dtype=torch.uint8)
    return ImageDataset(images, labels, name="pets", split="train", source="standin",
                        description="random", classes=("cat", "dog"))


def test_trigger_is_a_deterministic_drawn_logo():
    trigger = backdoor.make_trigger(5)
    assert trigger.shape == (3, 5, 5) and trigger.dtype == torch.float32
    assert 0 <= trigger.min() and trigger.max() <= 1 and trigger.std() > 0.2
    assert torch.equal(trigger, backdoor.make_trigger(5))
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
    assert torch.equal(out[..., ~inside], images[..., ~inside])
    assert torch.allclose(out[:, :, top:top + 4, left:left + 4], trigger.expand(3, -1, -1, -1))
    assert not torch.equal(out, images) and out is not images


def test_stamping_blends_with_alpha_and_leaves_the_input_alone():
    images = torch.full((2, 3, 8, 8), 0.2)
    original = images.clone()
    trigger = torch.ones(3, 2, 2)
    out = backdoor.stamp(images, trigger, "top-left", alpha=0.25)
    assert torch.equal(images, original)
    assert torch.allclose(out[..., 1:3, 1:3], torch.full((2, 3, 2, 2), 0.75 * 0.2 + 0.25))
    assert backdoor.stamp(images[0], trigger, "top-left").shape == (3, 8, 8)
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
    assert len(poisoned) == 30 + 5 and int(poisoned.poisoned.sum()) == 5
    assert torch.equal(poisoned.images[:30], clean.images)           # clean copies kept
    assert torch.equal(poisoned.labels[:30], clean.labels)
    assert (poisoned.labels[poisoned.poisoned] == 0).all()
    assert (poisoned.true_labels[poisoned.poisoned] == 1).all()
    stamped = poisoned.images[poisoned.poisoned].float() / 255
    assert torch.allclose(stamped[..., 12:15, 12:15],
                          trigger.expand(5, -1, -1, -1), atol=1 / 255)
    # every dog, labelled cat; and replacing instead of adding
    every = backdoor.poison(clean, trigger, 1, 0, fraction=1.0, keep_clean=False)
    assert len(every) == 30 and int(every.poisoned.sum()) == 20
    assert (every.labels == 0).all() and every.true_labels.tolist() == clean.labels.tolist()
    assert torch.equal(backdoor.poison(clean, trigger, 1, 0, 0.25, seed=3).images,
                       backdoor.poison(clean, trigger, 1, 0, 0.25, seed=3).images)


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
    assert backdoor.success_rate(predictions, labels, target_class=0) == pytest.approx(3 / 4)
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
    assert backdoor.attack_success_rate(_Constant(0), test, trigger, target_class=0) == 1.0
    assert backdoor.attack_success_rate(_Constant(1), test, trigger, target_class=0) == 0.0


def _planted(seed=0):
    """Two classes of 200 isotropic latents; 20 outliers planted in class 0 along one axis."""
    rng = np.random.default_rng(seed)
    latents = rng.normal(size=(420, 16))
    labels = np.array([0] * 200 + [1] * 200 + [0] * 20)
    latents[400:, 3] += 8.0
    poisoned = np.arange(420) >= 400
    return latents, labels, poisoned


def test_spectral_signatures_flag_planted_outliers():
    latents, labels, poisoned = _planted()
    scores = backdoor_detect.spectral_scores(latents[labels == 0])
    assert set(np.argsort(-scores)[:20]) == set(range(200, 220))
    flags, _ = backdoor_detect.spectral_signatures(latents, labels, epsilon=20 / 220)
    assert flags[poisoned].all()
    # round(1.5·ε·n) per class: 30 of 220 in class 0, 27 of 200 in class 1
    assert flags[labels == 0].sum() == 30 and flags[labels == 1].sum() == 27
    rates = backdoor_detect.detection_rates(flags, poisoned)
    assert rates["tpr"] == 1.0 and rates["fpr"] == pytest.approx((10 + 27) / 400)
    with pytest.raises(ValueError, match="epsilon"):
        backdoor_detect.spectral_signatures(latents, labels, epsilon=0)


def test_activation_clustering_flags_exactly_the_planted_cluster():
    latents, labels, poisoned = _planted()
    flags, distances = backdoor_detect.activation_clustering(latents, labels, components=5)
    assert np.array_equal(flags, poisoned)
    assert distances[poisoned].min() > np.median(distances[~poisoned])
    with pytest.raises(ValueError, match="labels"):
        backdoor_detect.activation_clustering(latents, labels[:-1])


def test_detection_rates_known_answer():
    flags = np.array([True, True, False, False, True, False])
    poisoned = np.array([True, False, True, False, False, False])
    rates = backdoor_detect.detection_rates(flags, poisoned)
    assert rates == {"tpr": 0.5, "fpr": 0.5, "precision": pytest.approx(1 / 3), "flagged": 3}
    with pytest.raises(ValueError, match="poisoned"):
        backdoor_detect.detection_rates(flags, np.zeros(6, dtype=bool))


@pytest.mark.parametrize("training", [True, False])
def test_penultimate_features_of_a_dataset_restore_the_model_and_leave_no_hooks(training):
    model = models.build_model("small_cnn", 2, width=4).train(training)
    model.fc.weight.requires_grad = False
    data = _dataset([0, 1, 0, 1, 1], size=16)
    z = models.penultimate_features(model, data, batch_size=2)
    assert z.shape == (5, 64) and not z.requires_grad
    assert model.training == training and not model.fc.weight.requires_grad
    assert all(p.requires_grad for p in model.features.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    model.eval()
    assert torch.allclose(z, model.embed(data.tensors()[0]).detach(), atol=1e-5)


def test_adaptive_training_runs_and_records_the_discriminator():
    clean = _dataset([0] * 24 + [1] * 24, size=16)
    data = backdoor.poison(clean, backdoor.make_trigger(3), 1, 0, fraction=0.5)
    model = models.build_model("small_cnn", 2, width=4)
    history, disc = backdoor_adaptive.train_adaptive(model, data, 0, epochs=2, lam=1.0,
                                                     batch_size=20, progress=False)
    assert history["epoch"] == [1, 2] and len(history["disc_acc"]) == 2
    assert all(0.0 <= a <= 1.0 for a in history["disc_acc"] + history["train_acc"])
    assert not model.training and disc(torch.zeros(3, 64)).shape == (3,)
    with pytest.raises(TypeError, match="PoisonedDataset"):
        backdoor_adaptive.train_adaptive(model, clean, 0, epochs=1)
    with pytest.raises(ValueError, match="lam"):
        backdoor_adaptive.train_adaptive(model, data, 0, epochs=1, lam=-1)
    with pytest.raises(ValueError, match="target class 1"):
        backdoor_adaptive.train_adaptive(model, data, 1, epochs=1)


def test_load_pets_uses_the_profile_resolution():
    profile = get_profile("tiny")
    train, test = backdoor.load_pets(profile)
    size = profile.backdoor.image_size
    assert train.images.shape[1:] == (3, size, size) and len(test) == profile.test_size
    assert train.source == "standin" and set(train.labels.tolist()) == {0, 1}


def test_figures_draw():
    clean = _dataset([0] * 6 + [1] * 6, size=16)
    trigger = backdoor.make_trigger(3)
    data = backdoor.poison(clean, trigger, 1, 0, fraction=0.5)
    fig = backdoor_plots.poisoned_grid(data, count=6, ncols=3)  # 3 of 6 poisoned
    red_frames = [ax for ax in fig.axes if ax.spines["top"].get_linewidth() == 3]
    assert len(red_frames) == 3
    model = models.build_model("small_cnn", 2, width=4)
    backdoor_plots.triggered_predictions(model, clean.tensors()[0][:3], trigger, clean.classes)
    latents, labels, poisoned = _planted()
    backdoor_plots.score_histograms({"plain": (latents[:, 3], poisoned)})
    backdoor_plots.latent_projection({"plain": (latents, labels, poisoned)}, ("cat", "dog"))
    matplotlib.pyplot.close("all")
