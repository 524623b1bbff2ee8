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
concept codes: few concepts active per position are easier to name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from helpers.causal import _layer
from helpers.models import model_state_guard


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
        handle = _layer(self.model, self.layer).register_forward_hook(
            lambda _module, _inputs, output: self.autoencoder(output))
        try:
            return self.model(images)
        finally:
            handle.remove()


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


def train_concepts(model: nn.Module, layer: str, images: torch.Tensor, concepts: int = 4,
                   hidden: int = 16, epochs: int = 10, batch_size: int = 16, lr: float = 2e-3,
                   lambdas: tuple[float, float, float] = (1.0, 1.0, 0.1), seed: int = 0,
                   progress: bool = True) -> tuple[WithConcepts, dict]:
    """Train a :class:`ConceptAutoencoder` on ``layer`` of the frozen ``model``.

    ``images``: float (N, C, H, W) in [0, 1]. Returns the model with concepts inserted
    (autoencoder in eval mode) and a history ``{"epoch", "shallow", "deep", "interp", "total"}`` of
    per-epoch means. The original model's state is restored afterwards.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or len(images) == 0:
        raise ValueError("images: expected a non-empty float tensor (N, C, H, W).")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r}: expected a positive int.")
    module = _layer(model, layer)
    torch.manual_seed(seed)
    with model_state_guard(model):
        captured = []
        handle = module.register_forward_hook(lambda _m, _i, output: captured.append(output))
        with torch.no_grad():
            original_logits = model(images)
        handle.remove()
        targets = captured.pop()
        autoencoder = ConceptAutoencoder(targets.shape[1], concepts, hidden)
        wrapped = WithConcepts(model, layer, autoencoder)
        optimizer = torch.optim.Adam(autoencoder.parameters(), lr=lr)
        history = {key: [] for key in ("epoch", "shallow", "deep", "interp", "total")}
        generator = torch.Generator().manual_seed(seed)
        for epoch in tqdm(range(1, epochs + 1), desc="concept autoencoder", disable=not progress):
            sums = dict.fromkeys(("shallow", "deep", "interp", "total"), 0.0)
            order = torch.randperm(len(images), generator=generator)
            for start in range(0, len(images), batch_size):
                batch = order[start:start + batch_size]
                codes = autoencoder.encoder(targets[batch])
                reconstruction = autoencoder.decoder(codes)
                logits = wrapped(images[batch])
                terms = concept_loss(original_logits[batch], logits, targets[batch],
                                     reconstruction, codes, lambdas)
                optimizer.zero_grad()
                terms["total"].backward()
                optimizer.step()
                for key in sums:
                    sums[key] += terms[key].item() * len(batch) / len(images)
            history["epoch"].append(epoch)
            for key, value in sums.items():
                history[key].append(value)
    autoencoder.eval()   # the wrapped model keeps its own mode
    return wrapped, history
