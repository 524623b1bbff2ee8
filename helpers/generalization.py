"""Chapter 1 (generalization under domain shift): one training run per configuration.

A configuration is a dict of the training choices the chapter varies (see
:data:`CHOICES`); :func:`recipe` gives its fit settings (the profile's, with the
per-choice changes of ``profile.generalization``); :func:`run` trains one model with
them on a source domain and evaluates it on every test domain; :func:`finetune_head`
retrains only the head on a few target images; :func:`pretrained_model` gives the
"pretrained" starting point.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from torchvision.transforms import v2

from helpers import data as datasets
from helpers.losses import LabelSmoothingCrossEntropy
from helpers.models import Classifier, build_model, freeze_all_but_head, replace_head
from helpers.paths import output_dir
from helpers.train import evaluate_domains, fit, set_seed

#: The training choices of the chapter and their baseline values.
CHOICES = {
    "batchnorm": True,        # False: every BatchNorm layer replaced by the identity
    "dropout": 0.0,           # dropout probability before the head
    "label_smoothing": 0.0,   # alpha of the label-smoothing loss (0 = plain cross-entropy)
    "augment": False,         # digit-safe augmentation (no flips)
    "pretrained": False,      # start from pretrained weights (see pretrained_model)
    "optimizer": "sgd",       # "sgd" (momentum 0.9) or "adam"
}


class Run(NamedTuple):
    """What :func:`run` returns: the trained model, its training history (see
    :mod:`helpers.train`) and its accuracy in [0, 1] per test-set name."""

    model: Classifier
    history: dict
    accuracies: dict[str, float]


class Finetuned(NamedTuple):
    """What :func:`finetune_head` returns (the model itself is changed in place)."""

    history: dict
    accuracies: dict[str, float]


def recipe(profile, **choices) -> dict:
    """The fit settings of one run: ``epochs``, ``batch_size``, ``optimizer``, ``lr``,
    ``lr_gamma`` and ``augment_probability`` (the chance, in [0, 1], that a training
    image is augmented; 0 without augmentation).

    The profile's values, except where ``profile.generalization`` changes them for one
    choice: ``no_batchnorm`` (settings for ``batchnorm=False``) and
    ``augment_probability`` (for ``augment=True``). ``choices`` as in :func:`run`.
    """
    unknown = set(choices) - set(CHOICES)
    if unknown:
        raise ValueError(f"Unknown training choice(s) {sorted(unknown)}; known: {list(CHOICES)}.")
    config = {**CHOICES, **choices}
    settings = {"epochs": profile.epochs, "batch_size": profile.batch_size,
                "sgd_lr": profile.sgd_lr, "adam_lr": profile.adam_lr}
    if not config["batchnorm"]:
        settings.update(profile.generalization.no_batchnorm)
    adam = config["optimizer"] == "adam"
    return {"epochs": settings["epochs"], "batch_size": settings["batch_size"],
            "optimizer": config["optimizer"],
            "lr": settings["adam_lr"] if adam else settings["sgd_lr"],
            "lr_gamma": profile.lr_gamma,
            "augment_probability": (profile.generalization.augment_probability
                                    if config["augment"] else 0.0)}


def run(profile, source_train, test_sets: dict, seed: int = 0, progress: bool = True,
        desc: str = "train", checkpoint: str | Path | None = None, val_data=None,
        **choices) -> Run:
    """Train the profile's model on ``source_train`` with ``choices``; evaluate on ``test_sets``.

    ``choices`` override :data:`CHOICES` (unknown keys raise ``ValueError``); the fit
    settings are :func:`recipe`'s. ``val_data``: a dataset scored after every epoch
    (the history's ``val_loss``/``val_acc``, drawn dashed by the training curves).
    ``checkpoint``: reload-or-train file for :func:`helpers.train.fit` (key it by the
    profile, the seed and ``choices``, e.g. with :func:`helpers.train.checkpoint_path`).
    """
    settings = recipe(profile, **choices)
    config = {**CHOICES, **choices}
    set_seed(seed)
    if config["pretrained"]:
        model = pretrained_model(profile, 10, config["batchnorm"], config["dropout"], seed,
                                 progress=progress)
    else:
        model = build_model(profile.model, 10, profile.width, config["batchnorm"],
                            config["dropout"])
    train_data = source_train
    if settings["augment_probability"] > 0:
        augment = datasets.digit_augmentation()
        if settings["augment_probability"] < 1:
            augment = v2.RandomApply([augment], p=settings["augment_probability"])
        train_data = source_train.with_transform(augment)
    loss_fn = (LabelSmoothingCrossEntropy(config["label_smoothing"])
               if config["label_smoothing"] else None)
    history = fit(model, train_data, val_data, epochs=settings["epochs"],
                  batch_size=settings["batch_size"], optimizer=settings["optimizer"],
                  lr=settings["lr"], lr_gamma=settings["lr_gamma"], loss_fn=loss_fn,
                  seed=seed, progress=progress, desc=desc, checkpoint=checkpoint)
    return Run(model, history, evaluate_domains(model, test_sets))


def finetune_head(model, target_train, test_sets: dict, profile, seed: int = 0,
                  progress: bool = True, checkpoint: str | Path | None = None) -> Finetuned:
    """Freeze all but the head of ``model`` and train the head on ``target_train``.

    Uses Adam for ``profile.generalization.finetune_epochs`` epochs; ``model`` is
    changed in place. ``checkpoint`` as in :func:`run` (key it by the model it starts
    from too: a loaded file replaces the whole model, backbone included).
    """
    freeze_all_but_head(model)
    history = fit(model, target_train, epochs=profile.generalization.finetune_epochs,
                  batch_size=min(profile.batch_size, len(target_train)), optimizer="adam",
                  lr=profile.adam_lr, seed=seed, progress=progress, desc="fine-tune head",
                  checkpoint=checkpoint)
    return Finetuned(history, evaluate_domains(model, test_sets))


def pretrained_model(profile, num_classes: int = 10, batchnorm: bool = True,
                     dropout: float = 0.0, seed: int = 0, progress: bool = True) -> Classifier:
    """The profile's model with pretrained weights and a fresh ``num_classes`` head.

    ``profile.pretraining`` says what "pretrained" means: ``"imagenet"`` loads torchvision's
    ImageNet weights (network needed once); ``"letters"`` trains the backbone on the
    embedded printed-letters task (26 classes; cached under ``outputs/pretrained/``), an
    offline stand-in for ImageNet pretraining. The new head depends only on ``seed``:
    it is the same whether the backbone was trained now or loaded from the cache.
    """
    if profile.pretraining == "imagenet":
        return build_model(profile.model, num_classes, profile.width, batchnorm, dropout,
                           imagenet_weights=True)
    if profile.pretraining != "letters":
        raise ValueError(f"profile.pretraining={profile.pretraining!r}: "
                         f"expected 'imagenet' or 'letters'.")
    set_seed(seed)
    model = build_model(profile.model, 26, profile.width, batchnorm, dropout)
    letters = datasets.load("letters", "train", size=profile.train_size, seed=seed,
                            source="standin")
    # fit refuses a cached file trained with other epochs, batch size or learning rate
    name = (f"letters-{profile.model}-w{profile.width}-bn{int(batchnorm)}-n{len(letters)}"
            f"-s{seed}.pt")
    fit(model, letters, epochs=profile.epochs, batch_size=profile.batch_size, optimizer="adam",
        lr=profile.adam_lr, seed=seed, checkpoint=output_dir("pretrained") / name,
        progress=progress, desc="pretrain on letters")
    set_seed(seed)  # the same new head whether the backbone was trained or loaded
    return replace_head(model, num_classes)
