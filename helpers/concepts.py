"""Latent concepts: an autoencoder inserted on a layer's activations (Harradon et al. 2018).

The autoencoder squeezes a layer's activations A (N, C, H, W) through a bottleneck of a
few channels, the *concepts*, and decodes them back; inserted into the network in place
of A, its concept channels become units one can intervene on with
:func:`helpers.causal.intervene` (layer ``"autoencoder.encoder"``).

Training loss (the network's own weights stay frozen):

    λ_shallow · L1(Â, A) + λ_deep · KL(p(y | x) ‖ p̂(y | x)) + λ_interp · mean|codes|

The first term makes the autoencoder reproduce the activations, the second makes the
network's output distribution with the autoencoder inserted (p̂) match the original one
(p), and the third, our choice of L_interpretability, is an L1 sparsity penalty on the
concept codes: few concepts active per position are easier to name. Only the
autoencoder trains, through :func:`helpers.train.fit` with the step of
:func:`train_concepts`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from helpers.checks import check_images, check_positive_int
from helpers.models import capture, forward_hook, get_layer, logits, model_device, model_state_guard
from helpers.train import fit


class ConceptAutoencoder(nn.Module):
    """Two 3×3 convs each side of a ``concepts``-channel bottleneck; keeps H×W.

    (N, channels, H, W) → codes (N, concepts, H, W) ≥ 0 → reconstruction (N, channels, H, W).
    """

    def __init__(self, channels: int, concepts: int = 4, hidden: int = 16):
        super().__init__()
        for name, value in (("channels", channels), ("concepts", concepts), ("hidden", hidden)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}: expected a positive int.")
        # Leaky hidden layers and a linear output keep every unit trainable (a plain
        # ReLU autoencoder this small often ends with dead concepts); the codes stay ≥ 0.
        self.encoder = nn.Sequential(nn.Conv2d(channels, hidden, 3, padding=1), nn.LeakyReLU(0.1),
                                     nn.Conv2d(hidden, concepts, 3, padding=1), nn.ReLU())
        self.decoder = nn.Sequential(nn.Conv2d(concepts, hidden, 3, padding=1), nn.LeakyReLU(0.1),
                                     nn.Conv2d(hidden, channels, 3, padding=1))

    def forward(self, activations: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(activations))


class WithConcepts(nn.Module):
    """``model`` with ``autoencoder`` applied to the output of ``layer`` in every forward pass.

    The insertion hook lives only for the duration of one forward pass, so the wrapped
    model is left untouched; intervene on concepts via the layer ``"autoencoder.encoder"``.
    """

    def __init__(self, model: nn.Module, layer: str, autoencoder: ConceptAutoencoder):
        super().__init__()
        self.model, self.layer, self.autoencoder = model, layer, autoencoder

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        insert = lambda _module, _inputs, output: self.autoencoder(output)  # noqa: E731
        with forward_hook(get_layer(self.model, self.layer), insert):
            return self.model(images)


def concept_loss(original_logits: torch.Tensor, logits: torch.Tensor, activations: torch.Tensor,
                 reconstruction: torch.Tensor, codes: torch.Tensor,
                 lambdas: tuple[float, float, float] = (1.0, 1.0, 0.1)) -> dict:
    """The three terms and their weighted sum: {"shallow", "deep", "interp", "total"}."""
    shallow = F.l1_loss(reconstruction, activations)
    deep = F.kl_div(F.log_softmax(logits, 1), F.log_softmax(original_logits, 1),
                    log_target=True, reduction="batchmean")
    interp = codes.abs().mean()
    total = lambdas[0] * shallow + lambdas[1] * deep + lambdas[2] * interp
    return {"shallow": shallow, "deep": deep, "interp": interp, "total": total}


class TrainedConcepts(NamedTuple):
    """What :func:`train_concepts` returns."""

    model: WithConcepts     # the classifier with the trained autoencoder inserted
    history: dict           # fit's history: "train_loss" (the total), "shallow", "deep", "interp"


def train_concepts(model: nn.Module, layer: str, images: torch.Tensor, concepts: int = 4,
                   hidden: int = 16, epochs: int = 10, batch_size: int = 16, lr: float = 2e-3,
                   lambdas: tuple[float, float, float] = (1.0, 1.0, 0.1), seed: int = 0,
                   progress: bool = True, checkpoint=None) -> TrainedConcepts:
    """Train a :class:`ConceptAutoencoder` on ``layer`` of the frozen ``model`` with Adam.

    ``images``: float (N, C, H, W) in [0, 1]. Training is :func:`helpers.train.fit` on
    the autoencoder alone, with a step that computes :func:`concept_loss` on a batch of
    image indices; the classifier stays in eval mode with frozen weights, and its state
    is restored afterwards. ``checkpoint`` (a path) reloads a saved autoencoder instead
    of training (see :func:`helpers.train.checkpoint_path`; its settings must include
    everything the autoencoder depends on: the classifier, layer, concepts, lambdas).
    Returns :class:`TrainedConcepts`: the model with concepts inserted (autoencoder in
    eval mode) and the per-epoch history: ``"train_loss"`` is the weighted total, and
    ``"shallow"``, ``"deep"``, ``"interp"`` the terms (batch means).
    """
    check_images("images", images)
    check_positive_int("epochs", epochs)
    module, device = get_layer(model, layer), model_device(model)
    images = images.detach().to(device)
    with model_state_guard(model):
        # The targets: the layer's activations A and the original logits, once.
        with capture(module) as captured:
            original_logits = logits(model, images).to(device)
        targets = torch.cat(captured)
        torch.manual_seed(seed)           # the autoencoder's initial weights
        autoencoder = ConceptAutoencoder(targets.shape[1], concepts, hidden)
        wrapped = WithConcepts(model, layer, autoencoder)

        def step(autoencoder: ConceptAutoencoder, index: torch.Tensor) -> dict:
            """The loss on the images ``index`` (B,); fit back-propagates it."""
            codes = autoencoder.encoder(targets[index])
            terms = concept_loss(original_logits[index], wrapped(images[index]),
                                 targets[index], autoencoder.decoder(codes), codes, lambdas)
            return {"loss": terms["total"],
                    **{key: terms[key].item() for key in ("shallow", "deep", "interp")}}

        def shuffled_indices(generator: torch.Generator) -> tuple[torch.Tensor, ...]:
            """One epoch: a seeded permutation of the image indices, in batches."""
            return torch.randperm(len(images), generator=generator).split(batch_size)

        history = fit(autoencoder, None, epochs=epochs, batch_size=batch_size,
                      optimizer="adam", lr=lr, step=step, batches=shuffled_indices,
                      seed=seed, device=device, checkpoint=checkpoint, progress=progress,
                      desc="concept autoencoder")
    return TrainedConcepts(wrapped, history)
