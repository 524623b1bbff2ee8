"""Plausible wrong answers to the OOD lab, for the wrong-answer suite.

``WRONG[answer cell grade_id][mistake]`` is either a list of ``(old, new)`` replacements
applied with ``str.replace`` to the solution's answer cell, or a whole answer cell as a
student would write it. Each one must lose points on its own task's test parts only
(``test_<grade_id>_*``); the solution keeps full marks.
"""

WRONG = {
    "msp": {
        "softmax over the batch (dim=0)": [("torch.softmax(logits, dim=1)",
                                            "torch.softmax(logits, dim=0)")],
        "exp without subtracting the maximum (overflows)": (
            "def max_softmax(logits):\n"
            "    exps = torch.exp(logits)\n"
            "    return (exps / exps.sum(dim=1, keepdim=True)).max(dim=1).values\n"),
        "subtracts the row maximum in place": (
            "def max_softmax(logits):\n"
            "    logits -= logits.max(dim=1, keepdim=True).values\n"
            "    exps = logits.exp()\n"
            "    return (exps / exps.sum(dim=1, keepdim=True)).max(dim=1).values\n"),
        "maximum logit instead of probability": [
            ("torch.softmax(logits, dim=1).max(dim=1).values", "logits.max(dim=1).values")],
        "keeps the reduced dimension (N, 1)": [(".max(dim=1).values",
                                               ".max(dim=1, keepdim=True).values")],
        "calls the kit's reference": "def max_softmax(logits):\n"
                                     "    return ood.msp_score(logits)\n",
        "calls the kit's reference through its table of scores": (
            "def max_softmax(logits):\n"
            "    return ood.SCORES[\"MSP\"](logits)\n"),
    },
    "threshold": {
        "no guard against 0.55 * 100 = 55.00000000000001": [
            ("math.ceil(tpr * len(in_scores) - 1e-9)", "math.ceil(tpr * len(in_scores))")],
        "floor instead of ceiling": [("math.ceil(tpr * len(in_scores) - 1e-9)",
                                      "int(tpr * len(in_scores))")],
        "one past the k-th score": [("values[k - 1]", "values[min(k, len(in_scores) - 1)]")],
        "quantile with interpolation": (
            "def threshold_for_tpr(in_scores, tpr=0.95):\n"
            "    if not 0 < tpr <= 1:\n"
            "        raise ValueError(\"tpr must be in (0, 1]\")\n"
            "    return torch.quantile(in_scores, 1 - tpr).item()\n"),
        "rejects tpr=1 (< instead of <=)": [("if not 0 < tpr <= 1:", "if not 0 < tpr < 1:")],
        "no check of tpr": [
            ("    if not 0 < tpr <= 1:\n"
             "        raise ValueError(f\"tpr={tpr}: expected a fraction in (0, 1]\")\n", "")],
        "returns a tensor": [("return float(torch.sort(in_scores, descending=True).values[k - 1])",
                              "return torch.sort(in_scores, descending=True).values[k - 1]")],
        "calls the kit's reference": (
            "def threshold_for_tpr(in_scores, tpr=0.95):\n"
            "    return ood.threshold_at_tpr(in_scores, tpr)\n"),
    },
    "detection": {
        "flags scores equal to the threshold (<= instead of <)": [
            ("(out_scores < threshold)", "(out_scores <= threshold)")],
        "the share accepted instead of flagged": [("(out_scores < threshold)",
                                                   "(out_scores >= threshold)")],
        "count instead of fraction": [(".float().mean().item()", ".float().sum().item()")],
        "returns a tensor": [(".float().mean().item()", ".float().mean()")],
        "calls the kit's reference": (
            "def detection_rate(out_scores, threshold):\n"
            "    return ood.detection_rate(out_scores, threshold)\n"),
    },
}
