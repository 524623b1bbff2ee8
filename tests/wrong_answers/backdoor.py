"""Plausible wrong answers to the backdoor lab, for the wrong-answer suite.

``WRONG[answer cell grade_id][mistake]`` is either a list of ``(old, new)`` replacements
applied with ``str.replace`` to the solution's answer cell, or a whole answer cell as a
student would write it. Each one must lose points on its own task's test parts only
(``test_<grade_id>_*``); the solution keeps full marks.
"""

WRONG = {
    "stamp": {
        "rejects a trigger touching the far edge (>= instead of >)": [
            ("top + size > images.shape[-2]", "top + size >= images.shape[-2]"),
            ("left + size > images.shape[-1]", "left + size >= images.shape[-1]")],
        "no bounds check": [
            ("    if (top < 0 or left < 0 or top + size > images.shape[-2]\n"
             "            or left + size > images.shape[-1]):\n"
             "        raise ValueError(\"the trigger does not fit in the image at (top, left)\")\n",
             "")],
        "negative top/left accepted": [("top < 0 or left < 0 or ", "")],
        "modifies the input in place": [("out = images.clone()", "out = images")],
        "alpha weights swapped": [("(1 - alpha) * box + alpha * trigger",
                                   "alpha * box + (1 - alpha) * trigger")],
        "ignores alpha": [("(1 - alpha) * box + alpha * trigger", "trigger")],
        "rows and columns swapped": [("out[..., top:top + size, left:left + size]",
                                      "out[..., left:left + size, top:top + size]")],
        "calls the kit's reference": (
            "def stamp_trigger(images, trigger, top, left, alpha=1.0):\n"
            "    return backdoor.stamp(images, trigger, (top, left), alpha)\n"),
    },
    "poison": {
        "random source images instead of the first": [
            ("chosen = sources[:count]",
             "chosen = sources[torch.randperm(len(sources))[:count]]")],
        "the last count source images": [("chosen = sources[:count]",
                                          "chosen = sources[len(sources) - count:]")],
        "copies keep their source label": [
            ("torch.full((count,), target_class, dtype=labels.dtype)",
             "torch.full((count,), source_class, dtype=labels.dtype)")],
        "copies put before the clean samples": [
            ("new_images = torch.cat([images, stamped])",
             "new_images = torch.cat([stamped, images])"),
            ("new_labels = torch.cat([labels,\n"
             "                            torch.full((count,), target_class, dtype=labels.dtype)])",
             "new_labels = torch.cat([torch.full((count,), target_class, dtype=labels.dtype),\n"
             "                            labels])"),
            ("poisoned = torch.cat([torch.zeros(len(labels), dtype=torch.bool),\n"
             "                          torch.ones(count, dtype=torch.bool)])",
             "poisoned = torch.cat([torch.ones(count, dtype=torch.bool),\n"
             "                          torch.zeros(len(labels), dtype=torch.bool)])")],
        "poisoned mask inverted": [
            ("poisoned = torch.cat([torch.zeros(len(labels), dtype=torch.bool),\n"
             "                          torch.ones(count, dtype=torch.bool)])",
             "poisoned = torch.cat([torch.ones(len(labels), dtype=torch.bool),\n"
             "                          torch.zeros(count, dtype=torch.bool)])")],
        "rejects count equal to the number of sources (<= instead of <)": [
            ("if len(sources) < count:", "if len(sources) <= count:")],
        "no check for too few sources": [
            ("    if len(sources) < count:\n"
             "        raise ValueError(f\"only {len(sources)} images of class {source_class}\")\n",
             "")],
        "stamps the originals in place too": (
            "def poison_dataset(images, labels, trigger, source_class, target_class, count,\n"
            "                   top, left):\n"
            "    sources = torch.nonzero(labels == source_class).flatten()\n"
            "    if len(sources) < count:\n"
            "        raise ValueError(\"not enough source images\")\n"
            "    chosen = sources[:count]\n"
            "    size = trigger.shape[-1]\n"
            "    images[chosen, :, top:top + size, left:left + size] = trigger\n"
            "    new_images = torch.cat([images, images[chosen]])\n"
            "    new_labels = torch.cat([labels, torch.full((count,), target_class)])\n"
            "    poisoned = torch.arange(len(new_labels)) >= len(labels)\n"
            "    return new_images, new_labels, poisoned\n"),
        "calls the kit's reference stamp": [
            ("stamped = stamp_trigger(images[chosen], trigger, top, left)",
             "stamped = backdoor.stamp(images[chosen], trigger, (top, left))")],
    },
    "asr": {
        "counts the target-class images too": [
            ("return (predictions[others] == target_class).float().mean().item()",
             "return (predictions == target_class).float().mean().item()")],
        "divides by all images": [
            ("return (predictions[others] == target_class).float().mean().item()",
             "return (predictions[others] == target_class).sum().item() / len(labels)")],
        "accuracy instead of success": [
            ("return (predictions[others] == target_class).float().mean().item()",
             "return (predictions[others] == labels[others]).float().mean().item()")],
        "returns a tensor": [(".float().mean().item()", ".float().mean()")],
        "no ValueError when no image is left": [
            ("    if not others.any():\n"
             "        raise ValueError(\"every image is of the target class\")\n", "")],
        "calls the kit's reference": (
            "def attack_success_rate(predictions, labels, target_class):\n"
            "    return backdoor.success_rate(predictions, labels, target_class)\n"),
    },
    "spectral": {
        "not centred": [("centred = latents[members] - latents[members].mean(0)",
                         "centred = latents[members]")],
        "a column of Vh instead of its first row": [
            ("full_matrices=False).Vh[0]", "full_matrices=False).Vh[:, 0]")],
        "flags the lowest scores": [("torch.argsort(scores, descending=True)",
                                     "torch.argsort(scores)")],
        "int() instead of round()": [("count = round(1.5 * epsilon * len(members))",
                                      "count = int(1.5 * epsilon * len(members))")],
        "one SVD over all classes": (
            "def spectral_signature_flags(latents, labels, epsilon):\n"
            "    centred = latents.double() - latents.double().mean(0)\n"
            "    top = torch.linalg.svd(centred, full_matrices=False).Vh[0]\n"
            "    scores = (centred @ top) ** 2\n"
            "    count = round(1.5 * epsilon * len(labels))\n"
            "    flags = torch.zeros(len(labels), dtype=torch.bool)\n"
            "    flags[torch.argsort(scores, descending=True)[:count]] = True\n"
            "    return flags\n"),
        "calls the kit's reference": (
            "def spectral_signature_flags(latents, labels, epsilon):\n"
            "    from helpers import backdoor_detect\n"
            "    detection = backdoor_detect.spectral_signatures(latents.numpy(),\n"
            "                                                    labels.numpy(), epsilon)\n"
            "    return torch.from_numpy(detection.flags)\n"),
    },
}
