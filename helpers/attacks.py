"""Adversarial attacks in pixel space [0, 1]: FGSM, PGD/BIM (L∞), DeepFool (L2), transfer.

Every attack takes a model that maps images (N, C, H, W) in [0, 1] to logits (N, K)
(normalization lives inside the model) and returns adversarial images of the same shape,
detached, in [0, 1], on the model's device. Attacks run the model in eval mode with its
parameters frozen and leave it exactly as they found it (each module's ``training``
flag, each parameter's ``requires_grad``), also when they raise.

>>> adversarial = pgd(model, images, labels, eps=8/255, step_size=2/255, steps=10)  # doctest: +SKIP

Untargeted attacks raise the cross-entropy of the true ``labels``; with
``targeted=True`` the ``labels`` are the classes to reach and the attacks lower their
cross-entropy instead. FGSM and PGD follow torchattacks' arithmetic step for step, so
the results agree with it to float precision (tests/test_attacks.py checks this).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from helpers.checks import check_int, check_labels, check_module, check_pixels
from helpers.models import logits, model_device, model_state_guard

__all__ = ["fgsm", "pgd", "bim", "deepfool", "jsma", "transfer_attack", "predict_labels",
           "ATTACKS", "model_state_guard"]


# --- input checks and model state ---------------------------------------------------------

def _check_model(model) -> torch.device:
    return model_device(check_module("model", model))


def _check_images(images, device: torch.device) -> torch.Tensor:
    return check_pixels("images", images).detach().to(device)


def _check_labels(labels, images: torch.Tensor) -> torch.Tensor:
    return check_labels("labels", labels, len(images)).to(images.device, torch.int64)


def _check_eps(eps) -> float:
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps={eps!r}: expected a finite number >= 0 (pixel units, e.g. 8/255).")
    return float(eps)


def _loss_gradient(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                   targeted: bool) -> torch.Tensor:
    """∇ₓ of the mean cross-entropy (its negative when ``targeted``), as torchattacks does."""
    images = images.detach().requires_grad_(True)     # a view: no copy per step
    loss = F.cross_entropy(model(images), labels)
    if targeted:
        loss = -loss
    return torch.autograd.grad(loss, images)[0]


# --- the attacks ------------------------------------------------------------------------------

def fgsm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float, *,
         targeted: bool = False) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): one step of size ``eps``.

    ``x' = clip(x + eps · sign(∇ₓ CE(f(x), y)), 0, 1)`` (minus the step when ``targeted``).
    ``images``: float (N, C, H, W) in [0, 1]; ``labels``: int (N,); ``eps`` >= 0 in pixel
    units. Returns the adversarial images, float (N, C, H, W) in [0, 1].
    """
    device = _check_model(model)
    images = _check_images(images, device)
    labels = _check_labels(labels, images)
    eps = _check_eps(eps)
    with model_state_guard(model):
        gradient = _loss_gradient(model, images, labels, targeted)
        return (images + eps * gradient.sign()).clamp(0, 1).detach()


def pgd(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float,
        step_size: float, steps: int, *, random_start: bool = False, targeted: bool = False,
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient descent on the L∞ ball (Madry et al. 2018).

    ``steps`` times: ``x ← Π(x + step_size · sign(∇ₓ CE))``, where Π clips the
    perturbation to [-eps, eps] and the image to [0, 1]. With ``random_start`` the
    search starts at a uniform random point of the ball (drawn with ``generator`` when
    given, for reproducibility); without it this is BIM (Kurakin et al. 2016).
    ``0 <= step_size <= eps``; ``steps`` >= 1. Returns float (N, C, H, W) in [0, 1]
    with ``|x' - x|∞ <= eps``.
    """
    device = _check_model(model)
    images = _check_images(images, device)
    labels = _check_labels(labels, images)
    eps = _check_eps(eps)
    if not isinstance(step_size, (int, float)) or not 0 <= step_size <= eps:
        raise ValueError(f"step_size={step_size!r}: expected 0 <= step_size <= eps={eps:g} "
                         f"(a larger step only gets clipped back onto the ball).")
    steps = check_int("steps", steps, 1)
    with model_state_guard(model):
        adversarial = images.clone()
        if random_start:
            noise = torch.rand(images.shape, generator=generator,
                               device=generator.device if generator else images.device)
            adversarial = (adversarial + (2 * noise.to(device) - 1) * eps).clamp(0, 1)
        # The projection onto {|x' - x|∞ <= eps} ∩ [0, 1] is a clip between fixed bounds.
        lower, upper = (images - eps).clamp_(min=0), (images + eps).clamp_(max=1)
        for _ in range(steps):
            gradient = _loss_gradient(model, adversarial, labels, targeted)
            adversarial = torch.maximum(adversarial + step_size * gradient.sign_(), lower)
            adversarial = torch.minimum(adversarial, upper, out=adversarial)
        return adversarial.detach()


def bim(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float,
        step_size: float, steps: int, *, targeted: bool = False) -> torch.Tensor:
    """Basic iterative method (Kurakin et al. 2016): :func:`pgd` without random start."""
    return pgd(model, images, labels, eps, step_size, steps, random_start=False,
               targeted=targeted)


def deepfool(model: nn.Module, images: torch.Tensor, *, overshoot: float = 0.02,
             max_iter: int = 50) -> torch.Tensor:
    """DeepFool, L2 (Moosavi-Dezfooli et al. 2016), multi-class, all classes as candidates.

    For each image, repeatedly linearize the classifier around the current point, find
    the nearest linearized boundary between the originally predicted class k₀ and any
    other class k — distance ``|f_k - f_k₀| / ‖∇f_k - ∇f_k₀‖₂`` — and step onto it. The
    steps add up to ``r_total``; the iterate is ``clip(x₀ + (1 + overshoot)·r_total, 0, 1)``
    (the overshoot acts on the total perturbation, as in the paper). An image stops
    moving once its prediction differs from k₀, or after ``max_iter`` iterations.
    Returns float (N, C, H, W) in [0, 1]. Numerically it follows foolbox's
    ``L2DeepFoolAttack`` (including its 1e-4 step padding).
    """
    device = _check_model(model)
    images = _check_images(images, device)
    if not isinstance(overshoot, (int, float)) or not math.isfinite(overshoot) or overshoot < 0:
        raise ValueError(f"overshoot={overshoot!r}: expected a finite number >= 0.")
    max_iter = check_int("max_iter", max_iter, 1)
    rows = torch.arange(len(images), device=device)
    with model_state_guard(model):
        with torch.no_grad():
            original = model(images).argmax(1)
        total = torch.zeros_like(images)
        current = images.clone()
        for _ in range(max_iter):
            point = current.clone().requires_grad_(True)
            logits = model(point)
            fooled = logits.argmax(1) != original
            if fooled.all():
                break
            differences = logits - logits[rows, original].unsqueeze(1)   # f_k - f_k0, (N, K)
            gradients = torch.stack([
                torch.autograd.grad(differences[:, k].sum(), point, retain_graph=True)[0]
                for k in range(logits.shape[1])], dim=1)                  # (N, K, C, H, W)
            norms = gradients.flatten(2).norm(dim=2)                      # (N, K)
            distances = differences.detach().abs() / (norms + 1e-8)
            distances[rows, original] = math.inf
            best = distances.argmin(1)
            step = ((distances[rows, best] + 1e-4) / (norms[rows, best] + 1e-8))
            total = total + step.view(-1, *[1] * (images.ndim - 1)) * gradients[rows, best]
            moved = (images + (1 + overshoot) * total).clamp(0, 1)
            keep = fooled.view(-1, *[1] * (images.ndim - 1))
            current = torch.where(keep, current, moved)
        return current.detach()


ATTACKS: dict[str, Callable] = {"fgsm": fgsm, "pgd": pgd, "bim": bim, "deepfool": deepfool}


# --- evaluation ------------------------------------------------------------------------------

def predict_labels(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Predicted classes (N,) int64, on the images' device, of ``model`` on ``images``
    (N, C, H, W) in [0, 1]. Eval mode without gradients, in batches
    (:func:`helpers.models.logits`); the model's state is restored.
    """
    device = _check_model(model)
    images = _check_images(images, device)
    check_int("batch_size", batch_size, 1)
    return logits(model, images, batch_size).argmax(1).to(images.device)


def transfer_attack(source_model: nn.Module, target_model: nn.Module, images: torch.Tensor,
                    labels: torch.Tensor, attack: str | Callable = "pgd",
                    **attack_kwargs) -> dict:
    """Black-box transfer: craft adversarial examples on ``source_model``, test ``target_model``.

    ``attack``: a name in :data:`ATTACKS` or an attack function with this module's
    signature; ``attack_kwargs`` go to it (e.g. ``eps=8/255, step_size=2/255, steps=10``).
    The target model is only ever asked for predictions, never for gradients.

    Returns ``{"adversarial": images (N, C, H, W), "source_accuracy": float,
    "target_accuracy": float, "target_clean_accuracy": float}``; accuracies are fractions
    in [0, 1] against ``labels`` (the true classes).
    """
    if isinstance(attack, str):
        if attack not in ATTACKS:
            raise ValueError(f"attack={attack!r}: expected one of {', '.join(ATTACKS)} "
                             f"or an attack function.")
        attack = ATTACKS[attack]
    if not callable(attack):
        raise TypeError(f"attack: expected a name or a function, got {type(attack).__name__}.")
    _check_model(target_model)
    device = _check_model(source_model)
    images = _check_images(images, device)
    labels = _check_labels(labels, images)
    if attack is deepfool:
        adversarial = deepfool(source_model, images, **attack_kwargs)
    else:
        adversarial = attack(source_model, images, labels, **attack_kwargs)

    def accuracy(model, batch):
        predictions = predict_labels(model, batch)
        return (predictions == labels.to(predictions.device)).float().mean().item()

    return {"adversarial": adversarial,
            "source_accuracy": accuracy(source_model, adversarial),
            "target_accuracy": accuracy(target_model, adversarial),
            "target_clean_accuracy": accuracy(target_model, images)}


# --- JSMA (an L0 attack; its own signature, so it is not in ATTACKS) ---------------------------

def _jacobian(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """∂logit_k/∂x for one image (1, C, H, W): (K, C·H·W), in one batched backward pass.

    The image is repeated once per class; copy k back-propagates logit k only.
    """
    with torch.no_grad():
        classes = model(image).shape[1]
    copies = image.detach().repeat(classes, *[1] * (image.ndim - 1)).requires_grad_(True)
    model(copies).diagonal().sum().backward()
    return copies.grad.flatten(1)


def _saliency_pair(jacobian: torch.Tensor, target: int, domain: torch.Tensor,
                   increasing: bool) -> tuple[int, int] | None:
    """The pixel pair (p, q) of the saliency map (Papernot et al. 2016, eqs. 8-10).

    α = ∂F_t/∂x_p + ∂F_t/∂x_q, β = Σ_{j≠t} (∂F_j/∂x_p + ∂F_j/∂x_q); admissible pairs of
    distinct searchable pixels have α > 0, β < 0 (increasing) or α < 0, β > 0
    (decreasing); the pair maximizing |α|·|β| wins. None when no pair is admissible.
    """
    target_grad = jacobian[target]
    others_grad = jacobian.sum(0) - target_grad
    alpha = target_grad.view(1, -1) + target_grad.view(-1, 1)
    beta = others_grad.view(1, -1) + others_grad.view(-1, 1)
    admissible = (alpha > 0) & (beta < 0) if increasing else (alpha < 0) & (beta > 0)
    admissible &= domain.view(1, -1) & domain.view(-1, 1)
    admissible.fill_diagonal_(False)
    saliency = torch.where(admissible, alpha.abs() * beta.abs(), torch.zeros_like(alpha))
    best = int(saliency.argmax())
    if not admissible.view(-1)[best]:
        return None
    return best // len(domain), best % len(domain)


def jsma(model: nn.Module, images: torch.Tensor, target_labels: torch.Tensor, *,
         theta: float = 1.0, gamma: float = 0.1) -> torch.Tensor:
    """Jacobian-based saliency map attack (Papernot et al. 2016), targeted, L0.

    Per image, until the model predicts ``target_labels`` or ``ceil(gamma·D/2)``
    iterations have passed (D = C·H·W features): compute the Jacobian of the logits,
    pick the saliency-map pixel pair, add ``theta`` to both (clipped to [0, 1]) and take
    them out of the search domain (pixels < 0.99 for theta > 0, > 0.01 for theta < 0).
    So at most 2·ceil(gamma·D/2) features change. Follows torchattacks.JSMA step for
    step, except that it stops when no pixel pair is admissible (torchattacks then
    perturbs feature 0) and scores decreasing pairs by |α|·|β| as the paper does.
    ``images``: float (N, C, H, W) in [0, 1]; ``target_labels``: int (N,). Returns float
    (N, C, H, W) in [0, 1].
    """
    device = _check_model(model)
    images = _check_images(images, device)
    targets = _check_labels(target_labels, images)
    if not isinstance(theta, (int, float)) or not math.isfinite(theta) or theta == 0:
        raise ValueError(f"theta={theta!r}: expected a non-zero finite number (pixel units).")
    if not isinstance(gamma, (int, float)) or not 0 < gamma <= 1:
        raise ValueError(f"gamma={gamma!r}: expected the fraction of features, in (0, 1].")
    features = images[0].numel()
    max_iters = math.ceil(features * gamma / 2)
    increasing = theta > 0
    results = []
    with model_state_guard(model):
        for image, target in zip(images, targets.tolist()):
            current = image.unsqueeze(0).clone()
            domain = (current < 0.99 if increasing else current > 0.01).flatten()
            for _ in range(max_iters):
                with torch.no_grad():
                    if model(current).argmax(1).item() == target or not domain.any():
                        break
                pair = _saliency_pair(_jacobian(model, current), target, domain, increasing)
                if pair is None:
                    break
                flat = current.flatten()
                flat[list(pair)] += theta
                current = flat.clamp(0, 1).view_as(current)
                domain[list(pair)] = False
            results.append(current)
    return torch.cat(results).detach()
