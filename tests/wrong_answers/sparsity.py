"""Plausible wrong answers to the sparsity lab, for the wrong-answer suite.

``WRONG[answer cell grade_id][mistake]`` is either a list of ``(old, new)`` replacements
applied with ``str.replace`` to the solution's answer cell, or a whole answer cell as a
student would write it. Each one must lose points on its own task's test parts only
(``test_<grade_id>_*``); the solution keeps full marks.
"""

WRONG = {
    "penalty": {
        "penalizes every parameter (biases, BatchNorm)": (
            "def elastic_net(model, alpha):\n"
            "    total = torch.zeros(())\n"
            "    for parameter in model.parameters():\n"
            "        total = total + alpha * parameter.abs().sum() \\\n"
            "            + (1 - alpha) * parameter.pow(2).sum()\n"
            "    return total\n"),
        "every parameter named weight (BatchNorm too)": (
            "def elastic_net(model, alpha):\n"
            "    total = torch.zeros(())\n"
            "    for name, parameter in model.named_parameters():\n"
            "        if name.endswith(\"weight\"):\n"
            "            total = total + alpha * parameter.abs().sum() \\\n"
            "                + (1 - alpha) * parameter.pow(2).sum()\n"
            "    return total\n"),
        "L2 norm instead of its square": [("module.weight.pow(2).sum()",
                                           "module.weight.norm()")],
        "mean instead of sum": [("module.weight.abs().sum()", "module.weight.abs().mean()"),
                                ("module.weight.pow(2).sum()", "module.weight.pow(2).mean()")],
        "alpha weights swapped": [("total = total + alpha * module.weight.abs().sum() \\\n"
                                   "                + (1 - alpha) * module.weight.pow(2).sum()",
                                   "total = total + (1 - alpha) * module.weight.abs().sum() \\\n"
                                   "                + alpha * module.weight.pow(2).sum()")],
        "returns a Python float (no gradient)": [("    return total\n",
                                                  "    return total.item()\n")],
        "calls the kit's reference": (
            "def elastic_net(model, alpha):\n"
            "    from helpers import regularization\n"
            "    return regularization.elastic_net_penalty(model, alpha)\n"),
    },
    "density": {
        "zero counts as active (>= instead of >)": [("(activations.flatten(1) > 0)",
                                                     "(activations.flatten(1) >= 0)")],
        "no flatten (only 2-D codes work)": [("(activations.flatten(1) > 0).float().mean(1)",
                                              "(activations > 0).float().mean(1)")],
        "mean activation instead of the active fraction": [
            ("(activations.flatten(1) > 0).float().mean(1)",
             "activations.flatten(1).clamp_min(0).mean(1)")],
        "active above a small tolerance": [("(activations.flatten(1) > 0)",
                                            "(activations.flatten(1) > 1e-3)")],
        "calls the kit's reference": (
            "def density(activations):\n"
            "    from helpers import regularization\n"
            "    return regularization.density(activations)\n"),
    },
    "gradcam": {
        "forgets model.eval()": [("        model.eval()\n", "")],
        "mode not restored": [("        model.train(was_training)\n", "")],
        "hook removed without try/finally": (
            "def grad_cam(model, images, layer, targets):\n"
            "    captured = []\n"
            "    handle = layer.register_forward_hook(\n"
            "        lambda module, inputs, output: captured.append(output))\n"
            "    was_training = model.training\n"
            "    model.eval()\n"
            "    logits = model(images.clone().requires_grad_(True))\n"
            "    score = logits.gather(1, targets.view(-1, 1)).sum()\n"
            "    gradients, = torch.autograd.grad(score, captured[0])\n"
            "    handle.remove()\n"
            "    model.train(was_training)\n"
            "    weights = gradients.mean(dim=(2, 3), keepdim=True)\n"
            "    maps = F.relu((weights * captured[0].detach()).sum(1))\n"
            "    maps = F.interpolate(maps.unsqueeze(1), size=images.shape[-2:],\n"
            "                         mode=\"bilinear\", align_corners=False).squeeze(1)\n"
            "    flat = maps.flatten(1)\n"
            "    low = flat.min(1, keepdim=True).values\n"
            "    high = flat.max(1, keepdim=True).values\n"
            "    flat = torch.where(high > low, (flat - low) / (high - low).clamp_min(1e-12),\n"
            "                       torch.zeros_like(flat))\n"
            "    return flat.view_as(maps)\n"),
        "never removes the hook": [("        handle.remove()\n", "")],
        "no ReLU": [("maps = F.relu((weights * activations.detach()).sum(1))",
                     "maps = (weights * activations.detach()).sum(1)")],
        "gradient sign flipped": [("weights = gradients.mean(dim=(2, 3), keepdim=True)",
                                   "weights = -gradients.mean(dim=(2, 3), keepdim=True)")],
        "align_corners=True": [("align_corners=False", "align_corners=True")],
        "constant map divided by zero (NaN)": [
            ("    flat = torch.where(span > 0, (flat - low) / span.clamp_min(1e-12),\n"
             "                       torch.zeros_like(flat))\n",
             "    flat = (flat - low) / span\n")],
        "one min-max over the whole batch": [
            ("low, high = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values",
             "low, high = flat.min(), flat.max()")],
        "calls the kit's reference": (
            "def grad_cam(model, images, layer, targets):\n"
            "    return attribution.grad_cam(model, images, layer, targets)\n"),
        "uses the kit's capture and state guard": (
            "def grad_cam(model, images, layer, targets):\n"
            "    from helpers import models\n"
            "    with models.model_state_guard(model), \\\n"
            "            models.capture(layer, detach=False) as captured:\n"
            "        logits = model(images.clone().requires_grad_(True))\n"
            "        score = logits.gather(1, targets.view(-1, 1)).sum()\n"
            "        gradients, = torch.autograd.grad(score, captured[0])\n"
            "    weights = gradients.mean(dim=(2, 3), keepdim=True)\n"
            "    maps = F.relu((weights * captured[0].detach()).sum(1))\n"
            "    maps = F.interpolate(maps.unsqueeze(1), size=images.shape[-2:],\n"
            "                         mode=\"bilinear\", align_corners=False).squeeze(1)\n"
            "    return attribution.normalize_maps(maps)\n"),
    },
    "ssd": {
        "no normalization": (
            "def ssd(maps_a, maps_b):\n"
            "    return (maps_a - maps_b).pow(2).flatten(1).sum(1)\n"),
        "mean instead of sum": [("(normalize(maps_a) - normalize(maps_b)).pow(2).sum(1)",
                                 "(normalize(maps_a) - normalize(maps_b)).pow(2).mean(1)")],
        "square root of the sum (L2 distance)": [
            ("(normalize(maps_a) - normalize(maps_b)).pow(2).sum(1)",
             "(normalize(maps_a) - normalize(maps_b)).pow(2).sum(1).sqrt()")],
        "constant map divided by zero (NaN)": [
            ("        return torch.where(span > 0, (flat - low) / span.clamp_min(1e-12),\n"
             "                           torch.zeros_like(flat))\n",
             "        return (flat - low) / span\n")],
        "one min-max over the whole batch": [
            ("low, high = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values",
             "low, high = flat.min(), flat.max()")],
        "calls the kit's reference": (
            "def ssd(maps_a, maps_b):\n"
            "    return attribution.ssd(maps_a, maps_b)\n"),
    },
}
