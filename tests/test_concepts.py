"""helpers.concepts: the concept autoencoder, its loss and its training through fit."""

import math

import pytest
import torch
import torch.nn.functional as F

from helpers import causal, concepts


def _hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture(scope="module")
def trained():
    """A training-mode net with one frozen weight, and concepts trained on it."""
    torch.manual_seed(0)
    model = causal.shallow_cnn(4).train()
    model.fc.bias.requires_grad_(False)
    images = torch.rand(32, 1, 28, 28)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = concepts.train_concepts(model, "features.pool1", images, concepts=3, epochs=3,
                                     batch_size=16, progress=False)
    return model, images, before, result


def test_training_leaves_the_classifier_untouched(trained):
    model, _, before, _ = trained
    changed = [k for k, v in model.state_dict().items() if not torch.equal(before[k], v)]
    assert not changed, f"expected the classifier's weights unchanged, got changes in {changed}"
    flags = [p.requires_grad for p in model.parameters()]
    assert model.training and flags == [True] * (len(flags) - 1) + [False], (
        f"expected training mode and the requires_grad flags restored, got "
        f"training={model.training}, {flags}")
    assert _hook_count(model) == 0, f"expected no hooks left, got {_hook_count(model)}"


def test_history_is_fits_with_the_named_loss_terms(trained):
    _, _, _, result = trained
    history = result.history
    for key in ("epoch", "train_loss", "shallow", "deep", "interp"):
        assert len(history.get(key, [])) == 3, f"expected 3 epochs of {key!r}, got {history}"
    assert history["train_loss"][-1] < history["train_loss"][0], (
        f"expected the total loss to fall, got {history['train_loss']}")
    assert all(value >= 0 for key in ("shallow", "deep", "interp") for value in history[key]), (
        f"expected non-negative loss terms, got {history}")
    assert not result.model.autoencoder.training, "expected the autoencoder in eval mode"


def test_concept_units_can_be_intervened_on(trained):
    _, images, _, result = trained
    codes = causal.activations(result.model, images, "autoencoder.encoder")
    assert codes.shape == (32, 3, 14, 14), f"expected (32, 3, 14, 14), got {tuple(codes.shape)}"
    assert codes.min() >= 0, f"expected codes >= 0 (ReLU), got min {codes.min()}"
    effect = causal.causal_effect(result.model, images, "autoencoder.encoder", 0)
    assert effect.shape == (32,), f"expected (32,), got {tuple(effect.shape)}"
    assert _hook_count(result.model) == 0, f"expected no hooks, got {_hook_count(result.model)}"


def test_with_concepts_runs_the_autoencoder_in_place_of_the_layer(trained):
    model, images, _, result = trained
    with torch.no_grad():                          # the net has no dropout or batchnorm
        pooled = model.features[:3](model.normalize(images))      # conv1 → relu1 → pool1
        expected = model.fc(model.features[3:](result.model.autoencoder(pooled)))
        got = result.model(images)
    assert torch.allclose(got, expected, atol=1e-5), (
        f"expected the head on the decoded activations; max difference "
        f"{(got - expected).abs().max():.1e}")


def test_a_checkpoint_reloads_the_same_autoencoder(tmp_path):
    torch.manual_seed(1)
    model = causal.shallow_cnn(2).eval()
    images = torch.rand(16, 1, 28, 28)
    path = tmp_path / "concepts.pt"
    first = concepts.train_concepts(model, "features.pool1", images, concepts=2, epochs=2,
                                    batch_size=8, progress=False, checkpoint=path)
    torch.manual_seed(99)                       # a reload does not depend on the RNG
    again = concepts.train_concepts(model, "features.pool1", images, concepts=2, epochs=2,
                                    batch_size=8, progress=False, checkpoint=path)
    assert path.exists(), f"expected a checkpoint at {path}"
    for key, value in first.model.autoencoder.state_dict().items():
        assert torch.equal(value, again.model.autoencoder.state_dict()[key]), (
            f"expected the reloaded autoencoder's {key} to equal the trained one")
    assert again.history["train_loss"] == first.history["train_loss"], (
        f"expected the saved history {first.history['train_loss']}, got "
        f"{again.history['train_loss']}")


def test_concept_loss_terms_are_zero_for_a_perfect_copy():
    logits = torch.randn(4, 10)
    activations = torch.rand(4, 3, 5, 5)
    terms = concepts.concept_loss(logits, logits, activations, activations,
                                  torch.zeros(4, 2, 5, 5))
    values = {k: terms[k].item() for k in ("shallow", "deep", "interp", "total")}
    assert all(abs(v) < 1e-6 for v in values.values()), f"expected all zero, got {values}"
    kl = concepts.concept_loss(logits, torch.zeros(4, 10), activations, activations,
                               torch.zeros(1))["deep"]
    expected = F.kl_div(torch.full((4, 10), -math.log(10)), F.log_softmax(logits, 1),
                        log_target=True, reduction="batchmean")
    assert torch.isclose(kl, expected), f"expected KL(p ‖ uniform) = {expected}, got {kl}"


def test_concept_loss_weighs_its_terms_by_lambdas():
    torch.manual_seed(0)
    args = (torch.randn(4, 10), torch.randn(4, 10), torch.rand(4, 3, 5, 5),
            torch.rand(4, 3, 5, 5), torch.rand(4, 2, 5, 5))
    terms = concepts.concept_loss(*args, lambdas=(2.0, 0.5, 3.0))
    expected = 2 * terms["shallow"] + 0.5 * terms["deep"] + 3 * terms["interp"]
    assert torch.isclose(terms["total"], expected), (
        f"expected total {expected.item()}, got {terms['total'].item()}")


@pytest.mark.parametrize("call, argument", [
    (lambda m, x: concepts.train_concepts(m, "features.pool1", x[0], epochs=1), "images"),
    (lambda m, x: concepts.train_concepts(m, "features.pool1", x, epochs=0), "epochs"),
    (lambda m, x: concepts.train_concepts(m, "nonexistent", x, epochs=1), "layer"),
    (lambda m, x: concepts.ConceptAutoencoder(4, concepts=0), "concepts"),
])
def test_bad_arguments_raise_value_errors_naming_them(call, argument):
    model, images = causal.shallow_cnn(2), torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match=argument):
        call(model, images)


def test_training_goes_through_fit(monkeypatch):
    calls = []
    real_fit = concepts.fit

    def spy(model, *args, **kwargs):
        calls.append((type(model).__name__, kwargs.get("optimizer")))
        return real_fit(model, *args, **kwargs)

    monkeypatch.setattr(concepts, "fit", spy)
    concepts.train_concepts(causal.shallow_cnn(2), "features.pool1", torch.rand(4, 1, 28, 28),
                            epochs=1, progress=False)
    assert calls == [("ConceptAutoencoder", "adam")], (
        f"expected one train.fit call on the autoencoder with Adam, got {calls}")
