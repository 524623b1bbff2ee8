"""Chapter 4 (backdoors): the adaptive attack of Tan & Shokri (2020).

The attacker controls training (a supply-chain attack: they ship the trained model) and
knows that defenders look for poisoned samples in latent space. Alongside the model they
train a *discriminator* ``D`` that tries to tell, from the penultimate features
``z(x)``, a poisoned sample from a clean one of the same (target) label. The model is
trained on

    L(f(x), y) + λ · L_rep(z(x)),

where ``L_rep`` is small when ``D`` cannot tell the two apart (its output is 1/2 for
every sample). ``D`` and the model are updated in turn on every batch, like a GAN.
Each batch is topped up with equally many poisoned and clean target-class samples, so
that both players see enough of the few poisons (the attacker controls training).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from helpers.checks import check_positive_int


class AdaptiveTraining(NamedTuple):
    """What :func:`helpers.train.fit` runs: ``fit(model, data, step=step, batches=batches,
    optimizer="adam", ...)``; ``discriminator`` is trained by ``step`` as a side effect."""
    step: object
    batches: object
    discriminator: nn.Module


def discriminator(feature_dim: int, hidden: int = 64) -> nn.Sequential:
    """An MLP (N, feature_dim) → (N,) logit of "this latent comes from a poisoned sample"."""
    check_positive_int("feature_dim", feature_dim)
    return nn.Sequential(nn.Linear(feature_dim, hidden), nn.ReLU(),
                         nn.Linear(hidden, 1), nn.Flatten(0))


def balanced_bce(logits: torch.Tensor, targets: torch.Tensor,
                 groups: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy averaged within poisoned (``groups`` True) and clean samples,
    then between them, so the few poisoned samples weigh as much as the many clean ones.
    ``logits``, ``targets`` float (N,); ``groups`` bool (N,); returns a scalar."""
    losses = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return 0.5 * (losses[groups].mean() + losses[~groups].mean())


def adaptive_training(model, data, target_class: int, *, lam: float = 1.0,
                      batch_size: int = 64, disc_lr: float = 2e-3,
                      seed: int = 0) -> AdaptiveTraining:
    """The adaptive attack on ``model`` (a Classifier) and ``data`` (a
    :class:`~helpers.backdoor.PoisonedDataset`) as a step and a batch source for
    :func:`helpers.train.fit`, with the latent-indistinguishability penalty of weight
    ``lam`` and an Adam-trained discriminator (``disc_lr``, initialised from ``seed``).

    The step records ``disc_acc``: the discriminator's balanced accuracy on the target
    class (0.5 = it cannot tell poisoned from clean). Pass ``batch_size`` to fit as well.
    A model that fit loads from a checkpoint comes with an untrained discriminator.
    """
    if not hasattr(data, "poisoned"):
        raise TypeError("data: expected a PoisonedDataset (it records which samples are poisoned).")
    if not isinstance(lam, (int, float)) or lam < 0:
        raise ValueError(f"lam={lam!r}: expected a non-negative weight.")
    check_positive_int("batch_size", batch_size)
    in_target = data.labels == target_class
    pools = [torch.nonzero(in_target & data.poisoned).flatten(),
             torch.nonzero(in_target & ~data.poisoned).flatten()]
    if min(len(pool) for pool in pools) == 0:
        raise ValueError(f"data: the target class {target_class} needs both poisoned and "
                         f"clean samples.")
    # Seeded on its own, so the discriminator does not shift the model's random stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        disc = discriminator(model.fc.in_features)
    return AdaptiveTraining(_step(disc, target_class, lam, disc_lr),
                            _batches(data, pools, batch_size), disc)


def _batches(data, pools, batch_size: int):
    """The batch source: every epoch a shuffled pass over ``data``, each batch topped up
    with ``batch_size // 2`` poisoned and as many clean target-class samples."""

    def batches(generator: torch.Generator) -> _IndexedBatches:
        order = torch.randperm(len(data), generator=generator).split(batch_size)
        return _IndexedBatches(data, [torch.cat([chunk, _contrast(pools, batch_size // 2,
                                                                  generator)])
                                      for chunk in order])

    return batches


class _IndexedBatches:
    """Sized iterable of ``(images float (B, C, H, W) in [0, 1], labels, poisoned)`` for
    lists of sample indices; loads each batch only when it is reached."""

    def __init__(self, data, indices: list[torch.Tensor]):
        self.data, self.indices = data, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self):
        for batch in self.indices:
            yield (self.data.images[batch].float() / 255.0, self.data.labels[batch],
                   self.data.poisoned[batch])


def _contrast(pools, count: int, generator) -> torch.Tensor:
    """``count`` random poisoned and ``count`` random clean target-class indices.

    Poisons are a few percent of the data, so a plain batch holds two or three of them:
    too few for the discriminator to learn from, or for the penalty to act on."""
    return torch.cat([pool[torch.randint(len(pool), (count,), generator=generator)]
                      for pool in pools])


def _step(disc: nn.Module, target_class: int, lam: float, disc_lr: float):
    """The fit step: a discriminator update on the batch's target-class latents, then the
    model's loss: cross-entropy + ``lam`` · L_rep (the model update is fit's)."""
    disc_opt = torch.optim.Adam(disc.parameters(), lr=disc_lr)

    def step(model, batch) -> dict:
        images, labels, poisoned = batch
        disc.to(images.device)  # a no-op after the first batch
        z = model.embed(images)
        logits = model.fc(model.dropout(z))
        loss = F.cross_entropy(logits, labels)
        in_target = labels == target_class
        groups = poisoned[in_target]
        if not groups.any() or groups.all():
            return {"loss": loss, "logits": logits, "labels": labels, "disc_acc": None}
        z_target, truth = z[in_target], groups.float()
        disc_opt.zero_grad(set_to_none=True)
        balanced_bce(disc(z_target.detach()), truth, groups).backward()
        disc_opt.step()
        guesses = disc(z_target)
        right = (guesses > 0) == groups
        disc_acc = 0.5 * (right[groups].float().mean() + right[~groups].float().mean()).item()
        # L_rep: cross-entropy to "one half" is smallest when D cannot tell the groups apart.
        loss = loss + lam * balanced_bce(guesses, torch.full_like(truth, 0.5), groups)
        return {"loss": loss, "logits": logits, "labels": labels, "disc_acc": disc_acc}

    return step
