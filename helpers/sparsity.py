"""Chapter 6 (sparsity): regularized training, density, attacks, attribution stability, trust.

The penalties and the density are in :mod:`helpers.regularization`, the attribution
maps in :mod:`helpers.attribution`, the attacks in :mod:`helpers.attacks`; the figures
in :mod:`helpers.sparsity_plots`. This module holds the chapter's two small networks
and its experiments, each returning a tidy pandas table:

- :func:`density_sweep`: a single-layer CNN trained with the activation penalty
  ``λ Σ|a|`` for several λ: accuracy and average density;
- :func:`train_regularized`: the Base / L1 / L2 / ElasticNet models (weight penalties);
- :func:`attack_table`: their accuracy under DeepFool, FGSM and PGD;
- :func:`stability_table`: SSD between occlusion maps of two patch sizes and between
  Grad-CAM maps of an image and of its blurred copy;
- :func:`explanation_maps` and :func:`mean_deletion_curves`: every attribution method of
  the chapter on the same images, and their mean deletion and insertion curves;
- :func:`with_cue` and :func:`trust_table`: a planted spurious cue (a coloured corner
  patch that gives the class away) and the trustworthiness score of a model's criteria;
- :func:`train_seeds`: the unpenalized recipe trained once per seed, for the run-to-run
  variability of :func:`helpers.faithfulness.run_variability`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from helpers import attacks, attribution, faithfulness, lime, regularization
from helpers.data import ImageDataset
from helpers.data.cifar import CLASSES, drawn_objects_with_masks
from helpers.models import Classifier, ResNet18Cifar, build_model
from helpers.train import evaluate, fit, set_seed

REGULARIZERS = {"Base": "none", "L1": "l1", "L2": "l2", "ElasticNet": "elastic_net"}
ARCHITECTURES = ("cam_cnn", "resnet18_cifar")
# ten well separated colours for the spurious cue, one per class (RGB in [0, 1])
CUE_COLOURS = torch.tensor([
    (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 1.0, 0.0), (1.0, 0.0, 1.0),
    (0.0, 1.0, 1.0), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (1.0, 0.5, 0.0), (0.5, 0.0, 1.0)])


# --- the networks -------------------------------------------------------------------------

def cam_cnn(width: int = 8, num_classes: int = 10) -> Classifier:
    """A small CNN that CAM can explain: three 3×3 conv + ReLU blocks (width, 2·width,
    4·width channels; max-pooling after the first two), then global average pooling and
    the linear head ``fc``. A 32×32 input gives 8×8 feature maps in the last block.

    No BatchNorm: it would undo a weight penalty's scale (BN rescales the activations),
    and the penalties are the point of the chapter.
    """
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width={width!r}: expected a positive int.")
    layers, channels = [], 3
    for index, out in enumerate((width, 2 * width, 4 * width)):
        layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU()]
        if index < 2:
            layers.append(nn.MaxPool2d(2))
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Classifier(nn.Sequential(*layers), channels, num_classes)


def single_layer_cnn(width: int = 16, num_classes: int = 10) -> Classifier:
    """One 5×5 conv layer + ReLU (the code whose density we measure), 4×4 average
    pooling to a 4×4 grid, and the linear head: the spec's single-layer CNN."""
    features = nn.Sequential(nn.Conv2d(3, width, 5, padding=2), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(4), nn.Flatten())
    return Classifier(features, 16 * width, num_classes)


def build(arch: str = "cam_cnn", width: float = 8, num_classes: int = 10) -> Classifier:
    """The chapter's model ``arch`` (one of :data:`ARCHITECTURES`): :func:`cam_cnn`, or
    the CIFAR ResNet-18 of :mod:`helpers.models` (global pooling before ``fc``, so CAM
    applies to it too) for the full profile."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch={arch!r}: expected one of {', '.join(ARCHITECTURES)}.")
    if arch == "cam_cnn":
        return cam_cnn(int(width), num_classes)
    return build_model("resnet18_cifar", num_classes, width)


def hidden_layers(model: Classifier) -> list[nn.Module]:
    """The modules whose outputs are the hidden units whose density we measure: the
    ReLUs of a sequential backbone, or the four residual stages of a ResNet."""
    if isinstance(model.features, ResNet18Cifar):
        backbone = model.features
        return [backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4]
    return [module for module in model.features if isinstance(module, nn.ReLU)]


def cam_layer(model: Classifier) -> nn.Module:
    """The layer whose feature maps A CAM and Grad-CAM read: the last hidden layer."""
    return hidden_layers(model)[-1]


# --- training ----------------------------------------------------------------------------

class Trained(NamedTuple):
    """A trained model and its :func:`helpers.train.fit` history."""
    model: Classifier
    history: dict


def train_regularized(train_set, kind: str, lam: float, *, alpha: float = 0.5,
                      arch: str = "cam_cnn", width: float = 8, epochs: int = 4,
                      batch_size: int = 32, lr: float = 2e-3, seed: int = 0,
                      val_set=None, progress: bool = True, desc: str | None = None,
                      checkpoint: str | Path | None = None) -> Trained:
    """A :func:`build` model trained with Adam and the weight penalty ``kind`` (see
    :func:`helpers.regularization.weight_penalty`), or reloaded from ``checkpoint``
    (:func:`helpers.train.fit`; name it with every setting above, e.g. by
    :func:`helpers.train.checkpoint_path`: ``fit`` sees neither the penalty nor
    ``val_set``). With ``val_set`` the history holds its loss and accuracy after every
    epoch (``val_loss``, ``val_acc``); ``train_loss`` includes the penalty."""
    set_seed(seed)
    model = build(arch, width, len(CLASSES))
    penalty = regularization.weight_penalty(kind, lam, alpha)
    history = fit(model, train_set, val_set, epochs=epochs, batch_size=batch_size,
                  optimizer="adam", lr=lr, seed=seed, penalty=penalty, progress=progress,
                  desc=desc or f"train {kind}", checkpoint=checkpoint)
    return Trained(model, history)


def density_sweep(train_set, test_set, lambdas, *, width: int = 16, epochs: int = 3,
                  batch_size: int = 32, lr: float = 2e-3, seed: int = 0,
                  progress: bool = True,
                  checkpoint: Callable[[float], str | Path] | None = None) -> pd.DataFrame:
    """Train :func:`single_layer_cnn` with the activation penalty ``λ Σ|a|`` for each λ
    (or reload it: ``checkpoint(λ)`` names the file of that λ's model, see
    :func:`train_regularized`).

    Returns a table indexed by λ with the test ``accuracy`` and the ``density`` (average
    fraction of active conv units per test image).
    """
    rows = []
    for lam in lambdas:
        set_seed(seed)
        model = single_layer_cnn(width, len(CLASSES))
        layers = hidden_layers(model)
        with regularization.ActivationPenalty(model, layers, lam) as penalty:
            fit(model, train_set, epochs=epochs, batch_size=batch_size, optimizer="adam", lr=lr,
                seed=seed, penalty=penalty if lam > 0 else None, progress=progress,
                desc=f"λ = {lam:g}",
                checkpoint=None if checkpoint is None else checkpoint(lam))
        rows.append({"λ": lam, "accuracy": evaluate(model, test_set)["accuracy"],
                     "density": regularization.average_density(model, test_set, layers)})
    return pd.DataFrame(rows).set_index("λ")


def model_summary(models: dict, test_set) -> pd.DataFrame:
    """Accuracy, average density of the hidden units and share of near-zero weights."""
    rows = {name: {"accuracy": evaluate(model, test_set)["accuracy"],
                   "density": regularization.average_density(model, test_set,
                                                             hidden_layers(model)),
                   "zero weights": regularization.sparsity_of_weights(model)}
            for name, model in models.items()}
    return pd.DataFrame(rows).T


# --- attacks -----------------------------------------------------------------------------

def attack_table(models: dict, images: torch.Tensor, labels: torch.Tensor, *, eps: float,
                 pgd_steps: int = 5, deepfool_iter: int = 50, seed: int = 0) -> pd.DataFrame:
    """Accuracy (fractions) of each model on ``images`` clean and under DeepFool, FGSM and
    PGD (ε in pixel units, step 2.5·ε/steps, random start), plus DeepFool's median L2
    perturbation over the images it fooled (larger = further from the boundary)."""
    rows = {}
    for name, model in models.items():
        generator = torch.Generator().manual_seed(seed)
        fooled = attacks.deepfool(model, images, max_iter=deepfool_iter)
        runs = {"clean": images, "DeepFool": fooled,
                "FGSM": attacks.fgsm(model, images, labels, eps),
                "PGD": attacks.pgd(model, images, labels, eps, min(eps, 2.5 * eps / pgd_steps),
                                   pgd_steps, random_start=True, generator=generator)}
        row = {attack: (attacks.predict_labels(model, batch) == labels).float().mean().item()
               for attack, batch in runs.items()}
        moved = (fooled - images).flatten(1).norm(dim=1)
        changed = attacks.predict_labels(model, fooled) != attacks.predict_labels(model, images)
        row["DeepFool median ‖δ‖₂"] = moved[changed].median().item() if changed.any() else np.nan
        rows[name] = row
    return pd.DataFrame(rows).T


# --- attribution stability ---------------------------------------------------------------

def stability_maps(model: Classifier, images: torch.Tensor, *, sigma: float = 0.5,
                   baseline: float = 0.5) -> dict[str, torch.Tensor]:
    """The four maps the stability table compares, each (N, H, W) normalized to [0, 1]:
    occlusion with a 4×4 and a 2×2 grey patch (stride 2), Grad-CAM of the images and of
    their Gaussian-blurred copies (σ in pixels), all for the class predicted on the image."""
    targets = attacks.predict_labels(model, images)
    layer = cam_layer(model)
    blurred = attribution.gaussian_blur(images, sigma)
    return {"occlusion 4×4": attribution.occlusion(model, images, targets, window=4, stride=2,
                                                   baseline=baseline),
            "occlusion 2×2": attribution.occlusion(model, images, targets, window=2, stride=2,
                                                   baseline=baseline),
            "Grad-CAM": attribution.grad_cam(model, images, layer, targets),
            "Grad-CAM (blurred)": attribution.grad_cam(model, blurred, layer, targets)}


class Stability(NamedTuple):
    """What :func:`stability_table` returns (see there)."""
    table: pd.DataFrame
    per_image: dict


def stability_table(models: dict, images: torch.Tensor, *, sigma: float = 0.5) -> Stability:
    """SSD per model on the same images: returns ``Stability(table, per_image)``.

    ``table``: rows "sliding patch" (occlusion 4×4 vs 2×2) and "Grad-CAM" (image vs
    blurred), one "mean ± std (median)" string per model (the SSDs are heavy-tailed: a
    few images with very different maps move the mean); ``per_image``: ``{model: {row: (N,)
    numpy SSDs}}`` for plots and checks. Lower SSD = more stable attribution.
    """
    per_image, cells = {}, {}
    for name, model in models.items():
        maps = stability_maps(model, images, sigma=sigma)
        per_image[name] = {
            "sliding patch": attribution.ssd(maps["occlusion 4×4"], maps["occlusion 2×2"]).numpy(),
            "Grad-CAM": attribution.ssd(maps["Grad-CAM"], maps["Grad-CAM (blurred)"]).numpy()}
        cells[name] = {row: f"{values.mean():.2f} ± {values.std():.2f} "
                            f"(median {np.median(values):.2f})"
                       for row, values in per_image[name].items()}
    return Stability(pd.DataFrame(cells), per_image)


# --- every method, and how faithful it is ---------------------------------------------------

EXPLANATIONS = ("CAM", "Grad-CAM", "Grad-CAM++", "guided backprop", "Guided Grad-CAM",
                "occlusion 4×4", "LIME")


def explanation_maps(model: Classifier, images: torch.Tensor,
                     targets: torch.Tensor | None = None, *, window: int = 4,
                     lime_samples: int = 300, lime_cell: int = 4,
                     seed: int = 0) -> dict[str, torch.Tensor]:
    """Every attribution method of the chapter (:data:`EXPLANATIONS`) for ``images``
    (N, 3, H, W) in [0, 1] and ``targets`` (N,) (default: the predicted classes):
    ``{method: maps (N, H, W) in [0, 1]}``. The CAM family reads :func:`cam_layer`;
    occlusion slides a grey ``window``×``window`` patch (stride 2); LIME fits
    ``lime_samples`` perturbations of a grid of ``lime_cell``-pixel cells painted grey,
    drawn with ``seed`` (:func:`helpers.lime.lime`)."""
    if targets is None:
        targets = attacks.predict_labels(model, images)
    layer = cam_layer(model)
    return {"CAM": attribution.cam(model, images, layer, targets),
            "Grad-CAM": attribution.grad_cam(model, images, layer, targets),
            "Grad-CAM++": attribution.grad_cam_plus_plus(model, images, layer, targets),
            "guided backprop": attribution.guided_backprop(model, images, targets),
            "Guided Grad-CAM": attribution.guided_grad_cam(model, images, layer, targets),
            "occlusion 4×4": attribution.occlusion(model, images, targets, window=window),
            "LIME": lime.lime(model, images, targets, cell=lime_cell, samples=lime_samples,
                              seed=seed).maps}


def mean_deletion_curves(model: Classifier, images: torch.Tensor,
                         maps: Mapping[str, torch.Tensor], targets: torch.Tensor, *,
                         steps: int = 16, baseline: float = 0.5) -> dict[str, pd.DataFrame]:
    """The mean deletion and insertion curves of each method's ``maps`` ({method: (N, H,
    W)}) over ``images`` (:func:`helpers.faithfulness.deletion_curves`): ``{"deletion" |
    "insertion": table}``, each indexed by the fraction of pixels deleted (inserted),
    0 … 1, one column per method, values the mean probability of the target class."""
    curves = {}
    for mode in faithfulness.MODES:
        columns = {}
        for method, method_maps in maps.items():
            result = faithfulness.deletion_curves(model, images, method_maps, targets,
                                                  mode=mode, steps=steps, baseline=baseline)
            columns[method] = result.scores.mean(0).numpy()
        index = pd.Index(result.fractions.numpy(), name="fraction of pixels")
        curves[mode] = pd.DataFrame(columns, index=index)
    return curves


# --- the spurious cue and trustworthiness ------------------------------------------------

def with_cue(images: torch.Tensor, labels: torch.Tensor, size: int = 4) -> torch.Tensor:
    """Copies of ``images`` (N, 3, H, W) in [0, 1] with a ``size``×``size`` patch in the
    top-left corner whose colour (:data:`CUE_COLOURS`) gives the class away."""
    if not isinstance(size, int) or not 1 <= size <= min(images.shape[-2:]):
        raise ValueError(f"size={size!r}: expected a positive int no larger than the image.")
    cued = images.clone()
    cued[:, :, :size, :size] = CUE_COLOURS[labels].view(-1, 3, 1, 1)
    return cued


def cued_dataset(dataset: ImageDataset, size: int = 4) -> ImageDataset:
    """``dataset`` with the spurious cue of :func:`with_cue` painted into every image."""
    images, labels = dataset.tensors()
    cued = (with_cue(images, labels, size) * 255).round().to(torch.uint8)
    return ImageDataset(cued, labels, name=dataset.name, split=dataset.split,
                        source=dataset.source, classes=dataset.classes,
                        description=dataset.description + ", with a spurious corner cue")


class MaskedImages(NamedTuple):
    """Images (N, 3, H, W) in [0, 1], labels (N,) and annotated regions, bool (N, H, W)."""
    images: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor


def masked_test_set(size: int, seed: int = 0, margin: int = 2) -> MaskedImages:
    """Stand-in test images (N, 3, 32, 32) in [0, 1], labels (N,) and the annotated
    discriminative regions, bool (N, 32, 32): each object's mask, known by construction,
    grown by ``margin`` pixels (annotations are drawn generously, and a map whose cells
    are 2–4 pixels wide should not miss an object by a pixel)."""
    if not isinstance(margin, int) or margin < 0:
        raise ValueError(f"margin={margin!r}: expected an int >= 0.")
    images, labels, masks = drawn_objects_with_masks("test", size, seed)
    masks = torch.from_numpy(masks).float().unsqueeze(1)
    grown = F.max_pool2d(masks, 2 * margin + 1, stride=1, padding=margin) if margin else masks
    return MaskedImages(torch.from_numpy(images).float() / 255, torch.from_numpy(labels),
                        grown.squeeze(1).bool())


TRUST_METHODS = ("occlusion", "Grad-CAM")


def trust_table(models: dict, labels: torch.Tensor, masks: torch.Tensor, *,
                fraction: float = 0.05, min_overlap: float = 0.5,
                window: int = 4) -> pd.DataFrame:
    """Accuracy and trustworthiness of each model: the share of its correct predictions
    whose top ``fraction`` of attributed pixels lies mostly (``min_overlap``) inside the
    annotated region (:func:`helpers.attribution.trustworthiness`), with occlusion
    (``window``×``window`` grey patch, stride 2) and with Grad-CAM as the attribution.

    ``models``: ``{name: (model, images)}`` with the test images (N, 3, H, W) that model
    is shown (the shortcut model sees them with the cue); ``labels`` (N,) and
    ``masks`` bool (N, H, W) are shared.
    """
    rows = {}
    for name, (model, images) in models.items():
        predicted = attacks.predict_labels(model, images)
        correct = predicted == labels
        maps = {"occlusion": attribution.occlusion(model, images, predicted, window=window),
                "Grad-CAM": attribution.grad_cam(model, images, cam_layer(model), predicted)}
        rows[name] = {"accuracy": correct.float().mean().item(), **{
            f"trust ({method})": attribution.trustworthiness(
                maps[method], masks, correct, fraction, min_overlap)
            for method in TRUST_METHODS}}
    return pd.DataFrame(rows).T


# --- run-to-run variability ----------------------------------------------------------------

def train_seeds(train_set, seeds: Sequence[int], *, known: Mapping[int, Classifier] | None = None,
                checkpoint: Callable[[int], str | Path] | None = None, arch: str = "cam_cnn",
                width: float = 8, epochs: int = 4, batch_size: int = 32, lr: float = 2e-3,
                progress: bool = True) -> dict[str, Classifier]:
    """The unpenalized recipe (:func:`train_regularized` with ``kind="none"``) trained once
    per seed of ``seeds``, on the same data with the same settings: ``{"seed s": model}``.
    ``known`` maps seeds to models already trained with this recipe (reused, not
    retrained); ``checkpoint(s)`` names the file of seed s's model."""
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={seeds!r}: expected at least 2 different seeds.")
    known = known or {}
    models = {}
    for seed in seeds:
        if seed in known:
            models[f"seed {seed}"] = known[seed]
            continue
        models[f"seed {seed}"] = train_regularized(
            train_set, "none", 0.0, arch=arch, width=width, epochs=epochs,
            batch_size=batch_size, lr=lr, seed=seed, progress=progress,
            desc=f"seed {seed}",
            checkpoint=None if checkpoint is None else checkpoint(seed)).model
    return models
