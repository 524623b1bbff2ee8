"""Plausible wrong answers to the causal lab (tests/test_wrong_answers.py grades them).

Each must lose points on the task it breaks and only there: the zero-out hook (in-place
zeroing, the hook left behind when forward raises, the wrong dimension, logits for
probabilities, gradients kept), the effect per image (sign, the class after the
intervention) and the expected effect (NaN for an empty bin, the edge convention, an
unweighted mean, a constant unit), plus a variant per task that hands the work to the kit.
"""

WRONG = {
    "hook": {
        "zeroes the layer's output in place": [
            ("        output = output.clone()\n", "")],
        "no try/finally: the hook stays when forward raises": [
            ("    try:\n"
             "        with torch.no_grad():\n"
             "            return F.softmax(model(images), dim=1)\n"
             "    finally:\n"
             "        handle.remove()\n",
             "    with torch.no_grad():\n"
             "        probabilities = F.softmax(model(images), dim=1)\n"
             "    handle.remove()\n"
             "    return probabilities\n")],
        "never removes the hook": [("        handle.remove()\n", "        pass\n")],
        "zeroes image `unit` (dimension 0)": [("output[:, unit] = 0", "output[unit] = 0")],
        "returns logits, not probabilities": [
            ("return F.softmax(model(images), dim=1)", "return model(images)")],
        "keeps the autograd graph": [
            ("        with torch.no_grad():\n            return F.softmax(model(images), dim=1)",
             "        return F.softmax(model(images), dim=1)")],
        "calls the kit's intervene": (
            "from helpers import causal\n\n\n"
            "def zeroed_probabilities(model, layer, unit, images):\n"
            "    with causal.intervene(model, layer, unit), torch.no_grad():\n"
            "        return F.softmax(model(images), dim=1)\n"),
    },
    "effect": {
        "wrong sign (before - after)": [
            ("return after[rows, predicted] - before[rows, predicted]",
             "return before[rows, predicted] - after[rows, predicted]")],
        "the class predicted after the intervention": [
            ("predicted = before.argmax(1)", "predicted = after.argmax(1)")],
        "change of the top probability, whatever its class": [
            ("return after[rows, predicted] - before[rows, predicted]",
             "return after.max(1).values - before.max(1).values")],
        "difference of logits, not probabilities": (
            "def zero_out_effect(model, layer, unit, images):\n"
            "    with torch.no_grad():\n"
            "        before = model(images)\n"
            "    handle = layer.register_forward_hook(\n"
            "        lambda m, i, o: o * (torch.arange(o.shape[1]).view(1, -1, *[1] * (o.dim() - 2)) != unit))\n"
            "    try:\n"
            "        with torch.no_grad():\n"
            "            after = model(images)\n"
            "    finally:\n"
            "        handle.remove()\n"
            "    rows, predicted = torch.arange(len(images)), before.argmax(1)\n"
            "    return after[rows, predicted] - before[rows, predicted]\n"),
        "calls the kit's causal_effect": (
            "from helpers import causal\n\n\n"
            "def zero_out_effect(model, layer, unit, images):\n"
            "    return causal.causal_effect(model, images, layer, unit)\n"),
    },
    "expected": {
        "NaN for an empty bin": [
            ("np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)",
             "sums / counts")],
        "a value on an inner edge goes to the bin below (side='left')": [
            ('side="right"', 'side="left"')],
        "unweighted mean of the bin effects": [
            ("float((weights * bin_effects).sum())", "float(bin_effects.mean())")],
        "counts, not fractions, as weights": [
            ("weights = counts / counts.sum()", "weights = counts.astype(float)"),
            ("float((weights * bin_effects).sum())",
             "float((weights * bin_effects).sum() / counts.sum())")],
        "a constant unit gets `bins` bins": [
            ("    if observed.max() > observed.min():\n"
             "        edges = np.linspace(observed.min(), observed.max(), bins + 1)\n"
             "    else:\n"
             "        edges = np.array([observed.min(), observed.max()])\n",
             "    edges = np.linspace(observed.min(), observed.max(), bins + 1)\n")],
        "calls the kit's bin_and_weigh": (
            "from helpers import causal\n\n\n"
            "def expected_effect(observed, effects, bins):\n"
            "    result = causal.bin_and_weigh(np.asarray(observed), np.asarray(effects), bins)\n"
            "    return (float(result['expected']), result['weights'], result['bin_effects'])\n"),
    },
}
