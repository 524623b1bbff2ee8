"""helpers.causal: known answers on models built so, invariants, argument checks."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from helpers import attribution, causal


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


def _hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_a_unit_the_head_ignores_has_exactly_zero_effect():
    model = WiredNet([[1.0, 0.0], [-1.0, 0.0], [0.5, 0.0]])      # channel 1 is never read
    for kind, value in (("zero", None), ("value", 3.0), ("mean", None)):
        effect = causal.causal_effect(model, _inputs(), "layer", 1, kind, value)
        assert torch.equal(effect, torch.zeros(4)), f"{kind}: expected zeros, got {effect}"


def test_a_unit_wired_to_a_logit_has_the_analytic_effect():
    # logits = (a, 0): P(class 0) = sigmoid(a); zeroing a gives P = 1/2 exactly.
    model = WiredNet([[1.0, 0.0], [0.0, 0.0]])
    images = _inputs()
    classes = torch.zeros(4, dtype=torch.long)
    a = images[:, 0, 0, 0]
    expected = 0.5 - torch.sigmoid(a)
    effect = causal.causal_effect(model, images, "layer", 0, "zero", classes=classes)
    assert torch.allclose(effect, expected, atol=1e-6), f"zero: expected {expected}, got {effect}"
    set_to_two = causal.causal_effect(model, images, "layer", 0, "value", 2.0, classes=classes)
    expected = torch.sigmoid(torch.tensor(2.0)) - torch.sigmoid(a)
    assert torch.allclose(set_to_two, expected, atol=1e-6), (
        f"value 2: expected {expected}, got {set_to_two}")
    mean = causal.causal_effect(model, images, "layer", 0, "mean", classes=classes)
    expected = torch.sigmoid(a.mean()) - torch.sigmoid(a)
    assert torch.allclose(mean, expected, atol=1e-6), f"mean: expected {expected}, got {mean}"


def test_intervene_replaces_the_output_only_inside_the_block():
    model = WiredNet([[1.0, 0.0], [0.0, 1.0]])
    images = _inputs()
    with causal.intervene(model, "layer", 1, "value", 5.0):
        inside = causal.activations(model, images, "layer")
    outside = causal.activations(model, images, "layer")
    assert torch.equal(inside[:, 1], torch.full((4, 1, 1), 5.0)), (
        f"expected channel 1 set to 5 inside the block, got {inside[:, 1].flatten()}")
    assert torch.equal(inside[:, 0], images[:, 0]), "expected channel 0 untouched"
    assert torch.equal(outside, images), f"expected the plain output after, got {outside}"
    assert _hook_count(model) == 0, f"expected no hooks left, got {_hook_count(model)}"


def test_activations_are_the_same_in_any_batch_size():
    torch.manual_seed(0)
    model = causal.shallow_cnn(2)
    images = torch.rand(7, 1, 28, 28)
    whole = causal.activations(model, images, "features.relu2")
    batched = causal.activations(model, images, "features.relu2", batch_size=3)
    assert whole.shape == (7, 4, 14, 14), f"expected (7, 4, 14, 14), got {tuple(whole.shape)}"
    assert torch.allclose(whole, batched, atol=1e-6), (
        f"batches of 3 differ by {(whole - batched).abs().max():.1e}")
    assert _hook_count(model) == 0, f"expected no hooks left, got {_hook_count(model)}"


def test_expected_effect_weights_sum_to_one_and_average_the_bins():
    model = WiredNet([[2.0, -1.0], [0.0, 1.0]])
    images = torch.rand(50, 2, 1, 1, generator=torch.Generator().manual_seed(0))
    result = causal.expected_causal_effect(model, images, "layer", 0, bins=4)
    total = result["weights"].sum()
    assert math.isclose(total, 1.0, abs_tol=1e-12), f"expected weights summing to 1, got {total}"
    sizes = (len(result["weights"]), len(result["bin_effects"]), len(result["edges"]) - 1)
    assert sizes == (4, 4, 4), f"expected 4 weights, bin effects and bins, got {sizes}"
    # With the empirical P(X | Z) the expectation is the mean per-image effect.
    mean = result["effects"].mean()
    assert math.isclose(result["expected"], mean, abs_tol=1e-6), (
        f"expected E[Effect] = mean effect {mean}, got {result['expected']}")
    lowest = result["effects"][images[:, 0, 0, 0].numpy() < result["edges"][1]]
    assert math.isclose(result["bin_effects"][0], lowest.mean(), abs_tol=1e-6), (
        f"expected bin 0's effect {lowest.mean()}, got {result['bin_effects'][0]}")


def test_bin_and_weigh_known_answer():
    observed = np.array([0.0, 0.0, 1.0, 2.0, 3.0, 4.0])
    effects = np.array([0.0, 0.0, -0.1, -0.2, -0.3, -0.6])
    result = causal.bin_and_weigh(observed, effects, 2)
    assert np.allclose(result["edges"], [0, 2, 4]), f"expected edges 0, 2, 4, got {result['edges']}"
    assert np.allclose(result["weights"], [0.5, 0.5]), (
        f"expected weights [0.5, 0.5] (the maximum in the last bin), got {result['weights']}")
    assert np.allclose(result["bin_effects"], [-0.1 / 3, -1.1 / 3]), (
        f"expected bin effects [-0.033, -0.367], got {result['bin_effects']}")
    assert math.isclose(result["expected"], -0.2), f"expected -0.2, got {result['expected']}"
    empty = causal.bin_and_weigh(np.array([0.0, 0.1, 1.0]), np.array([1.0, 1.0, 2.0]), 4)
    assert np.allclose(empty["weights"], [2 / 3, 0, 0, 1 / 3]), (
        f"expected empty middle bins, got weights {empty['weights']}")
    assert np.allclose(empty["bin_effects"], [1, 0, 0, 2]), (
        f"expected effect 0 in empty bins, got {empty['bin_effects']}")


def test_expected_effect_of_a_constant_unit_uses_one_bin():
    model = WiredNet([[1.0, 0.0], [0.0, 1.0]])
    images = torch.zeros(6, 2, 1, 1)
    result = causal.expected_causal_effect(model, images, "layer", 0, bins=5)
    assert result["weights"].tolist() == [1.0] and result["expected"] == 0.0, (
        f"expected one bin of weight 1 and effect 0, got {result['weights']}, "
        f"{result['expected']}")


def test_hooks_are_removed_and_state_restored_even_when_the_forward_raises():
    model = causal.shallow_cnn(2).train()
    model.fc.weight.requires_grad_(False)
    with pytest.raises(RuntimeError, match="boom"):
        with causal.intervene(model, "features.relu2", 0):
            count = len(model.features.relu2._forward_hooks)
            assert count == 1, f"expected one hook inside the block, got {count}"
            raise RuntimeError("boom")
    assert _hook_count(model) == 0, f"expected no hooks after an error, got {_hook_count(model)}"
    with pytest.raises(ValueError, match="unit"):              # raised inside the forward
        causal.causal_effect(model, torch.rand(2, 1, 28, 28), "features.relu2", 99)
    assert _hook_count(model) == 0, f"expected no hooks after an error, got {_hook_count(model)}"
    flags = (model.training, model.fc.weight.requires_grad, model.fc.bias.requires_grad)
    assert flags == (True, False, True), (
        f"expected training mode and the requires_grad flags restored (True, False, True), "
        f"got {flags}")


def test_unit_effects_match_single_interventions_on_the_shallow_net():
    torch.manual_seed(0)
    model = causal.shallow_cnn(3)
    images = torch.rand(5, 1, 28, 28)
    table = causal.unit_effects(model, images, "features.relu2")
    assert table.shape == (5, 6), f"expected (5, 6), got {tuple(table.shape)}"
    for unit in (0, 5):
        single = causal.causal_effect(model, images, "features.relu2", unit)
        assert torch.allclose(table[:, unit], single, atol=1e-7), (
            f"unit {unit}: expected {single}, got {table[:, unit]}")


def test_effect_table_matches_expected_causal_effect_per_cell():
    # effect_table batches a layer's units into one pass (40 images cross a batch
    # boundary there); each cell must still be expected_causal_effect's number.
    torch.manual_seed(0)
    model = causal.shallow_cnn(3)
    conditions = {"a": torch.rand(40, 1, 28, 28), "b": torch.rand(9, 1, 28, 28)}
    units = [("features.relu2", unit) for unit in range(6)] + [("features.relu1", 1)]
    for kind in ("zero", "mean"):
        table = causal.effect_table(model, conditions, units, kind, bins=3)
        for (layer, unit), row in table.iterrows():
            for name, images in conditions.items():
                single = causal.expected_causal_effect(model, images, layer, unit, kind,
                                                       bins=3)["expected"]
                assert math.isclose(row[name], single, abs_tol=1e-7), (
                    f"{kind}, {layer} unit {unit}, {name}: expected {single}, "
                    f"got {row[name]}")
    assert list(table.index) == units, (
        f"expected the rows in the order given, got {list(table.index)}")
    assert _hook_count(model) == 0, f"expected no hooks left, got {_hook_count(model)}"


def test_cam_is_exact_for_gap_then_linear_and_is_attributions_cam():
    torch.manual_seed(0)
    model = causal.shallow_cnn(3).eval()
    images = torch.rand(4, 1, 28, 28)
    classes = torch.tensor([0, 3, 5, 9])
    maps = causal.class_activation_map(model, images, classes)
    assert maps.shape == (4, 28, 28), f"expected (4, 28, 28), got {tuple(maps.shape)}"
    reference = attribution.cam(model, images, model.features.relu2, classes, normalize=False)
    assert torch.equal(maps, reference), "expected attribution.cam's raw maps"
    # The mean of the unupsampled CAM is the logit minus the bias.
    activations = causal.activations(model, images, "features.relu2")
    weights = model.fc.weight[classes]
    raw = torch.einsum("nk,nkhw->nhw", weights, activations).mean((1, 2))
    with torch.no_grad():
        logits = model(images)[torch.arange(4), classes] - model.fc.bias[classes]
    assert torch.allclose(raw, logits, atol=1e-5), f"expected {logits}, got {raw}"


def test_cem_weighs_channels_by_their_zero_out_effect():
    torch.manual_seed(0)
    model = causal.shallow_cnn(3).eval()
    images = torch.rand(4, 1, 28, 28)
    classes = torch.tensor([1, 2, 3, 4])
    cem = causal.causal_effect_map(model, images, classes)
    assert cem.shape == (4, 28, 28), f"expected (4, 28, 28), got {tuple(cem.shape)}"
    # Bilinear upsampling keeps the mean, so mean(CEM) = Σ_k (−Effect_k) · mean(A_k).
    importance = -causal.unit_effects(model, images, "features.relu2", classes)
    pooled = causal.activations(model, images, "features.relu2").mean((2, 3))
    expected = (importance * pooled).sum(1)
    assert torch.allclose(cem.mean((1, 2)), expected, atol=1e-5), (
        f"expected map means {expected}, got {cem.mean((1, 2))}")


def test_pixel_mask_blacks_out_the_fraction_and_is_seeded():
    images = torch.rand(3, 1, 10, 10) * 0.5 + 0.5
    masked = causal.pixel_mask(images, 0.1, seed=4)
    blacked = (masked == 0).flatten(1).sum(1).tolist()
    assert blacked == [10, 10, 10], f"expected 10 black pixels per image, got {blacked}"
    assert torch.equal(masked, causal.pixel_mask(images, 0.1, seed=4)), "expected a seeded mask"
    assert torch.equal(masked[masked != 0], images[masked != 0]), "expected other pixels kept"
    with pytest.raises(ValueError, match="fraction"):
        causal.pixel_mask(images, 1.5)


def test_detectors_separate_separable_effects_and_fix_the_direction():
    clean = np.array([0.3, 0.4, 0.5])
    smaller = causal.detection_roc(clean, np.array([0.1, 0.2]))["auroc"]
    larger = causal.detection_roc(clean, np.array([0.6, 0.7]))["auroc"]
    assert (smaller, larger) == (1.0, 0.0), (
        f"expected AUROC 1 when adversarial statistics are smaller, 0 when larger, got "
        f"{smaller}, {larger}")
    generator = torch.Generator().manual_seed(0)
    clean_effects = torch.randn(40, 3, generator=generator)
    shifted = torch.randn(40, 3, generator=generator) + torch.tensor([3.0, 0, 0])
    auroc = causal.effect_detector(clean_effects, shifted)["auroc"]
    assert auroc > 0.95, f"expected AUROC > 0.95 for a shift of 3 std, got {auroc}"
    statistic = causal.effect_statistic(torch.tensor([[-0.2, 0.4]])).tolist()
    assert statistic == pytest.approx([0.3]), f"expected mean |effect| 0.3, got {statistic}"


@pytest.mark.parametrize("call, argument", [
    (lambda m, x: causal.causal_effect(m, x, "nonexistent", 0), "layer"),
    (lambda m, x: causal.causal_effect(m, x, "features.relu2", 0, "scale"), "kind"),
    (lambda m, x: causal.causal_effect(m, x, "features.relu2", 0, "value"), "value"),
    (lambda m, x: causal.causal_effect(m, x, "features.relu2", -1), "unit"),
    (lambda m, x: causal.causal_effect(m, x[0], "features.relu2", 0), "images"),
    (lambda m, x: causal.causal_effect(m, x, "features.relu2", 0,
                                       classes=torch.zeros(3, dtype=torch.long)), "classes"),
    (lambda m, x: causal.expected_causal_effect(m, x, "features.relu2", 0, bins=0), "bins"),
    (lambda m, x: causal.bin_and_weigh(np.zeros(3), np.zeros(2), 2), "effects"),
    (lambda m, x: causal.shallow_cnn(0), "width"),
])
def test_bad_arguments_raise_value_errors_naming_them(call, argument):
    model, images = causal.shallow_cnn(2), torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match=argument):
        call(model, images)


def test_mean_intervention_uses_the_mean_over_all_images_not_per_batch():
    model = WiredNet([[1.0, 0.0], [0.0, 0.0]])
    images = torch.rand(600, 2, 1, 1, generator=torch.Generator().manual_seed(1))
    classes = torch.zeros(600, dtype=torch.long)
    a = images[:, 0, 0, 0]
    effect = causal.causal_effect(model, images, "layer", 0, "mean", classes=classes)
    expected = torch.sigmoid(a.mean()) - torch.sigmoid(a)
    assert torch.allclose(effect, expected, atol=1e-6), (
        f"expected the effect of setting the unit to its overall mean {a.mean():.4f}; "
        f"largest difference {(effect - expected).abs().max():.1e}")
    with pytest.raises(ValueError, match="value"):
        with causal.intervene(model, "layer", 0, "mean"):
            pass
