"""Training and evaluation: seeding, device choice, ``fit`` with a progress bar and history.

A *history* is a plain dict of per-epoch lists (``epoch``, ``train_loss``, ``train_acc``,
``val_loss``, ``val_acc``, ``lr``, ``seconds``); accuracies are fractions in [0, 1].
:func:`helpers.plots.training_curves` draws it.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from helpers import data as datasets
from helpers.models import Classifier, build_model, replace_head
from helpers.paths import output_dir

OPTIMIZERS = ("sgd", "adam")


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for a reproducible run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def get_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA if available, else Apple's MPS, else CPU; otherwise ``torch.device(device)``."""
    if str(device) != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _loader(data: Dataset, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)


def _freeze_frozen_batchnorm(model: nn.Module) -> None:
    """Put BatchNorm layers whose parameters are all frozen in eval mode (fixed statistics)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            parameters = list(module.parameters())
            if parameters and not any(p.requires_grad for p in parameters):
                module.eval()


def _optimizer(name: str, parameters, lr: float, momentum: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr)
    raise ValueError(f"optimizer={name!r}: expected one of {', '.join(OPTIMIZERS)}.")


def fit(model: nn.Module, train_data: Dataset, val_data: Dataset | None = None, *,
        epochs: int, batch_size: int = 64, optimizer: str = "sgd", lr: float = 0.01,
        momentum: float = 0.9, lr_gamma: float | None = None, loss_fn=None, seed: int = 0,
        device: str = "auto", checkpoint: str | Path | None = None, progress: bool = True,
        desc: str = "train", penalty=None) -> dict:
    """Train ``model`` in place on ``train_data`` and return its history.

    Only parameters with ``requires_grad`` are optimized (see ``freeze_all_but_head``).
    ``lr_gamma`` enables ``ExponentialLR`` (lr ← lr·gamma after each epoch). ``loss_fn``
    maps (logits, targets) to a scalar (default: cross-entropy). ``val_data`` is evaluated
    after each epoch. ``penalty``, when given, maps the model to a scalar tensor that is
    added to every step's loss (a regularizer, see :mod:`helpers.regularization`); it is
    called right after the forward pass, so it may read activations that hooks captured.
    The history's ``train_loss`` includes it. With ``checkpoint``, a saved run is loaded
    instead of training when the file exists; otherwise the trained weights and history
    are saved there.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r}: expected a positive int.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}: expected a positive int.")
    if lr <= 0:
        raise ValueError(f"lr={lr!r}: expected a positive learning rate.")
    if len(train_data) == 0:
        raise ValueError("train_data is empty.")
    if penalty is not None and not callable(penalty):
        raise TypeError(f"penalty={penalty!r}: expected a function model → scalar tensor.")
    device = get_device(device)
    if checkpoint is not None and Path(checkpoint).exists():
        saved = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(saved["state_dict"])
        model.to(device)
        print(f"{desc}: loaded {Path(checkpoint).name} (delete it to train again)")
        return saved["history"]

    set_seed(seed)
    model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("model has no trainable parameters (all requires_grad=False).")
    opt = _optimizer(optimizer, trainable, lr, momentum)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(opt, lr_gamma) if lr_gamma else None
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    loader = _loader(train_data, batch_size, shuffle=True, seed=seed)
    history = {key: [] for key in ("epoch", "train_loss", "train_acc", "val_loss",
                                   "val_acc", "lr", "seconds")}
    bar = tqdm(total=epochs * len(loader), desc=desc, disable=not progress,
               leave=False, mininterval=0.5)
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            model.train()
            _freeze_frozen_batchnorm(model)
            total_loss, correct, seen = 0.0, 0, 0
            for images, labels in loader:
                images, labels = images.to(device), labels.to(device)
                logits = model(images)
                loss = loss_fn(logits, labels)
                if penalty is not None:
                    loss = loss + penalty(model)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total_loss += loss.item() * len(labels)
                correct += (logits.argmax(1) == labels).sum().item()
                seen += len(labels)
                bar.update()
            history["epoch"].append(epoch)
            history["train_loss"].append(total_loss / seen)
            history["train_acc"].append(correct / seen)
            history["lr"].append(opt.param_groups[0]["lr"])
            if scheduler:
                scheduler.step()
            if val_data is not None:
                scores = evaluate(model, val_data, batch_size=max(batch_size, 256), device=device)
                history["val_loss"].append(scores["loss"])
                history["val_acc"].append(scores["accuracy"])
            history["seconds"].append(time.perf_counter() - start)
            bar.set_postfix(loss=f"{history['train_loss'][-1]:.3f}",
                            acc=f"{history['train_acc'][-1]:.3f}")
    finally:
        bar.close()
    model.eval()
    if checkpoint is not None:
        _save_checkpoint(Path(checkpoint), model, history)
    return history


def _save_checkpoint(path: Path, model: nn.Module, history: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save({"state_dict": model.state_dict(), "history": history}, temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@torch.no_grad()
def predict(model: nn.Module, data: Dataset, batch_size: int = 256,
            device: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax probabilities (N, K) and true labels (N,) on ``data``, in eval mode.

    The model's ``training`` flag is restored afterwards.
    """
    device = get_device(device)
    was_training = model.training
    model.eval().to(device)
    try:
        probabilities, labels = [], []
        for images, targets in _loader(data, batch_size, shuffle=False):
            probabilities.append(F.softmax(model(images.to(device)), dim=1).cpu())
            labels.append(torch.as_tensor(targets))
        return torch.cat(probabilities), torch.cat(labels)
    finally:
        model.train(was_training)


def evaluate(model: nn.Module, data: Dataset, batch_size: int = 256,
             device: str = "auto") -> dict:
    """``{"loss": mean cross-entropy, "accuracy": fraction in [0, 1]}`` of ``model`` on ``data``."""
    probabilities, labels = predict(model, data, batch_size, device)
    loss = F.nll_loss(torch.log(probabilities.clamp_min(1e-12)), labels).item()
    accuracy = (probabilities.argmax(1) == labels).float().mean().item()
    return {"loss": loss, "accuracy": accuracy}


def evaluate_domains(model: nn.Module, test_sets: dict[str, Dataset], **kwargs) -> dict[str, float]:
    """Accuracy of ``model`` on each named test set: ``{"SVHN": 0.91, "MNIST": 0.55}``."""
    if not test_sets:
        raise ValueError("test_sets is empty: pass {domain name: dataset}.")
    return {domain: evaluate(model, data, **kwargs)["accuracy"] for domain, data in test_sets.items()}


def pretrained_model(profile, num_classes: int = 10, batchnorm: bool = True,
                     dropout: float = 0.0, seed: int = 0, progress: bool = True) -> Classifier:
    """The profile's model with pretrained weights and a fresh ``num_classes`` head.

    ``profile.pretraining`` says what "pretrained" means: ``"imagenet"`` loads torchvision's
    ImageNet weights (network needed once); ``"letters"`` trains the backbone on the
    embedded printed-letters task (26 classes; cached under ``outputs/pretrained/``), an
    offline stand-in for ImageNet pretraining.
    """
    if profile.pretraining == "imagenet":
        return build_model(profile.model, num_classes, profile.width, batchnorm, dropout,
                           imagenet_weights=True)
    if profile.pretraining != "letters":
        raise ValueError(f"profile.pretraining={profile.pretraining!r}: expected 'imagenet' or 'letters'.")
    set_seed(seed)
    model = build_model(profile.model, 26, profile.width, batchnorm, dropout)
    letters = datasets.load("letters", "train", size=profile.train_size, seed=seed,
                            source="standin")
    name = f"letters-{profile.model}-w{profile.width}-bn{int(batchnorm)}-n{len(letters)}-s{seed}.pt"
    fit(model, letters, epochs=profile.epochs, batch_size=profile.batch_size, optimizer="adam",
        lr=profile.adam_lr, seed=seed, checkpoint=output_dir("pretrained") / name,
        progress=progress, desc="pretrain on letters")
    set_seed(seed)  # the same new head whether the backbone was trained or loaded
    return replace_head(model, num_classes)
