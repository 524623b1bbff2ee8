"""Plausible wrong answers to the robustness lab (see tests/test_wrong_answers.py).

Each must lose points on a part of its own task and nowhere else; the solution keeps
full marks. Replacement pairs apply to the solution's answer cell with str.replace.
"""

WRONG = {
    "fgsm": {
        "wrong sign of the gradient": [("images + eps * gradient.sign()",
                                        "images - eps * gradient.sign()")],
        "no clamp to [0, 1]": [(".clamp(0, 1).detach()", ".detach()")],
        "gradient instead of its sign": [("eps * gradient.sign()", "eps * gradient")],
        "forgets eval()": [("    model.eval()\n", "")],
        "mode not restored": [("        model.train(was_training)\n", "        pass\n")],
        "gradient flag set on the caller's images": [
            ("x = images.clone().detach().requires_grad_(True)",
             "x = images.requires_grad_(True)")],
        "steps the images in place": [
            ("return (images + eps * gradient.sign()).clamp(0, 1).detach()",
             "return images.add_(eps * gradient.sign()).clamp_(0, 1).detach()")],
        "returns a tensor attached to the graph": [
            ("(images + eps * gradient.sign()).clamp(0, 1).detach()",
             "(x + eps * gradient.sign()).clamp(0, 1)")],
        "calls the kit's reference": """
from helpers import attacks

def fgsm(model, images, labels, eps):
    return attacks.fgsm(model, images, labels, eps)
""",
    },
    "pgd": {
        "no projection onto the ε-ball": [
            ("delta = (stepped - original).clamp(-eps, eps)", "delta = stepped - original")],
        "clips the step, not the distance to the original": [
            ("delta = (stepped - original).clamp(-eps, eps)\n"
             "    return (original + delta).clamp(0, 1).detach()",
             "delta = (stepped - adversarial).clamp(-eps, eps)\n"
             "    return (adversarial + delta).clamp(0, 1).detach()")],
        "gradient at the original image": [
            ("x = adversarial.clone()", "x = original.clone()")],
        "wrong sign of the gradient": [("adversarial + step_size * gradient.sign()",
                                        "adversarial - step_size * gradient.sign()")],
        "no clamp to [0, 1]": [("(original + delta).clamp(0, 1).detach()",
                                "(original + delta).detach()")],
        "calls the kit's reference": """
from helpers import attacks

def pgd_step(model, adversarial, original, labels, step_size, eps):
    stepped = attacks.fgsm(model, adversarial, labels, step_size)
    delta = (stepped - original).clamp(-eps, eps)
    return (original + delta).clamp(0, 1)


def my_pgd(model, images, labels, eps, step_size, steps):
    adversarial = images.clone()
    for _ in range(steps):
        adversarial = pgd_step(model, adversarial, images, labels, step_size, eps)
    return adversarial
""",
    },
    "robust": {
        "accuracy on the clean images": [
            ("model(adversarial).argmax(1)", "model(x).argmax(1)")],
        "mean of the per-batch accuracies": [
            ("correct += (model(adversarial).argmax(1) == y).sum().item()",
             "correct += (model(adversarial).argmax(1) == y).float().mean().item() "
             "* batch_size"),
            ("return correct / len(images)",
             "return correct / (batch_size * -(-len(images) // batch_size))")],
        "drops the last, smaller batch": [
            ("range(0, len(images), batch_size)",
             "range(0, len(images) - batch_size + 1, batch_size)"),
            ("return correct / len(images)",
             "return correct / (len(images) // batch_size * batch_size)")],
        "forgets eval()": [("            model.eval()\n", "")],
        "mode not restored": [("        model.train(was_training)\n", "        pass\n")],
        "keeps gradients on": [("with torch.no_grad():", "if True:")],
        "calls the kit's reference": [
            ("            model.eval()\n"
             "            with torch.no_grad():\n"
             "                correct += (model(adversarial).argmax(1) == y).sum().item()",
             "            from helpers import robustness\n"
             "            correct += robustness.accuracy(model, adversarial, y) * len(y)")],
    },
    "adv": {
        "int() instead of round()": [("round(fraction * len(x))", "int(fraction * len(x))")],
        "attacks the last images": [
            ("x = torch.cat([fgsm(model, x[:count], y[:count], eps), x[count:]])",
             "x = torch.cat([x[:-count], fgsm(model, x[-count:], y[-count:], eps)])\n"
             "            y = torch.cat([y[:-count], y[-count:]])")],
        "trains on the clean batch": [
            ("x = torch.cat([fgsm(model, x[:count], y[:count], eps), x[count:]])",
             "mixed = torch.cat([fgsm(model, x[:count], y[:count], eps), x[count:]])")],
        "forgets train()": [("        model.train()\n", "")],
        "no zero_grad": [("        optimizer.zero_grad()\n", "")],
        "returns the sum of the batch losses": [
            ("return sum(losses) / len(losses)", "return sum(losses)")],
        "calls the kit's reference": [
            ("        count = round(fraction * len(x))\n"
             "        if count:\n"
             "            x = torch.cat([fgsm(model, x[:count], y[:count], eps), x[count:]])",
             "        from helpers import robustness\n"
             "        x = robustness.adversarial_batch(model, x, y, \"fgsm\", fraction, eps=eps)")],
    },
    "trades": {
        "KL the other way round, KL(f(x') ‖ f(x))": [
            ("F.kl_div(F.log_softmax(model(adversarial), dim=1),\n"
             "                          F.softmax(logits, dim=1), reduction=\"batchmean\")",
             "F.kl_div(F.log_softmax(logits, dim=1),\n"
             "                          F.softmax(model(adversarial), dim=1), "
             "reduction=\"batchmean\")")],
        "mean over classes and images instead of the batch mean": [
            ('reduction="batchmean"', 'reduction="mean"')],
        "probabilities instead of log-probabilities as kl_div's input": [
            ("F.kl_div(F.log_softmax(model(adversarial), dim=1),",
             "F.kl_div(F.softmax(model(adversarial), dim=1),")],
        "detaches the clean prediction": [
            ("F.softmax(logits, dim=1), reduction",
             "F.softmax(logits, dim=1).detach(), reduction")],
        "beta on the cross-entropy": [
            ("F.cross_entropy(logits, labels) + beta * divergence",
             "beta * F.cross_entropy(logits, labels) + divergence")],
        "puts the model in eval mode": [
            ("    logits = model(images)\n", "    model.eval()\n    logits = model(images)\n")],
        "calls the kit's reference": """
from helpers import robustness

def trades_loss(model, images, adversarial, labels, beta):
    return robustness.trades_step(beta)(model, (images, labels))["loss"]
""",
    },
}
