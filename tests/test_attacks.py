"""helpers.attacks: agreement with torchattacks and foolbox, bounds, model state, input checks."""

import math

import foolbox
import pytest
import torch
import torch.nn.functional as F
import torchattacks
from torch import nn

from helpers import attacks
from helpers.models import build_model

EPS, STEP = 8 / 255, 2 / 255


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model("small_cnn", num_classes=10, width=4).eval()


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(1)
    return torch.rand(12, 3, 32, 32, generator=generator), torch.randint(0, 10, (12,), generator=generator)


def _loss(model, images, labels):
    with torch.no_grad():
        return F.cross_entropy(model(images), labels).item()


def test_fgsm_equals_torchattacks(model, batch):
    images, labels = batch
    ours = attacks.fgsm(model, images, labels, EPS)
    theirs = torchattacks.FGSM(model, eps=EPS)(images, labels)
    assert (ours - theirs).abs().max() <= 1e-6


@pytest.mark.parametrize("targeted", [False, True])
def test_pgd_without_random_start_equals_torchattacks(model, batch, targeted):
    images, labels = batch
    reference = torchattacks.PGD(model, eps=EPS, alpha=STEP, steps=7, random_start=False)
    if targeted:
        labels = (labels + 3) % 10
        reference.set_mode_targeted_by_label(quiet=True)
    ours = attacks.pgd(model, images, labels, EPS, STEP, 7, targeted=targeted)
    assert (ours - reference(images, labels)).abs().max() <= 1e-6
    assert torch.equal(ours, attacks.bim(model, images, labels, EPS, STEP, 7, targeted=targeted))


def test_targeted_pgd_moves_towards_the_target(model, batch):
    images, _ = batch
    target = torch.full((len(images),), 4)
    before = _loss(model, images, target)
    after = _loss(model, attacks.pgd(model, images, target, EPS, STEP, 10, targeted=True), target)
    assert after < before


def test_deepfool_agrees_with_foolbox_using_all_classes(model, batch):
    images, _ = batch
    predictions = model(images).argmax(1)
    ours = attacks.deepfool(model, images, overshoot=0.02, max_iter=50)
    reference = foolbox.attacks.L2DeepFoolAttack(steps=50, candidates=None, overshoot=0.02)
    theirs, _, success = reference(foolbox.PyTorchModel(model, bounds=(0, 1)), images,
                                   predictions, epsilons=None)
    assert success.all()
    assert (ours - theirs).abs().max() < 1e-4
    assert (model(ours).argmax(1) != predictions).all()


def test_deepfool_finds_the_exact_boundary_of_a_linear_model():
    # Two classes, logit difference w·x + b: the nearest boundary point is known in closed form.
    linear = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    with torch.no_grad():
        linear[1].weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]))
        linear[1].bias.zero_()
    image = torch.tensor([[[[0.7, 0.3], [0.5, 0.5]]]])        # class 0 by 0.4
    adversarial = attacks.deepfool(linear, image, overshoot=0.0)
    # distance 0.4/‖w‖ (+1e-4 padding) along w = (-1, 1, 0, 0), ‖w‖ = √2
    move = (0.4 / 2 ** 0.5 + 1e-4) / 2 ** 0.5
    expected = torch.tensor([[[[0.7 - move, 0.3 + move], [0.5, 0.5]]]])
    assert torch.allclose(adversarial, expected, atol=1e-5)


@pytest.mark.parametrize("attack", ["fgsm", "pgd", "pgd_random"])
def test_perturbation_stays_in_the_ball_and_images_in_range(model, batch, attack):
    images, labels = batch
    images = images.clamp(0.02, 0.98)
    images[0, :, :4] = 0.0                                      # pixels at the bounds
    images[1, :, :4] = 1.0
    if attack == "fgsm":
        adversarial = attacks.fgsm(model, images, labels, EPS)
    else:
        generator = torch.Generator().manual_seed(0)
        adversarial = attacks.pgd(model, images, labels, EPS, STEP, 5,
                                  random_start=attack == "pgd_random", generator=generator)
    assert (adversarial - images).abs().max() <= EPS + 1e-6
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert adversarial.shape == images.shape and not adversarial.requires_grad


def test_random_start_is_reproducible_with_a_generator(model, batch):
    images, labels = batch
    runs = [attacks.pgd(model, images, labels, EPS, STEP, 2, random_start=True,
                        generator=torch.Generator().manual_seed(5)) for _ in range(2)]
    assert torch.equal(*runs)
    assert not torch.equal(runs[0], attacks.pgd(model, images, labels, EPS, STEP, 2))


def test_pgd_is_at_least_as_strong_as_fgsm(model, batch):
    images, labels = batch
    clean = _loss(model, images, labels)
    fgsm_loss = _loss(model, attacks.fgsm(model, images, labels, EPS), labels)
    pgd_loss = _loss(model, attacks.pgd(model, images, labels, EPS, EPS / 4, 10), labels)
    assert clean < fgsm_loss <= pgd_loss


def _state(model):
    return ([m.training for m in model.modules()], [p.requires_grad for p in model.parameters()],
            [len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()])


def _mixed_state_model():
    torch.manual_seed(0)
    model = build_model("small_cnn", width=4).train()
    model.features[1].eval()                      # a frozen BatchNorm inside a training model
    model.features[0].weight.requires_grad_(False)
    return model


@pytest.mark.parametrize("name", ["fgsm", "pgd", "deepfool", "predict"])
def test_model_state_is_restored(batch, name):
    images, labels = batch
    model = _mixed_state_model()
    before = _state(model)
    running_mean = model.features[1].running_mean.clone()
    call = {"fgsm": lambda: attacks.fgsm(model, images, labels, EPS),
            "pgd": lambda: attacks.pgd(model, images, labels, EPS, STEP, 2),
            "deepfool": lambda: attacks.deepfool(model, images[:2], max_iter=2),
            "predict": lambda: attacks.predict_labels(model, images)}[name]
    call()
    assert _state(model) == before
    assert torch.equal(model.features[1].running_mean, running_mean), "attacks run in eval mode"
    assert all(p.grad is None for p in model.parameters()), "no parameter gradients left behind"


class Exploding(nn.Module):
    """A model that fails in its third forward pass."""

    def __init__(self):
        super().__init__()
        self.inner = build_model("small_cnn", width=4)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("boom")
        return self.inner(x)


def test_model_state_is_restored_after_an_exception(batch):
    images, labels = batch
    model = Exploding().train()
    model.inner.features[0].weight.requires_grad_(False)
    before = _state(model)
    with pytest.raises(RuntimeError, match="boom"):
        attacks.pgd(model, images, labels, EPS, STEP, 5)
    assert _state(model) == before


@pytest.mark.parametrize("change, argument", [
    (lambda a: a.update(images=a["images"] * 2), "images"),
    (lambda a: a.update(images=a["images"] - 0.5), "images"),
    (lambda a: a.update(images=(a["images"] * 255).to(torch.uint8)), "images"),
    (lambda a: a.update(eps=-0.1), "eps"),
    (lambda a: a.update(step_size=2 * EPS), "step_size"),
    (lambda a: a.update(labels=a["labels"][:-1]), "labels"),
    (lambda a: a.update(labels=a["labels"].view(-1, 1)), "labels"),
    (lambda a: a.update(labels=a["labels"].float()), "labels"),
    (lambda a: a.update(steps=0), "steps"),
])
def test_bad_inputs_raise_value_errors_naming_the_argument(model, batch, change, argument):
    images, labels = batch
    arguments = {"images": images, "labels": labels, "eps": EPS, "step_size": STEP, "steps": 3}
    change(arguments)
    with pytest.raises(ValueError, match=argument):
        attacks.pgd(model, **arguments)
    if argument in ("images", "labels", "eps"):
        with pytest.raises(ValueError, match=argument):
            attacks.fgsm(model, arguments["images"], arguments["labels"], arguments["eps"])


def test_deepfool_and_transfer_check_their_arguments(model, batch):
    images, labels = batch
    with pytest.raises(ValueError, match="overshoot"):
        attacks.deepfool(model, images, overshoot=-1)
    with pytest.raises(ValueError, match="max_iter"):
        attacks.deepfool(model, images, max_iter=0)
    with pytest.raises(ValueError, match="attack"):
        attacks.transfer_attack(model, model, images, labels, attack="cw")
    with pytest.raises(TypeError, match="model"):
        attacks.fgsm("not a model", images, labels, EPS)


def test_transfer_attack_reports_source_and_target_accuracy(model, batch):
    images, labels = batch
    torch.manual_seed(3)
    target = build_model("small_cnn", width=4).eval()
    result = attacks.transfer_attack(model, target, images, labels, "pgd", eps=EPS,
                                     step_size=STEP, steps=3)
    assert torch.equal(result["adversarial"], attacks.pgd(model, images, labels, EPS, STEP, 3))
    predictions = target(result["adversarial"]).argmax(1)
    assert result["target_accuracy"] == pytest.approx((predictions == labels).float().mean().item())
    assert result["target_clean_accuracy"] == pytest.approx(
        (target(images).argmax(1) == labels).float().mean().item())
    assert 0 <= result["source_accuracy"] <= 1


def test_attacks_work_inside_no_grad_and_on_the_models_device(model, batch):
    images, labels = batch
    with torch.no_grad():
        adversarial = attacks.fgsm(model, images, labels, EPS)
    assert not torch.equal(adversarial, images)
    assert adversarial.device == next(model.parameters()).device


# --- JSMA (Papernot et al. 2016) -------------------------------------------------------------

def _gray_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 6 * 6, 10)).eval()


def _gray_batch(count=4):
    generator = torch.Generator().manual_seed(2)
    images = torch.rand(count, 1, 12, 12, generator=generator) * 0.8
    return images, torch.randint(0, 10, (count,), generator=generator)


def test_jsma_equals_torchattacks_when_a_pair_is_always_admissible():
    model = _gray_model()
    images, _ = _gray_batch()
    with torch.no_grad():
        targets = model(images).argsort(1)[:, -2]             # the runner-up class
    reference = torchattacks.JSMA(model, theta=1.0, gamma=0.1)
    reference.set_mode_targeted_by_label(quiet=True)
    ours = attacks.jsma(model, images, targets, theta=1.0, gamma=0.1)
    assert (ours - reference(images, targets)).abs().max() <= 1e-6
    assert (attacks.predict_labels(model, ours) == targets).float().mean() >= 0.5


@pytest.mark.parametrize("theta", [1.0, -1.0, 0.3])
def test_jsma_changes_at_most_gamma_of_the_pixels_and_stays_in_range(theta):
    model = _gray_model()
    images, labels = _gray_batch()
    targets = (labels + 1) % 10
    gamma = 0.05
    adversarial = attacks.jsma(model, images, targets, theta=theta, gamma=gamma)
    changed = (adversarial != images).flatten(1).sum(1)
    assert changed.max() <= 2 * math.ceil(gamma * 144 / 2)
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    moved = (adversarial - images)[adversarial != images]
    assert (moved > 0).all() if theta > 0 else (moved < 0).all()


def test_jsma_restores_model_state_and_checks_arguments():
    model = _gray_model().train()
    model[0].weight.requires_grad_(False)
    before = _state(model)
    images, labels = _gray_batch(2)
    attacks.jsma(model, images, labels, gamma=0.02)
    assert _state(model) == before
    for kwargs, name in [({"theta": 0}, "theta"), ({"gamma": 0}, "gamma"),
                         ({"gamma": 1.5}, "gamma")]:
        with pytest.raises(ValueError, match=name):
            attacks.jsma(model, images, labels, **kwargs)
    with pytest.raises(ValueError, match="images"):
        attacks.jsma(model, images * 3, labels)
    assert "jsma" not in attacks.ATTACKS, "its signature (no eps) does not fit the registry"
