"""helpers.causal and helpers.concepts: known answers on models built so, invariants, checks."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import causal, concepts


class WiredNet(nn.Module):
    """Two input channels pass unchanged through ``layer`` into a linear head.

    Image (N, 2, 1, 1) → layer output = the image → logits = head(flatten). With the
    head's weights chosen by the test, the effect of an intervention is a closed form.
    """

    def __init__(self, weight):
        super().__init__()
        self.layer = nn.Identity()
        self.head = nn.Linear(2, len(weight), bias=False)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor(weight, dtype=torch.float32))

    def forward(self, x):
        return self.head(self.layer(x).flatten(1))


def _inputs():
    return torch.tensor([[0.9, 0.2], [0.3, 0.7], [0.5, 0.5], [0.1, 0.0]]).view(4, 2, 1, 1)


def test_a_unit_the_head_ignores_has_exactly_zero_effect():
    model = WiredNet([[1.0, 0.0], [-1.0, 0.0], [0.5, 0.0]])      # channel 1 is never read
    for kind, value in (("zero", None), ("value", 3.0), ("mean", None)):
        effect = causal.causal_effect(model, _inputs(), "layer", 1, kind, value)
        assert torch.equal(effect, torch.zeros(4)), kind


def test_a_unit_wired_to_a_logit_has_the_analytic_effect():
    # logits = (a, 0): P(class 0) = sigmoid(a); zeroing a gives P = 1/2 exactly.
    model = WiredNet([[1.0, 0.0], [0.0, 0.0]])
    images = _inputs()
    classes = torch.zeros(4, dtype=torch.long)
    a = images[:, 0, 0, 0]
    expected = 0.5 - torch.sigmoid(a)
    effect = causal.causal_effect(model, images, "layer", 0, "zero", classes=classes)
    assert torch.allclose(effect, expected, atol=1e-6)
    set_to_two = causal.causal_effect(model, images, "layer", 0, "value", 2.0, classes=classes)
    assert torch.allclose(set_to_two, torch.sigmoid(torch.tensor(2.0)) - torch.sigmoid(a),
                          atol=1e-6)
    mean = causal.causal_effect(model, images, "layer", 0, "mean", classes=classes)
    assert torch.allclose(mean, torch.sigmoid(a.mean()) - torch.sigmoid(a), atol=1e-6)


def test_expected_effect_weights_sum_to_one_and_average_the_bins():
    model = WiredNet([[2.0, -1.0], [0.0, 1.0]])
    images = torch.rand(50, 2, 1, 1, generator=torch.Generator().manual_seed(0))
    result = causal.expected_causal_effect(model, images, "layer", 0, bins=4)
    assert math.isclose(result["weights"].sum(), 1.0, abs_tol=1e-12)
    assert len(result["weights"]) == len(result["bin_effects"]) == len(result["edges"]) - 1
    # With the empirical P(X | Z) the expectation is the mean per-image effect.
    assert math.isclose(result["expected"], result["effects"].mean(), abs_tol=1e-6)
    lowest = result["effects"][images[:, 0, 0, 0].numpy() < result["edges"][1]]
    assert math.isclose(result["bin_effects"][0], lowest.mean(), abs_tol=1e-6)


def test_expected_effect_of_a_constant_unit_uses_one_bin():
    model = WiredNet([[1.0, 0.0], [0.0, 1.0]])
    images = torch.zeros(6, 2, 1, 1)
    result = causal.expected_causal_effect(model, images, "layer", 0, bins=5)
    assert result["weights"].tolist() == [1.0] and result["expected"] == 0.0


def test_hooks_are_removed_and_state_restored_even_when_the_forward_raises():
    model = causal.shallow_cnn(2).train()
    model.fc.weight.requires_grad_(False)
    with pytest.raises(RuntimeError, match="boom"):
        with causal.intervene(model, "features.relu2", 0):
            assert len(model.features.relu2._forward_hooks) == 1
            raise RuntimeError("boom")
    assert len(model.features.relu2._forward_hooks) == 0
    with pytest.raises(ValueError, match="unit"):              # raised inside the forward
        causal.causal_effect(model, torch.rand(2, 1, 28, 28), "features.relu2", 99)
    assert all(len(m._forward_hooks) == 0 for m in model.modules())
    assert model.training and not model.fc.weight.requires_grad
    assert model.fc.bias.requires_grad


def test_unit_effects_match_single_interventions_on_the_shallow_net():
    torch.manual_seed(0)
    model = causal.shallow_cnn(3)
    images = torch.rand(5, 1, 28, 28)
    table = causal.unit_effects(model, images, "features.relu2")
    assert table.shape == (5, 6)
    for unit in (0, 5):
        single = causal.causal_effect(model, images, "features.relu2", unit)
        assert torch.allclose(table[:, unit], single, atol=1e-7)


def test_cam_is_exact_for_gap_then_linear():
    torch.manual_seed(0)
    model = causal.shallow_cnn(3).eval()
    images = torch.rand(4, 1, 28, 28)
    classes = torch.tensor([0, 3, 5, 9])
    maps = causal.class_activation_map(model, images, classes)
    assert maps.shape == (4, 28, 28)
    # The mean of the unupsampled CAM is the logit minus the bias.
    activations = causal.activations(model, images, "features.relu2")
    weights = model.fc.weight[classes]
    raw = torch.einsum("nk,nkhw->nhw", weights, activations).mean((1, 2))
    with torch.no_grad():
        logits = model(images)[torch.arange(4), classes] - model.fc.bias[classes]
    assert torch.allclose(raw, logits, atol=1e-5)
    cem = causal.causal_effect_map(model, images, classes)
    assert cem.shape == (4, 28, 28) and torch.isfinite(cem).all()


def test_pixel_mask_blacks_out_the_fraction_and_is_seeded():
    images = torch.rand(3, 1, 10, 10) * 0.5 + 0.5
    masked = causal.pixel_mask(images, 0.1, seed=4)
    assert ((masked == 0).flatten(1).sum(1) == 10).all()
    assert torch.equal(masked, causal.pixel_mask(images, 0.1, seed=4))
    assert torch.equal(masked[masked != 0], images[masked != 0])
    with pytest.raises(ValueError, match="fraction"):
        causal.pixel_mask(images, 1.5)


def test_detectors_separate_separable_effects_and_fix_the_direction():
    clean = np.array([0.3, 0.4, 0.5])
    assert causal.detection_roc(clean, np.array([0.1, 0.2]))["auroc"] == 1.0
    assert causal.detection_roc(clean, np.array([0.6, 0.7]))["auroc"] == 0.0
    generator = torch.Generator().manual_seed(0)
    clean_effects = torch.randn(40, 3, generator=generator)
    shifted = torch.randn(40, 3, generator=generator) + torch.tensor([3.0, 0, 0])
    assert causal.effect_detector(clean_effects, shifted)["auroc"] > 0.95
    assert causal.effect_statistic(torch.tensor([[-0.2, 0.4]])).tolist() == pytest.approx([0.3])


@pytest.mark.parametrize("call, argument", [
    (lambda m, x: causal.causal_effect(m, x, "nonexistent", 0), "layer"),
    (lambda m, x: causal.causal_effect(m, x, "features.relu2", 0, "scale"), "kind"),
    (lambda m, x: causal.causal_effect(m, x, "features.relu2", 0, "value"), "value"),
    (lambda m, x: causal.causal_effect(m, x, "features.relu2", -1), "unit"),
    (lambda m, x: causal.causal_effect(m, x[0], "features.relu2", 0), "images"),
    (lambda m, x: causal.expected_causal_effect(m, x, "features.relu2", 0, bins=0), "bins"),
    (lambda m, x: causal.shallow_cnn(0), "width"),
])
def test_bad_arguments_raise_value_errors_naming_them(call, argument):
    model, images = causal.shallow_cnn(2), torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match=argument):
        call(model, images)


def test_concept_autoencoder_trains_keeps_the_model_and_exposes_concept_units():
    torch.manual_seed(0)
    model = causal.shallow_cnn(4).train()
    images = torch.rand(32, 1, 28, 28)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    wrapped, history = concepts.train_concepts(model, "features.pool1", images, concepts=3,
                                               epochs=3, batch_size=16, progress=False)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training and all(p.requires_grad for p in model.parameters())
    assert history["total"][-1] < history["total"][0]
    assert set(history) == {"epoch", "shallow", "deep", "interp", "total"}
    codes = causal.activations(wrapped, images, "autoencoder.encoder")
    assert codes.shape == (32, 3, 14, 14) and codes.min() >= 0
    effect = causal.causal_effect(wrapped, images, "autoencoder.encoder", 0)
    assert effect.shape == (32,)
    assert all(len(m._forward_hooks) == 0 for m in wrapped.modules())


def test_concept_loss_terms_are_zero_for_a_perfect_copy():
    logits = torch.randn(4, 10)
    activations = torch.rand(4, 3, 5, 5)
    terms = concepts.concept_loss(logits, logits, activations, activations,
                                  torch.zeros(4, 2, 5, 5))
    assert all(abs(terms[k].item()) < 1e-6 for k in ("shallow", "deep", "interp", "total"))
    kl = concepts.concept_loss(logits, torch.zeros(4, 10), activations, activations,
                               torch.zeros(1))["deep"]
    expected = F.kl_div(torch.full((4, 10), -math.log(10)), F.log_softmax(logits, 1),
                        log_target=True, reduction="batchmean")
    assert torch.isclose(kl, expected)


def test_mean_intervention_uses_the_mean_over_all_images_not_per_batch():
    model = WiredNet([[1.0, 0.0], [0.0, 0.0]])
    images = torch.rand(600, 2, 1, 1, generator=torch.Generator().manual_seed(1))
    classes = torch.zeros(600, dtype=torch.long)
    a = images[:, 0, 0, 0]
    effect = causal.causal_effect(model, images, "layer", 0, "mean", classes=classes)
    assert torch.allclose(effect, torch.sigmoid(a.mean()) - torch.sigmoid(a), atol=1e-6)
    with pytest.raises(ValueError, match="value"):
        with causal.intervene(model, "layer", 0, "mean"):
            pass
