"""Training and evaluation: seeding, device choice, the one training loop ``fit``.

A *history* is a plain dict of per-epoch lists: ``epoch``, ``train_loss``, ``train_acc``,
``val_loss``, ``val_acc``, ``lr``, ``seconds``, plus one list per extra metric that a
custom step or ``epoch_metrics`` reports. Accuracies are fractions in [0, 1] (NaN when a
step has no logits, e.g. a metric-learning loss). :func:`helpers.plots.training_curves`
draws it.

What differs between the kit's training recipes (plain, regularized, adversarial,
circle loss, the adaptive backdoor, the concept autoencoder) is one *step*: a function
``step(model, batch) -> dict`` that returns the loss to minimize and what to record.
``fit`` owns the rest: optimizer, schedule, progress bar, history, validation and
checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import math
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

from helpers.checks import check_positive_int
from helpers.models import logits as model_logits
from helpers.paths import output_dir

OPTIMIZERS = ("sgd", "adam")
HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


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


# --- steps: what one batch does -----------------------------------------------------------

def classification_step(loss_fn=None, penalty=None):
    """The plain step: logits = model(images), loss = loss_fn(logits, labels) (+ penalty).

    ``loss_fn`` maps (logits, targets) to a scalar (default cross-entropy); ``penalty``,
    when given, maps the model to a scalar tensor added to the loss. It is called right
    after the forward pass, so it may read activations that hooks captured.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    if penalty is not None and not callable(penalty):
        raise TypeError(f"penalty={penalty!r}: expected a function model → scalar tensor.")

    def step(model: nn.Module, batch) -> dict:
        images, labels = batch
        logits = model(images)
        loss = loss_fn(logits, labels)
        if penalty is not None:
            loss = loss + penalty(model)
        return {"loss": loss, "logits": logits, "labels": labels}

    return step


def _batch_size_of(batch) -> int:
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    return len(first)


def _to_device(batch, device: torch.device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(item, device) for item in batch)
    return batch


# --- the loop ---------------------------------------------------------------------------

def fit(model: nn.Module, train_data: Dataset | None, val_data: Dataset | None = None, *,
        epochs: int, batch_size: int = 64, optimizer: str = "sgd", lr: float = 0.01,
        momentum: float = 0.9, lr_gamma: float | None = None, loss_fn=None, penalty=None,
        step=None, batches=None, parameters=None, epoch_metrics=None, seed: int = 0,
        device: str = "auto", checkpoint: str | Path | None = None, progress: bool = True,
        desc: str = "train") -> dict:
    """Train ``model`` in place and return its history (module docstring).

    - Data: each epoch draws shuffled batches of ``batch_size`` from ``train_data``
      (a dataset of (image, label) pairs), or, with ``batches``, iterates
      ``batches(generator)``: any batches at all (``generator`` is the run's seeded
      ``torch.Generator``; use it for every random choice).
    - Step: ``step(model, batch) -> {"loss": scalar tensor, "logits"?, "labels"?, metric:
      float or None, ...}``; default :func:`classification_step` (``loss_fn``,
      ``penalty``). With ``logits`` and ``labels`` the step's accuracy is recorded;
      every other key is averaged over the epoch's batches (``None`` = not measured in
      this batch) and recorded under its name. The step may update other models (e.g.
      an adversary) itself; ``fit`` then back-propagates ``loss`` and steps its optimizer.
    - Optimizer: ``"sgd"`` (with ``momentum``) or ``"adam"`` at ``lr`` over
      ``parameters`` (default: the model's parameters with ``requires_grad``);
      ``lr_gamma`` enables ``ExponentialLR`` (lr ← lr·gamma after each epoch).
    - After each epoch: loss and accuracy on ``val_data`` and ``epoch_metrics(model)``
      (a dict of floats), both in eval mode.
    - ``checkpoint``: a saved run is loaded instead of training when the file exists
      *and* was trained with the same settings (see :func:`checkpoint_path`); otherwise
      the model is trained and saved there. The model ends in eval mode.
    """
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    if not isinstance(lr, (int, float)) or lr <= 0:
        raise ValueError(f"lr={lr!r}: expected a positive learning rate.")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r}: expected one of {', '.join(OPTIMIZERS)}.")
    if batches is None and (train_data is None or len(train_data) == 0):
        raise ValueError("train_data is empty: pass a dataset of (image, label) pairs "
                         "(or a batch source in `batches`).")
    for name, function in (("step", step), ("batches", batches), ("epoch_metrics", epoch_metrics)):
        if function is not None and not callable(function):
            raise TypeError(f"{name}={function!r}: expected a function.")
    if step is not None and (loss_fn is not None or penalty is not None):
        raise ValueError("loss_fn/penalty belong to the default step; with a custom `step`, "
                         "compute the loss inside it.")
    step = step or classification_step(loss_fn, penalty)
    device = get_device(device)
    settings = {"epochs": epochs, "batch_size": batch_size, "optimizer": optimizer, "lr": lr,
                "momentum": momentum, "lr_gamma": lr_gamma, "seed": seed, "desc": desc,
                "train_size": None if train_data is None else len(train_data)}
    if checkpoint is not None:
        saved = _load_checkpoint(Path(checkpoint), settings, device)
        if saved is not None:
            model.load_state_dict(saved["state_dict"])
            model.to(device).eval()
            print(f"{desc}: loaded checkpoint {Path(checkpoint).name} (delete it to train again)")
            return saved["history"]

    set_seed(seed)
    model.to(device)
    trainable = [p for p in (model.parameters() if parameters is None else parameters)
                 if p.requires_grad]
    if not trainable:
        raise ValueError("no trainable parameters: all have requires_grad=False.")
    opt = _optimizer(optimizer, trainable, lr, momentum)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(opt, lr_gamma) if lr_gamma else None
    generator = torch.Generator().manual_seed(seed)
    if batches is None:
        loader = DataLoader(train_data, batch_size=batch_size, shuffle=True, generator=generator)
        batches = lambda _generator: loader  # noqa: E731  (the loader draws from `generator`)
    history = {key: [] for key in HISTORY_KEYS}
    bar = tqdm(desc=desc, disable=not progress, leave=False, mininterval=0.5)
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            model.train()
            _freeze_frozen_batchnorm(model)
            epoch_batches = batches(generator)
            if hasattr(epoch_batches, "__len__"):
                bar.total = epochs * len(epoch_batches)
            sums = {"loss": 0.0, "correct": 0.0, "scored": 0, "seen": 0}
            metrics: dict[str, list[float]] = {}
            for batch in epoch_batches:
                result = step(model, _to_device(batch, device))
                loss = result["loss"]
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                size = _batch_size_of(batch)
                sums["loss"] += loss.item() * size
                sums["seen"] += size
                if result.get("logits") is not None:
                    sums["correct"] += (result["logits"].argmax(1) == result["labels"]).sum().item()
                    sums["scored"] += len(result["labels"])
                for key, value in result.items():
                    if key not in ("loss", "logits", "labels") and value is not None:
                        metrics.setdefault(key, []).append(float(value))
                bar.update()
            record = {"epoch": epoch, "train_loss": sums["loss"] / max(sums["seen"], 1),
                      "train_acc": (sums["correct"] / sums["scored"] if sums["scored"]
                                    else math.nan),
                      "lr": opt.param_groups[0]["lr"]}
            record.update({key: float(np.mean(values)) for key, values in metrics.items()})
            if scheduler:
                scheduler.step()
            if val_data is not None:
                scores = evaluate(model, val_data, batch_size=max(batch_size, 256))
                record.update(val_loss=scores["loss"], val_acc=scores["accuracy"])
            if epoch_metrics is not None:
                model.eval()
                record.update({key: float(value) for key, value in epoch_metrics(model).items()})
                model.train()
                _freeze_frozen_batchnorm(model)
            record["seconds"] = time.perf_counter() - start
            for key, value in record.items():
                history.setdefault(key, []).append(value)
            bar.set_postfix(loss=f"{record['train_loss']:.3f}",
                            **({} if math.isnan(record["train_acc"])
                               else {"acc": f"{record['train_acc']:.3f}"}))
    finally:
        bar.close()
        model.eval()
    if checkpoint is not None:
        _save_checkpoint(Path(checkpoint), model, history, settings)
    return history


# --- checkpoints ------------------------------------------------------------------------

def checkpoint_path(chapter: str, name: str, **settings) -> Path:
    """Where a walkthrough keeps the model ``name`` trained with ``settings``:
    ``<outputs>/<chapter>/checkpoints/<name>-<12 hex digits>.pt``.

    The digits hash ``settings`` (JSON-serializable: the profile's name and chapter
    settings, the seed, ...), so a changed setting names another file and never loads a
    stale model. :func:`fit` also refuses a file trained with other fit arguments.
    """
    if not settings:
        raise ValueError("settings: pass what the model depends on, e.g. profile=P.name, seed=0.")
    text = json.dumps(settings, sort_keys=True, default=repr)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return output_dir(chapter) / "checkpoints" / f"{name}-{digest}.pt"


def _load_checkpoint(path: Path, settings: dict, device: torch.device) -> dict | None:
    if not path.exists():
        return None
    saved = torch.load(path, map_location=device, weights_only=False)
    if saved.get("settings") != settings:
        print(f"{path.name} was trained with other settings; training again.")
        return None
    return saved


def _save_checkpoint(path: Path, model: nn.Module, history: dict, settings: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save({"state_dict": model.state_dict(), "history": history,
                    "settings": settings}, temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


# --- evaluation -------------------------------------------------------------------------

def predict(model: nn.Module, data: Dataset, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax probabilities (N, K) and true labels (N,) on ``data``, in eval mode.

    The model's ``training`` flag is restored afterwards (:func:`helpers.models.logits`).
    """
    outputs, labels = model_logits(model, data, batch_size, with_labels=True)
    return F.softmax(outputs, dim=1), labels


def evaluate(model: nn.Module, data: Dataset, batch_size: int = 256) -> dict:
    """``{"loss": mean cross-entropy, "accuracy": fraction in [0, 1]}`` of ``model`` on ``data``."""
    outputs, labels = model_logits(model, data, batch_size, with_labels=True)
    loss = F.cross_entropy(outputs, labels).item()
    accuracy = (outputs.argmax(1) == labels).float().mean().item()
    return {"loss": loss, "accuracy": accuracy}


def evaluate_domains(model: nn.Module, test_sets: dict[str, Dataset], **kwargs) -> dict[str, float]:
    """Accuracy of ``model`` on each named test set: ``{"SVHN": 0.91, "MNIST": 0.55}``."""
    if not test_sets:
        raise ValueError("test_sets is empty: pass {domain name: dataset}.")
    return {domain: evaluate(model, data, **kwargs)["accuracy"] for domain, data in test_sets.items()}
