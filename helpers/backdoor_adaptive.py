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

import time

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from helpers.train import evaluate, get_device, set_seed


def discriminator(feature_dim: int, hidden: int = 64) -> nn.Sequential:
    """An MLP (N, feature_dim) → (N,) logit of "this latent comes from a poisoned sample"."""
    if not isinstance(feature_dim, int) or feature_dim < 1:
        raise ValueError(f"feature_dim={feature_dim!r}: expected a positive int.")
    return nn.Sequential(nn.Linear(feature_dim, hidden), nn.ReLU(),
                         nn.Linear(hidden, 1), nn.Flatten(0))


def _balanced_bce(logits: torch.Tensor, targets: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy averaged within poisoned and clean samples, then between them,
    so the few poisoned samples weigh as much as the many clean ones."""
    losses = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return 0.5 * (losses[groups].mean() + losses[~groups].mean())


def train_adaptive(model, data, target_class: int, *, epochs: int, lam: float = 1.0,
                   batch_size: int = 64, lr: float = 2e-3, disc_lr: float = 2e-3,
                   val_data=None, seed: int = 0, device: str = "auto", progress: bool = True,
                   desc: str = "adaptive backdoor") -> tuple[dict, nn.Module]:
    """Train ``model`` (a Classifier) in place on a :class:`~helpers.backdoor.PoisonedDataset`
    with the latent-indistinguishability penalty of weight ``lam`` (Adam for both players).

    Returns ``(history, discriminator)``. The history has :func:`helpers.train.fit`'s keys
    plus ``disc_acc``: the discriminator's balanced accuracy on the target class per epoch
    (0.5 = it cannot tell poisoned from clean).
    """
    if not hasattr(data, "poisoned"):
        raise TypeError("data: expected a PoisonedDataset (it records which samples are poisoned).")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r}: expected a positive int.")
    if lam < 0:
        raise ValueError(f"lam={lam!r}: expected a non-negative weight.")
    device = get_device(device)
    set_seed(seed)
    model.to(device)
    disc = discriminator(model.fc.in_features).to(device)
    model_opt = torch.optim.Adam(model.parameters(), lr=lr)
    disc_opt = torch.optim.Adam(disc.parameters(), lr=disc_lr)
    generator = torch.Generator().manual_seed(seed)
    batches = (len(data) + batch_size - 1) // batch_size
    in_target = data.labels == target_class
    pools = [torch.nonzero(in_target & data.poisoned).flatten(),
             torch.nonzero(in_target & ~data.poisoned).flatten()]
    if min(len(pool) for pool in pools) == 0:
        raise ValueError(f"data: the target class {target_class} needs both poisoned and "
                         f"clean samples.")
    history = {key: [] for key in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc",
                                   "lr", "seconds", "disc_acc")}
    bar = tqdm(total=epochs * batches, desc=desc, disable=not progress, leave=False,
               mininterval=0.5)
    try:
        for epoch in range(1, epochs + 1):
            start, totals = time.perf_counter(), torch.zeros(5)
            model.train()
            for batch in torch.randperm(len(data), generator=generator).split(batch_size):
                batch = torch.cat([batch, _contrast_batch(pools, batch_size // 2, generator)])
                totals += _step(model, disc, model_opt, disc_opt, data, batch, target_class,
                                lam, device)
                bar.update()
            history["epoch"].append(epoch)
            history["train_loss"].append(totals[0].item() / totals[4].item())
            history["train_acc"].append(totals[1].item() / totals[4].item())
            history["disc_acc"].append(totals[2].item() / max(totals[3].item(), 1))
            history["lr"].append(lr)
            if val_data is not None:
                scores = evaluate(model, val_data, device=device)
                history["val_loss"].append(scores["loss"])
                history["val_acc"].append(scores["accuracy"])
            history["seconds"].append(time.perf_counter() - start)
            bar.set_postfix(acc=f"{history['train_acc'][-1]:.3f}",
                            disc=f"{history['disc_acc'][-1]:.2f}")
    finally:
        bar.close()
        model.eval()
    return history, disc


def _contrast_batch(pools, count: int, generator) -> torch.Tensor:
    """``count`` random poisoned and ``count`` random clean target-class indices.

    Poisons are a few percent of the data, so a plain batch holds two or three of them:
    too few for the discriminator to learn from, or for the penalty to act on."""
    return torch.cat([pool[torch.randint(len(pool), (count,), generator=generator)]
                      for pool in pools])


def _step(model, disc, model_opt, disc_opt, data, batch, target_class, lam, device):
    """One batch: a discriminator update, then a model update. Returns (summed loss,
    correct predictions, discriminator balanced accuracy, 1 if D ran, batch size)."""
    images = (data.images[batch].float() / 255.0).to(device)
    labels, poisoned = data.labels[batch].to(device), data.poisoned[batch].to(device)
    z = model.embed(images)
    logits = model.fc(model.dropout(z))
    loss = F.cross_entropy(logits, labels)
    in_target = labels == target_class
    groups = poisoned[in_target]
    disc_accuracy, disc_ran = 0.0, 0
    if groups.any() and not groups.all():
        z_target, truth = z[in_target], groups.float()
        disc_opt.zero_grad(set_to_none=True)
        _balanced_bce(disc(z_target.detach()), truth, groups).backward()
        disc_opt.step()
        guesses = disc(z_target)
        right = (guesses > 0) == groups
        disc_accuracy = 0.5 * (right[groups].float().mean() + right[~groups].float().mean()).item()
        disc_ran = 1
        # L_rep: cross-entropy to "one half" is smallest when D cannot tell the groups apart.
        loss = loss + lam * _balanced_bce(guesses, torch.full_like(truth, 0.5), groups)
    model_opt.zero_grad(set_to_none=True)
    loss.backward()
    model_opt.step()
    return torch.tensor([loss.item() * len(batch), (logits.argmax(1) == labels).sum().item(),
                         disc_accuracy, disc_ran, len(batch)])
