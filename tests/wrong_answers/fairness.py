"""Plausible wrong answers to the fairness lab (tests/test_wrong_answers.py grades them).

Each must lose points on the task it breaks and only there: the p%-rule (ratio, edge
cases, rates vs counts), the combined loss (sign, weights, reduction, detached terms) and
one round of the game (loss of the epoch, gradients, order of the random draws, the
adversary fed logits), plus a variant per task that hands the work to the kit.
"""

ROUND_HEAD = """def alternating_round(classifier, adversary, X, y, Z, lambdas, clf_optimizer,
                      adv_optimizer, batch_size, generator):
"""

WRONG = {
    "p_rule": {
        "one ratio, not the smaller of the two": [
            ("min(rate_1 / rate_0, rate_0 / rate_1)", "rate_1 / rate_0")],
        "a fraction, not a percentage": [("float(100 * min(", "float(min(")],
        "0 when nobody is selected": [
            ("return 100.0 if rate_1 == rate_0 else 0.0", "return 0.0")],
        "no guard for a group without positives": [
            ("    if rate_1 == 0 or rate_0 == 0:\n"
             "        return 100.0 if rate_1 == rate_0 else 0.0\n", "")],
        "integers in the edge cases": [
            ("return 100.0 if rate_1 == rate_0 else 0.0", "return 100 if rate_1 == rate_0 else 0")],
        "counts instead of rates (sum, not mean)": [
            ("y_pred[z == 1].mean(), y_pred[z == 0].mean()",
             "y_pred[z == 1].sum(), y_pred[z == 0].sum()")],
        "calls the kit's p_percent_rule": (
            "from helpers import fairness\n\n\n"
            "def p_percent_rule(y_pred, z):\n"
            "    return fairness.p_percent_rule(y_pred, z)\n"),
    },
    "loss": {
        "adds the adversary's loss": [
            ("return loss_y - (lambdas * loss_z).sum()", "return loss_y + (lambdas * loss_z).sum()")],
        "one λ for the mean over all attributes": [
            ("return loss_y - (lambdas * loss_z).sum()",
             "return loss_y - lambdas.mean() * F.binary_cross_entropy_with_logits(z_logits, Z)")],
        "sum over people instead of the mean": [(".mean(dim=0)", ".sum(dim=0)")],
        "the adversary's loss detached": [
            ("(lambdas * loss_z).sum()", "(lambdas * loss_z.detach()).sum()")],
        "returns a Python float": [
            ("return loss_y - (lambdas * loss_z).sum()",
             "return (loss_y - (lambdas * loss_z).sum()).item()")],
        "calls the kit's combined_loss": (
            "from helpers import debiasing\n\n\n"
            "def combined_loss(y_logits, y, z_logits, Z, lambdas):\n"
            "    return debiasing.combined_loss(y_logits, y, z_logits, Z, lambdas)\n"),
    },
    "round": {
        "the adversary's loss is the mean over all attributes": [
            ("loss = F.binary_cross_entropy_with_logits(\n"
             "            z_logits, Z[index], reduction=\"none\").mean(dim=0).sum()",
             "loss = F.binary_cross_entropy_with_logits(z_logits, Z[index])")],
        "returns the last batch's loss, not the epoch's mean": [
            ("float(np.mean(adversary_losses))", "float(adversary_losses[-1])")],
        "no zero_grad for the adversary": [("        adv_optimizer.zero_grad()\n", "")],
        "adversary fed the classifier's logits": [
            ("z_logits = adversary(torch.sigmoid(y_logits).reshape(-1, 1))",
             "z_logits = adversary(y_logits.reshape(-1, 1))")],
        "probabilities detached in the classifier's step": [
            ("z_logits = adversary(torch.sigmoid(y_logits).reshape(-1, 1))",
             "z_logits = adversary(torch.sigmoid(y_logits).detach().reshape(-1, 1))")],
        "the adversary also steps in the classifier's step": [
            ("    clf_optimizer.step()\n", "    clf_optimizer.step()\n    adv_optimizer.step()\n")],
        "classifier's batch drawn before the epoch": (
            ROUND_HEAD
            + "    batch = torch.randint(len(X), (batch_size,), generator=generator)\n"
            "    with torch.no_grad():\n"
            "        probabilities = torch.sigmoid(classifier(X))\n"
            "    losses = []\n"
            "    for index in torch.randperm(len(X), generator=generator).split(batch_size):\n"
            "        loss = F.binary_cross_entropy_with_logits(\n"
            "            adversary(probabilities[index]), Z[index], reduction='none').mean(0).sum()\n"
            "        adv_optimizer.zero_grad()\n"
            "        loss.backward()\n"
            "        adv_optimizer.step()\n"
            "        losses.append(loss.item())\n"
            "    y_logits = classifier(X[batch]).reshape(-1)\n"
            "    z_logits = adversary(torch.sigmoid(y_logits).reshape(-1, 1))\n"
            "    loss = combined_loss(y_logits, y[batch], z_logits, Z[batch], lambdas)\n"
            "    clf_optimizer.zero_grad()\n"
            "    loss.backward()\n"
            "    clf_optimizer.step()\n"
            "    return float(np.mean(losses)), loss.item()\n"),
        "calls the kit's adversary_epoch and classifier_step": (
            "from helpers import debiasing\n\n\n"
            + ROUND_HEAD
            + "    adversary_loss = debiasing.adversary_epoch(adversary, classifier, X, Z,\n"
            "                                               adv_optimizer, batch_size, generator)\n"
            "    batch = torch.randint(len(X), (batch_size,), generator=generator)\n"
            "    y_logits = classifier(X[batch]).reshape(-1)\n"
            "    with torch.no_grad():\n"
            "        loss = combined_loss(y_logits, y[batch],\n"
            "                             adversary(torch.sigmoid(y_logits).reshape(-1, 1)),\n"
            "                             Z[batch], lambdas)\n"
            "    debiasing.classifier_step(classifier, adversary, X[batch], y[batch], Z[batch],\n"
            "                              lambdas, clf_optimizer)\n"
            "    return adversary_loss, loss.item()\n"),
    },
}
