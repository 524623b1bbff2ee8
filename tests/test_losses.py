import pytest
import torch
import torch.nn.functional as F

from helpers.losses import LabelSmoothingCrossEntropy, label_smoothing_cross_entropy, smoothed_targets


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.3, 0.9])
def test_matches_torch_label_smoothing(alpha):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(17, 10, generator=generator) * 3
    targets = torch.randint(0, 10, (17,), generator=generator)
    ours = label_smoothing_cross_entropy(logits, targets, alpha)
    reference = F.cross_entropy(logits, targets, label_smoothing=alpha)
    assert torch.allclose(ours, reference, atol=1e-6)
    assert torch.allclose(LabelSmoothingCrossEntropy(alpha)(logits, targets), reference, atol=1e-6)


def test_smoothed_targets_known_values():
    soft = smoothed_targets(torch.tensor([2, 0]), num_classes=4, alpha=0.2)
    assert torch.allclose(soft, torch.tensor([[0.05, 0.05, 0.85, 0.05], [0.85, 0.05, 0.05, 0.05]]))
    assert torch.allclose(soft.sum(1), torch.ones(2))


def test_gradient_flows():
    logits = torch.zeros(3, 5, requires_grad=True)
    label_smoothing_cross_entropy(logits, torch.tensor([0, 1, 2]), 0.1).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("logits, targets, alpha, message", [
    (torch.zeros(4), torch.zeros(4, dtype=torch.long), 0.1, "logits"),
    (torch.zeros(4, 3), torch.zeros(5, dtype=torch.long), 0.1, "targets"),
    (torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), 1.0, "alpha"),
    (torch.zeros(4, 3), torch.full((4,), 3), 0.1, "class indices"),
])
def test_bad_input_is_named(logits, targets, alpha, message):
    with pytest.raises(ValueError, match=message):
        label_smoothing_cross_entropy(logits, targets, alpha)
