"""Models: a small CNN, a CIFAR-style ResNet-18 with a width multiplier, torchvision's ResNet-18.

Every model is a :class:`Classifier`: ``normalize`` → ``features`` (the backbone, ending in
the penultimate embedding) → ``dropout`` → ``fc`` (the head). Inputs are images in pixel
space [0, 1]; normalization lives inside the model, so attacks and plots never see it.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from helpers.checks import check_module, check_positive_int

MODELS = ("small_cnn", "resnet18_cifar", "resnet18")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, for x of shape (N, C, H, W)."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Classifier(nn.Module):
    """``fc(dropout(features(normalize(x))))``: logits (N, num_classes) for x (N, C, H, W) in [0, 1]."""

    def __init__(self, features: nn.Module, feature_dim: int, num_classes: int,
                 mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), dropout: float = 0.0):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.features = features
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(feature_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (N, feature_dim)."""
        return self.features(self.normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.embed(x)))


def _norm(channels: int, batchnorm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batchnorm else nn.Identity()


def small_cnn_features(width: int = 16, batchnorm: bool = True, in_channels: int = 3) -> nn.Sequential:
    """Three conv blocks (width, 2·width, 4·width channels), each halving the resolution,
    then average pooling to a 2x2 grid: (N, in_channels, H, W) → (N, 16·width).

    Keeping a coarse 2x2 layout instead of global pooling matters for digits: where the
    strokes are tells a 6 from a 9; with global pooling the net learns several times slower.
    """
    layers, channels = [], in_channels
    for out in (width, 2 * width, 4 * width):
        layers += [nn.Conv2d(channels, out, 3, padding=1, bias=not batchnorm),
                   _norm(out, batchnorm), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        channels = out
    layers += [nn.AdaptiveAvgPool2d(2), nn.Flatten()]
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs with a (projected when needed) identity shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, batchnorm: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=not batchnorm)
        self.bn1 = _norm(out_channels, batchnorm)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=not batchnorm)
        self.bn2 = _norm(out_channels, batchnorm)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=not batchnorm),
                _norm(out_channels, batchnorm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18Cifar(nn.Module):
    """CIFAR-style ResNet-18 (3x3 stem, no max-pool) with torchvision's layer names.

    Channel widths are 64·width, 128·width, 256·width, 512·width; output (N, 512·width).
    """

    def __init__(self, width: float = 1.0, batchnorm: bool = True, in_channels: int = 3):
        super().__init__()
        widths = [max(4, round(c * width)) for c in (64, 128, 256, 512)]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=not batchnorm)
        self.bn1 = _norm(widths[0], batchnorm)
        self.relu = nn.ReLU(inplace=True)
        blocks, channels = [], widths[0]
        for index, out in enumerate(widths):
            stride = 1 if index == 0 else 2
            blocks.append(nn.Sequential(BasicBlock(channels, out, stride, batchnorm),
                                        BasicBlock(out, out, 1, batchnorm)))
            channels = out
        self.layer1, self.layer2, self.layer3, self.layer4 = blocks
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.out_features = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


def _torchvision_resnet18(batchnorm: bool, imagenet_weights: bool) -> nn.Module:
    from torchvision.models import ResNet18_Weights, resnet18

    if imagenet_weights and not batchnorm:
        raise ValueError("imagenet_weights=True needs batchnorm=True (the weights include BN).")
    weights = ResNet18_Weights.IMAGENET1K_V1 if imagenet_weights else None
    norm_layer = nn.BatchNorm2d if batchnorm else (lambda channels: nn.Identity())
    try:
        model = resnet18(weights=weights, norm_layer=norm_layer)
    except OSError as error:  # urllib errors are OSErrors: no network, DNS, refused
        raise RuntimeError(
            "Could not download torchvision's ImageNet ResNet-18 weights "
            f"({error}). Copy resnet18-f37072fd.pth into {torch.hub.get_dir()}/checkpoints/ "
            "on a machine with network access, or use the 'tiny'/'quick' profile, whose "
            "pretraining runs offline.") from error
    model.fc = nn.Identity()
    return model


def build_model(name: str = "small_cnn", num_classes: int = 10, width: float = 16,
                batchnorm: bool = True, dropout: float = 0.0,
                imagenet_weights: bool = False) -> Classifier:
    """A :class:`Classifier` with backbone ``name`` (one of :data:`MODELS`).

    ``width``: first-layer channels for ``small_cnn``; width multiplier for
    ``resnet18_cifar``; ignored by ``resnet18`` (torchvision's, optionally with ImageNet
    weights and ImageNet normalization). ``batchnorm=False`` builds the model with every
    BatchNorm replaced by the identity. ``dropout`` in [0, 1) acts before the head.
    """
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; choose one of {', '.join(MODELS)}.")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes={num_classes!r}: expected an int >= 2.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout={dropout!r}: expected a probability in [0, 1).")
    if width <= 0:
        raise ValueError(f"width={width!r}: expected a positive number.")
    if imagenet_weights and name != "resnet18":
        raise ValueError(f"imagenet_weights=True is only available for 'resnet18', not {name!r}.")
    mean, std = (0.5,) * 3, (0.5,) * 3
    if name == "small_cnn":
        features, dim = small_cnn_features(int(width), batchnorm), 16 * int(width)
    elif name == "resnet18_cifar":
        features = ResNet18Cifar(width, batchnorm)
        dim = features.out_features
    else:
        features, dim = _torchvision_resnet18(batchnorm, imagenet_weights), 512
        if imagenet_weights:
            mean, std = IMAGENET_MEAN, IMAGENET_STD
    return Classifier(features, dim, num_classes, mean, std, dropout)


def replace_head(model: Classifier, num_classes: int) -> Classifier:
    """Give ``model`` a fresh, randomly initialised head with ``num_classes`` outputs."""
    model.fc = nn.Linear(model.fc.in_features, num_classes).to(model.fc.weight.device)
    return model


def freeze_all_but_head(model: Classifier) -> list[str]:
    """Stop gradients everywhere except ``model.fc``; returns the trainable parameter names.

    BatchNorm running statistics still update in train mode; :func:`helpers.train.fit`
    keeps frozen BatchNorm layers in eval mode so the frozen backbone stays frozen.
    """
    for name, parameter in model.named_parameters():
        parameter.requires_grad = name.startswith("fc.")
    return [name for name, p in model.named_parameters() if p.requires_grad]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# --- model internals: layers, hooks, state, batched inference ------------------------------

def get_layer(model: nn.Module, layer: str | nn.Module) -> nn.Module:
    """The submodule ``layer`` of ``model``: given as a module of the model or as its
    dotted name (``"features.relu2"``, as in ``model.named_modules()``)."""
    check_module("model", model)
    if isinstance(layer, nn.Module):
        if not any(layer is module for module in model.modules()):
            raise ValueError(f"layer: {type(layer).__name__} is not a module of the model.")
        return layer
    if isinstance(layer, str):
        try:
            return model.get_submodule(layer)
        except AttributeError:
            names = [name for name, _ in model.named_modules() if name]
            raise ValueError(f"layer={layer!r}: no such submodule; e.g. {names[:8]}.") from None
    raise TypeError(f"layer: expected a module or its dotted name, got {type(layer).__name__}.")


@contextmanager
def forward_hook(module: nn.Module, hook, *, pre: bool = False):
    """Within the block, ``hook`` runs on every forward pass of ``module``; removed after.

    ``hook(module, inputs, output)`` (or ``hook(module, inputs)`` with ``pre=True``) may
    return a replacement output (inputs), as in ``nn.Module.register_forward_hook``. The
    handle is removed when the block ends, also when it raises.
    """
    check_module("module", module)
    handle = (module.register_forward_pre_hook(hook) if pre
              else module.register_forward_hook(hook))
    try:
        yield handle
    finally:
        handle.remove()


@contextmanager
def capture(module: nn.Module, *, what: str = "output", detach: bool = True,
            to_cpu: bool = False):
    """Record what ``module`` outputs (or, ``what="input"``, its first input) in each
    forward pass inside the block: yields a list that grows by one tensor per pass.

    ``detach=False`` keeps the graph (to take gradients with respect to the capture).
    The hook is removed when the block ends, also when it raises.
    """
    if what not in ("output", "input"):
        raise ValueError(f"what={what!r}: expected 'output' or 'input'.")
    captured: list[torch.Tensor] = []

    def keep(tensor: torch.Tensor) -> None:
        tensor = tensor.detach() if detach else tensor
        captured.append(tensor.cpu() if to_cpu else tensor)

    if what == "output":
        hook, pre = (lambda _module, _inputs, output: keep(output)), False
    else:
        hook, pre = (lambda _module, inputs: keep(inputs[0])), True
    with forward_hook(module, hook, pre=pre):
        yield captured


@contextmanager
def model_state_guard(model: nn.Module):
    """Run a block with ``model`` in eval mode and its parameters frozen; restore both after.

    Restores every module's own ``training`` flag (a model may mix modes, e.g. frozen
    BatchNorm layers in eval inside a training model) and every parameter's
    ``requires_grad``, whether the block returns or raises. Hooks are not this guard's
    business: register them with :func:`forward_hook` or :func:`capture`, which remove
    their own.
    """
    modes = [(module, module.training) for module in model.modules()]
    flags = [(parameter, parameter.requires_grad) for parameter in model.parameters()]
    try:
        model.eval()
        for parameter, _ in flags:
            parameter.requires_grad_(False)
        with torch.enable_grad():
            yield model
    finally:
        for module, training in modes:
            module.training = training
        for parameter, requires_grad in flags:
            parameter.requires_grad_(requires_grad)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model with neither)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def batches(data: torch.Tensor | Dataset, batch_size: int = 256):
    """Yield ``(images, labels)`` of ``data`` in order: slices of a tensor of images
    (N, C, H, W), with ``labels`` None, or the batches of a dataset of (image, label) pairs."""
    check_positive_int("batch_size", batch_size)
    if isinstance(data, torch.Tensor):
        for start in range(0, len(data), batch_size):
            yield data[start:start + batch_size], None
    elif isinstance(data, Dataset):
        # A loader draws a seed from its generator even without shuffling; its own one
        # keeps inference from moving the global random stream (dropout, augmentation).
        loader = DataLoader(data, batch_size=batch_size, shuffle=False,
                            generator=torch.Generator())
        for images, labels in loader:
            yield images, torch.as_tensor(labels)
    else:
        raise TypeError(f"data: expected a tensor of images or a Dataset, got "
                        f"{type(data).__name__}.")


def logits(model: nn.Module, data: torch.Tensor | Dataset, batch_size: int = 256, *,
           with_labels: bool = False):
    """The model's outputs (N, K) on CPU for images in [0, 1] (a tensor or a dataset);
    with ``with_labels=True``, the pair ``(logits, labels)`` (labels (N,) of a dataset).

    This is the kit's one batched-inference loop. It runs in eval mode without
    gradients and restores the model's modes and flags. Hooks registered before the call
    stay active: that is how interventions and :func:`capture` read or change a pass.
    """
    device = model_device(model)
    outputs, labels = [], []
    with model_state_guard(model), torch.no_grad():
        for images, targets in batches(data, batch_size):
            outputs.append(model(images.to(device)).cpu())
            if targets is not None:
                labels.append(targets)
    if not outputs:
        raise ValueError("data: no images.")
    if not with_labels:
        return torch.cat(outputs)
    if not labels:
        raise ValueError("with_labels=True needs a dataset of (image, label) pairs, "
                         "not a tensor of images.")
    return torch.cat(outputs), torch.cat(labels)


def penultimate_features(model: nn.Module, data: torch.Tensor | Dataset,
                         layer: nn.Module | None = None, batch_size: int = 256) -> torch.Tensor:
    """The inputs of ``layer`` (default ``model.fc``, the head): float features (N, D) on CPU.

    ``data`` is a tensor of images (N, C, H, W) in [0, 1] or a dataset of (image, label)
    pairs. Read with :func:`capture` during :func:`logits`; the hook is removed and the
    model's state restored afterwards (also on error).
    """
    layer = layer if layer is not None else getattr(model, "fc", None)
    if not isinstance(layer, nn.Module):
        raise ValueError("layer: pass the module whose input is the embedding "
                         "(the model has no `fc` head).")
    with capture(layer, what="input", to_cpu=True) as captured:
        logits(model, data, batch_size)
    return torch.cat(captured).flatten(1)
