"""The one table of experiment scales: ``tiny``, ``quick`` and ``full``.

Every notebook starts with a papermill ``parameters`` cell holding ``profile = "tiny"``
and passes it to :func:`get_profile`. The environment variable ``TAI_PROFILE``, when set,
overrides the notebook's value; that is how an instructor publishes a ``quick`` or
``full`` build of the book (``make book PROFILE=quick``).

- ``tiny``: CI and the default book build. Embedded stand-in data, a small CNN, seconds
  per experiment on 2 CPU cores, no network.
- ``quick``: a student's laptop CPU. Real data subsets when downloaded, a few minutes.
- ``full``: one GPU. The setups of the course's reports (ResNet-18, all data).

Settings shared by every chapter sit at the top level of a profile; settings of one
chapter sit under the chapter's name. :data:`DEFAULTS` holds every setting once (the
``tiny`` values); :data:`OVERRIDES` says what ``quick`` and ``full`` change.
"""

from __future__ import annotations

import os
from types import MappingProxyType, SimpleNamespace

PROFILE_ENV_VAR = "TAI_PROFILE"

#: Every setting, with its ``tiny`` value.
DEFAULTS = {
    "data_source": "standin",    # "auto" = real if downloaded, else the stand-in
    "train_size": 2000,          # per training set; None = everything
    "test_size": 500,
    "model": "small_cnn",
    "width": 8,                  # channels of the first conv layer (small_cnn)
    "batch_size": 32,
    "epochs": 4,
    "sgd_lr": 0.01,
    "adam_lr": 2e-3,
    "lr_gamma": 0.9,             # ExponentialLR decay per epoch
    "pretraining": "letters",    # what "pretrained" means: see helpers.models
    # no_batchnorm: fit settings of the model without BatchNorm; augment_probability:
    # the chance that a training image is augmented. At the tiny scale the plain small
    # CNN, and the fully augmented one, stay on the initial plateau (loss ≈ ln 10) for
    # the whole run: more, smaller steps, and augmenting each image with probability
    # 0.5, let them train (full: the report's settings).
    "generalization": {"finetune_size": 200, "finetune_epochs": 15,
                       "no_batchnorm": {"batch_size": 8, "sgd_lr": 0.02, "epochs": 6},
                       "augment_probability": 0.5},
    # leave-one-class-out on CIFAR-10 (9 ID classes); far OOD = SVHN test + noise
    "ood": {"model": "small_cnn", "width": 16, "train_size": 4000, "test_size": 1000,
            "far_size": 500, "epochs": 5, "batch_size": 32, "lr": 2e-3,
            "lr_gamma": 0.9, "augment": False, "held_out": ("frog", "cat"), "tpr": 0.95},
    # chapter 6: models of helpers.sparsity; λ of each weight penalty; λs of the
    # activation penalty on the single-layer CNN; sample sizes of the attack,
    # stability (SSD) and trustworthiness experiments. Without BatchNorm the small CNNs
    # learn slowly: 12 epochs at lr 1e-2 (6 for the single-layer CNN) reach 70 %+.
    # LIME: perturbations per image, grid cell (pixels); deletion/insertion: images,
    # steps, the value deleted pixels take (grey 0.5 is the normalized input's zero;
    # black makes every map look alike on the stand-in); seeds of the run-to-run study
    "sparsity": {"arch": "cam_cnn", "width": 8, "epochs": 12, "lr": 1e-2,
                 "lambdas": {"L1": 1e-4, "L2": 5e-5, "ElasticNet": 1e-4}, "alpha": 0.5,
                 "density_width": 16, "density_epochs": 6,
                 "density_lambdas": [0, 1e-5, 1e-4], "attack_size": 48,
                 "eps": 4 / 255, "pgd_steps": 5, "deepfool_iter": 20,
                 "stability_size": 40, "sigma": 0.5, "cue_size": 6, "cue_epochs": 3,
                 "trust_size": 60, "top_fraction": 0.05, "lime_samples": 300,
                 "lime_cell": 4, "faithfulness_size": 40, "deletion_steps": 16,
                 "deletion_baseline": 0.5, "variability_seeds": [0, 1, 2]},
    # trades_betas: TRADES' β (the paper's 1/λ; 6 is its CIFAR-10 choice), one model each;
    # trades_steps: steps of TRADES' inner maximization (of size ε / steps; the paper: 10
    # of 2/255); val_size: test images on which every model is measured (clean and PGD)
    # after each epoch; map_size: test images in the 2-D feature maps. tiny keeps these
    # small (one TRADES step of ε) so that the walkthrough stays near its 90 s
    "robustness": {"eps": 6 / 255, "pgd_steps": 5, "train_pgd_steps": 2,
                   "adversarial_fraction": 0.5, "circle_m": 0.4, "circle_gamma": 80,
                   "curve_size": 200, "val_size": 100, "map_size": 200,
                   "map_method": "umap", "trades_betas": [1.0, 6.0], "trades_steps": 1},
    # UCI Adult rows (White/Black, before the 50/50 split); λ per sensitive attribute;
    # the sweep multiplies the λs (0 = no adversary in the game)
    "fairness": {"size": 12000, "pretrain_epochs": 10, "adversary_epochs": 5,
                 "iterations": 150, "batch_size": 128, "lr": 1e-3,
                 "balanced": False, "lambdas": {"race": 100, "sex": 50}, "sweep": [0, 0.05, 1]},
    "backdoor": {"image_size": 32, "trigger_size": 4, "trigger_alpha": 1.0,
                 "source_class": 1, "target_class": 0, "poison_fraction": 0.1,
                 "epochs": 6, "batch_size": 64, "adam_lr": 2e-3, "adaptive_lambda": 1.0,
                 "epsilon": 0.1},
    "causal": {"train_size": 2000, "test_size": 300, "width": 16, "epochs": 10,
               "batch_size": 32, "adam_lr": 3e-3, "seeds": [0, 1], "eps": 0.3,
               "steps": 10, "mask_fraction": 0.1, "jsma_size": 12, "jsma_gamma": 0.1,
               "bins": 5, "concepts": 4, "concept_layer": "features.pool1",
               "concept_size": 640, "concept_epochs": 10, "map_size": 3},
    # chapter 8: victim on MNIST, thief's surrogate (another architecture), query budgets,
    # the defences' settings (decimals, reverse sigmoid (β, γ), ensemble size), the
    # transfer and query attacks (ε, PGD steps, images, queries per image). Every copy
    # costs about `steps` updates whatever its budget (stealing.epochs_for), so tiny keeps
    # three budgets and 180 updates for its 90 s; the 1000-query copies get 6 epochs (192
    # updates): with 5, the letter thieves learn too little for a defence to show. 50
    # queries show the labels' handicap clearly; the defences are compared at 1000, where
    # the reverse sigmoid's cost to the thief stands out most at this scale
    "stealing": {"train_size": 2000, "test_size": 500, "width": 8, "epochs": 6,
                 "batch_size": 32, "lr": 2e-3, "surrogate_width": 16, "steps": 180,
                 "budgets": [50, 300, 1000], "pool_size": 1000,
                 "defence_budget": 1000, "decimals": 1, "reverse_sigmoid": (0.2, 0.2),
                 "ensemble": 2, "eps": 0.1, "pgd_steps": 10, "attack_size": 100,
                 "max_queries": 100, "query_budgets": [3, 10, 30, 100]},
}

#: What ``quick`` and ``full`` change; ``tiny`` is :data:`DEFAULTS` as it stands.
OVERRIDES = {
    "tiny": {},
    "quick": {
        "data_source": "auto",
        "train_size": 5000,
        "test_size": 2000,
        "width": 16,
        "epochs": 5,
        "generalization": {"finetune_size": 800, "finetune_epochs": 10},
        "ood": {"train_size": 10000, "test_size": 2000, "far_size": 2000, "epochs": 8,
                "batch_size": 64, "augment": True},
        "sparsity": {"width": 16, "epochs": 8, "lr": 3e-3, "density_epochs": 5,
                     "density_lambdas": [0, 1e-7, 1e-6, 1e-5, 1e-4], "attack_size": 200,
                     "pgd_steps": 10, "deepfool_iter": 50, "stability_size": 200,
                     "cue_epochs": 5, "trust_size": 500, "lime_samples": 500,
                     "faithfulness_size": 200, "variability_seeds": [0, 1, 2, 3, 4]},
        "robustness": {"pgd_steps": 10, "train_pgd_steps": 3, "trades_steps": 3,
                       "curve_size": 500, "val_size": 500, "map_size": 500,
                       "map_method": "umap"},
        # real Adult: the report's λ (100, 50) drives the game to parity at 6-9 points of
        # accuracy; λ ÷ 10 stops above the four-fifths rule, and the balanced adversary
        # loss lets race (a 10 % minority) keep up (book/measurements/fairness-quick.json)
        "fairness": {"size": None, "pretrain_epochs": 2, "iterations": 200,
                     "lambdas": {"race": 10, "sex": 5}, "balanced": True,
                     "sweep": [0, 0.5, 1]},
        "backdoor": {"image_size": 64, "trigger_size": 6, "epochs": 10},
        "causal": {"train_size": 10000, "test_size": 1000, "batch_size": 100,
                   "adam_lr": 1e-3, "seeds": [0, 1, 2], "jsma_size": 100, "bins": 10,
                   "concepts": 8, "concept_size": 5000},
        "stealing": {"train_size": 5000, "test_size": 2000, "width": 16, "epochs": 5,
                     "steps": 500, "budgets": [100, 300, 1000, 3000, 10000],
                     "pool_size": 10000, "defence_budget": 1000, "attack_size": 200,
                     "max_queries": 1000, "query_budgets": [3, 10, 30, 100, 300, 1000]},
    },
    "full": {
        "data_source": "real",
        "train_size": None,
        "test_size": None,
        "model": "resnet18",         # torchvision layout, as in the reports
        "width": 1.0,
        "batch_size": 16,
        "epochs": 15,
        "sgd_lr": 1e-3,
        "adam_lr": 1e-3,
        "lr_gamma": 0.99,
        "pretraining": "imagenet",
        "generalization": {"finetune_size": 800, "finetune_epochs": 10,
                           "no_batchnorm": {}, "augment_probability": 1.0},
        # the reports' setup: CIFAR-style ResNet-18, Adam 1e-3, ExponentialLR 0.95, 200 epochs
        "ood": {"model": "resnet18_cifar", "width": 1.0, "train_size": None, "test_size": None,
                "far_size": None, "epochs": 200, "batch_size": 128, "lr": 1e-3,
                "lr_gamma": 0.95, "augment": True},
        # the penalties are sums over all kernels: λ shrinks with the parameter count
        "sparsity": {"arch": "resnet18_cifar", "width": 1.0, "epochs": 30, "lr": 1e-3,
                     "lambdas": {"L1": 1e-6, "L2": 5e-4, "ElasticNet": 2e-6},
                     "density_width": 32, "density_epochs": 10,
                     "density_lambdas": [0, 1e-7, 1e-6, 1e-5, 1e-4], "attack_size": 500,
                     "eps": 8 / 255, "pgd_steps": 20, "deepfool_iter": 50,
                     "stability_size": 1000, "cue_epochs": 8, "trust_size": 1000,
                     "lime_samples": 1000, "faithfulness_size": 500,
                     "deletion_steps": 32, "variability_seeds": [0, 1, 2, 3, 4]},
        "robustness": {"eps": 8 / 255, "pgd_steps": 20, "train_pgd_steps": 7,
                       "trades_steps": 10, "curve_size": 1000, "val_size": 1000,
                       "map_size": 1000, "map_method": "umap"},
        "fairness": {"size": None, "pretrain_epochs": 2, "iterations": 200,
                     "sweep": [0, 0.1, 0.25, 0.5, 1, 2]},
        "backdoor": {"image_size": 64, "trigger_size": 6, "poison_fraction": 1.0,
                     "epochs": 10, "batch_size": 128, "adam_lr": 1e-4, "epsilon": 0.5},
        "causal": {"train_size": None, "test_size": None, "width": 32, "epochs": 20,
                   "batch_size": 100, "adam_lr": 1e-3, "seeds": [0, 1, 2, 3, 4],
                   "jsma_size": 500, "bins": 10, "concepts": 8, "concept_size": 20000,
                   "concept_epochs": 20},
        "stealing": {"train_size": None, "test_size": None, "width": 32, "epochs": 10,
                     "surrogate_width": 32, "steps": 2000,
                     "budgets": [100, 300, 1000, 3000, 10000, 30000], "pool_size": 30000,
                     "defence_budget": 1000, "ensemble": 3, "pgd_steps": 20,
                     "attack_size": 500, "max_queries": 5000,
                     "query_budgets": [10, 30, 100, 300, 1000, 5000]},
    },
}


def _merged(overrides: dict) -> dict:
    """:data:`DEFAULTS` with ``overrides`` applied (chapter sections merged key by key)."""
    unknown = [key for key in overrides if key not in DEFAULTS]
    unknown += [f"{key}.{sub}" for key, value in overrides.items() if isinstance(value, dict)
                for sub in value if sub not in DEFAULTS.get(key, {})]
    if unknown:
        raise KeyError(f"profile overrides name unknown settings: {unknown}")
    return {key: ({**value, **overrides.get(key, {})} if isinstance(value, dict)
                  else overrides.get(key, value))
            for key, value in DEFAULTS.items()}


#: Every profile in full: ``{name: settings}``, read-only.
PROFILES = MappingProxyType({name: MappingProxyType(_merged(changes))
                             for name, changes in OVERRIDES.items()})


def get_profile(name: str = "tiny") -> SimpleNamespace:
    """Settings of profile ``name`` (overridden by ``$TAI_PROFILE`` when set).

    Returns a namespace with attribute access (``p.epochs``); chapter settings are
    namespaces too (``p.generalization.finetune_size``). ``p.name`` is the profile used.
    Raises ``ValueError`` for an unknown name.
    """
    chosen = os.environ.get(PROFILE_ENV_VAR) or name
    if chosen not in PROFILES:
        source = f"${PROFILE_ENV_VAR}" if os.environ.get(PROFILE_ENV_VAR) else "profile"
        raise ValueError(
            f"{source}={chosen!r} is not a profile; choose one of {', '.join(PROFILES)}."
        )
    settings = {
        key: SimpleNamespace(**value) if isinstance(value, dict) else value
        for key, value in PROFILES[chosen].items()
    }
    return SimpleNamespace(name=chosen, **settings)
