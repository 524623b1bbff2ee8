"""helpers.regularization: weight penalties, the activation penalty, density; fit's penalty."""

import pytest
import torch
from torch import nn

from helpers import regularization as reg
from helpers import sparsity
from helpers.data import ImageDataset
from helpers.train import fit


def _toy() -> nn.Module:
    """Conv kernel [1, -2, 0.5, 0], linear kernel [-3]; biases and BatchNorm are not kernels."""
    model = nn.Sequential(nn.Conv2d(1, 1, 2), nn.BatchNorm2d(1), nn.Flatten(), nn.Linear(1, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[[[1.0, -2.0], [0.5, 0.0]]]]))
        model[0].bias.fill_(7.0)
        model[1].weight.fill_(5.0)
        model[3].weight.fill_(-3.0)
        model[3].bias.fill_(4.0)
    return model


def test_penalties_equal_hand_computations():
    model = _toy()
    cases = {"‖w‖₁": (reg.l1_penalty(model), 1 + 2 + 0.5 + 3),
             "‖w‖₂²": (reg.l2_penalty(model), 1 + 4 + 0.25 + 9),
             "elastic net α=0.3": (reg.elastic_net_penalty(model, 0.3), 0.3 * 6.5 + 0.7 * 14.25),
             "elastic net α=1": (reg.elastic_net_penalty(model, 1.0), 6.5),
             "0.1·L1": (reg.weight_penalty("l1", 0.1)(model), 0.65),
             "0.1·L2": (reg.weight_penalty("l2", 0.1)(model), 1.425),
             "2·elastic net": (reg.weight_penalty("elastic_net", 2.0, 0.5)(model), 20.75)}
    for name, (got, expected) in cases.items():
        assert got.item() == pytest.approx(expected), f"{name}: expected {expected}, got {got}"
    assert reg.weight_penalty("none", 0.1) is None, "kind='none' should give no penalty"


def test_penalty_gradients_are_sign_and_twice_the_weight():
    model = _toy()
    reg.l1_penalty(model).backward()
    grad = model[0].weight.grad
    assert torch.equal(grad, torch.tensor([[[[1.0, -1.0], [1.0, 0.0]]]])), (
        f"expected sign(w) = [1, -1, 1, 0] (0 at w = 0), got {grad.flatten().tolist()}")
    assert model[0].bias.grad is None, "biases are not penalized"
    model.zero_grad()
    reg.l2_penalty(model).backward()
    grad = model[3].weight.grad
    assert torch.allclose(grad, torch.tensor([[-6.0]])), f"expected 2w = -6, got {grad}"


def test_penalty_arguments_are_checked():
    with pytest.raises(ValueError, match="kind"):
        reg.weight_penalty("l3", 0.1)
    with pytest.raises(ValueError, match="lam"):
        reg.weight_penalty("l1", -1.0)
    with pytest.raises(ValueError, match="alpha"):
        reg.elastic_net_penalty(_toy(), 1.5)
    with pytest.raises(TypeError, match="model"):
        reg.l1_penalty("not a model")


def test_density_of_a_known_activation_tensor():
    activations = torch.tensor([[[0.0, 1.0], [2.0, 0.0]], [[-1.0, 0.0], [0.0, 0.0]],
                                [[3.0, 3.0], [3.0, 3.0]]])
    got = reg.density(activations).tolist()
    assert got == [0.5, 0.0, 1.0], f"expected [0.5, 0, 1] active above 0, got {got}"
    got = reg.density(activations, threshold=2.5).tolist()
    assert got == [0.0, 0.0, 1.0], f"expected [0, 0, 1] active above 2.5, got {got}"
    with pytest.raises(ValueError, match="activations"):
        reg.density(torch.ones(3))


def test_average_density_over_layers_restores_the_model():
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2), nn.ReLU())
    with torch.no_grad():   # first ReLU: units 1 and 3 active for x = (1, 0); second: unit 0
        model[0].weight.copy_(torch.tensor([[-1.0, 0], [1, 0], [-1, 0], [1, 0]]))
        model[0].bias.zero_()
        model[2].weight.copy_(torch.tensor([[1.0, 1, 1, 1], [-1, -1, -1, -1]]))
        model[2].bias.zero_()
    model.train()
    images = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    # x = (1, 0): 2 of 4 + 1 of 2 = 3/6; x = (-1, 0): 2 of 4 + 1 of 2 = 3/6
    for layers in ([model[1], model[3]], [model[1]]):
        got = reg.average_density(model, images, layers)
        assert got == pytest.approx(0.5), f"expected 3 of 6 (2 of 4) units active, got {got}"
    assert model.training and all(p.requires_grad for p in model.parameters()), (
        "expected the model back in training mode with trainable parameters")
    assert not any(m._forward_hooks for m in model.modules()), "a counting hook was left"
    with pytest.raises(ValueError, match="layers"):
        reg.average_density(model, images, [nn.ReLU()])


def test_activation_penalty_is_lambda_times_mean_l1_and_unhooks():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    images = torch.randn(5, 2)
    with reg.ActivationPenalty(model, [model[1]], lam=0.1) as penalty:
        model(images)
        value = penalty(model)
        expected = 0.1 * torch.relu(model[0](images)).abs().sum(1).mean()
        assert value.item() == pytest.approx(expected.item()), (
            f"expected λ·mean Σ|a| = {expected.item()}, got {value.item()}")
        value.backward()
        assert model[0].weight.grad is not None, "the penalty should reach the weights"
        with pytest.raises(RuntimeError, match="no activations"):
            penalty(model)
    assert not model[1]._forward_hooks, "the hook should be gone after the with block"
    with pytest.raises(RuntimeError, match="with"):
        penalty(model)
    penalty.close()  # a second close is harmless


def test_activation_penalty_unhooks_when_training_fails():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    with pytest.raises(ZeroDivisionError):
        with reg.ActivationPenalty(model, [model[1]], lam=0.1):
            raise ZeroDivisionError
    assert not model[1]._forward_hooks, "the hook should be gone after an error"


def _tiny_images(count=64):
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(count) % 2
    images = torch.rand(count, 3, 8, 8, generator=generator) * 0.3
    images[labels == 1, 0] += 0.6          # class 1 is red
    return ImageDataset((images * 255).round().to(torch.uint8), labels, name="toy",
                        split="train", source="standin", description="toy",
                        classes=("grey", "red"))


def test_fit_adds_the_penalty_and_l1_drives_weights_to_zero():
    data = _tiny_images()
    results = {}
    for lam in (0.0, 0.05):
        torch.manual_seed(0)
        model = sparsity.cam_cnn(width=2, num_classes=2)
        fit(model, data, epochs=6, batch_size=16, optimizer="adam", lr=1e-2, progress=False,
            penalty=reg.weight_penalty("l1", lam) if lam else None)
        results[lam] = (reg.l1_penalty(model).item(), reg.sparsity_of_weights(model, 1e-2))
    assert results[0.05][0] < 0.5 * results[0.0][0], (
        f"expected L1 to halve ‖w‖₁ at least, got (‖w‖₁, zeros) {results}")
    assert results[0.05][1] > results[0.0][1] + 0.2, (
        f"expected 20+ points more near-zero weights, got (‖w‖₁, zeros) {results}")
    with pytest.raises(TypeError, match="penalty"):
        fit(sparsity.cam_cnn(width=2), data, epochs=1, penalty=3.0, progress=False)


def test_activation_penalty_in_fit_lowers_density():
    data = _tiny_images()
    densities = {}
    for lam in (0.0, 0.05):
        torch.manual_seed(0)
        model = sparsity.single_layer_cnn(width=4, num_classes=2)
        layers = sparsity.hidden_layers(model)
        with reg.ActivationPenalty(model, layers, lam) as penalty:
            fit(model, data, epochs=4, batch_size=16, optimizer="adam", lr=1e-2,
                progress=False, penalty=penalty if lam else None)
        densities[lam] = reg.average_density(model, data, layers)
        assert not any(m._forward_hooks for m in model.modules()), f"λ={lam}: hook left"
    assert densities[0.05] < densities[0.0] - 0.1, (
        f"expected the penalty to lower the density by 0.1+, got {densities}")


def test_kernel_weights_are_the_flattened_conv_and_linear_kernels():
    weights = reg.kernel_weights(_toy())
    assert weights.tolist() == [1.0, -2.0, 0.5, 0.0, -3.0], (
        f"expected the conv then the linear kernel, got {weights.tolist()}")
    assert not weights.requires_grad, "kernel_weights should be detached"
    zeros = reg.sparsity_of_weights(_toy(), tolerance=0.6)
    assert zeros == pytest.approx(2 / 5), f"expected 0.5 and 0 below 0.6 (2 of 5), got {zeros}"
