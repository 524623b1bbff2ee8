"""Plausible wrong answers to the generalization lab (see tests/test_wrong_answers.py).

Each must lose points on a part of its own task and nowhere else; the solution keeps
full marks. Replacement pairs apply to the solution's answer cell with str.replace.
"""

WRONG = {
    "label_smoothing": {
        "ignores alpha (plain cross-entropy)": [
            ("(1 - alpha) * F.one_hot(targets, num_classes).float() + alpha / num_classes",
             "F.one_hot(targets, num_classes).float()")],
        "sum over the batch instead of the mean": [
            (".sum(dim=1).mean()", ".sum()")],
        "smoothing mass alpha / (K - 1) on the wrong classes only": [
            ("soft = (1 - alpha) * F.one_hot(targets, num_classes).float() "
             "+ alpha / num_classes",
             "onehot = F.one_hot(targets, num_classes).float()\n"
             "    soft = (1 - alpha) * onehot + alpha / (num_classes - 1) * (1 - onehot)")],
        "log of softmax (underflows for confident logits)": [
            ("F.log_softmax(logits, dim=1)", "torch.log(F.softmax(logits, dim=1))")],
        "number of classes taken from the targets": [
            ("num_classes = logits.shape[1]", "num_classes = int(targets.max()) + 1")],
        "F.cross_entropy does the smoothing": """
def label_smoothing_loss(logits, targets, alpha=0.1):
    return F.cross_entropy(logits, targets, label_smoothing=alpha)
""",
        "calls the kit's reference": """
from helpers.losses import label_smoothing_cross_entropy

def label_smoothing_loss(logits, targets, alpha=0.1):
    return label_smoothing_cross_entropy(logits, targets, alpha)
""",
    },
    "augmentation": {
        "adds a horizontal flip": [
            ("v2.RandomCrop(32, padding=4),",
             "v2.RandomCrop(32, padding=4),\n        v2.RandomHorizontalFlip(),")],
        "crop without padding": [("v2.RandomCrop(32, padding=4)", "v2.RandomCrop(32)")],
        "steps in another order": [
            ("v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)),\n"
             "        v2.ColorJitter(brightness=0.2, contrast=0.2),",
             "v2.ColorJitter(brightness=0.2, contrast=0.2),\n"
             "        v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)),")],
        "pads to 40 and forgets to crop back to 32": [
            ("v2.RandomCrop(32, padding=4)", "v2.Pad(4)")],
        "perspective always applied": [("p=0.5", "p=1.0")],
        "calls the kit's reference": """
from helpers.data import digit_augmentation

def digit_safe_augmentation():
    return digit_augmentation()
""",
    },
    "freeze": {
        "counts parameter tensors, not scalars": [
            ("sum(p.numel() for p in model.parameters() if p.requires_grad)",
             "sum(1 for p in model.parameters() if p.requires_grad)")],
        "counts all parameters": [
            ("sum(p.numel() for p in model.parameters() if p.requires_grad)",
             "sum(p.numel() for p in model.parameters())")],
        "sets requires_grad on the module, not its parameters": [
            ("for parameter in model.fc.parameters():\n        parameter.requires_grad = True",
             "model.fc.requires_grad = True")],
        "never unfreezes a head that was frozen before": """
def freeze_all_but_head(model):
    for name, parameter in model.named_parameters():
        if not name.startswith("fc."):
            parameter.requires_grad = False
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
""",
        "calls the kit's reference": """
def freeze_all_but_head(model):
    models.freeze_all_but_head(model)
    return models.count_parameters(model, trainable_only=True)
""",
    },
    "evaluate": {
        "forgets eval()": [("    model.eval()\n", "")],
        "leaves the model in eval mode": [("        model.train(was_training)\n", "        pass\n")],
        "always switches back to training mode": [
            ("model.train(was_training)", "model.train()")],
        "keeps gradients on": [
            ("        with torch.no_grad():\n", "        if True:\n")],
        "mean of the per-batch accuracies": [
            ("correct += (model(images).argmax(1) == labels).sum().item()\n"
             "                    total += len(labels)",
             "correct += (model(images).argmax(1) == labels).float().mean().item()\n"
             "                    total += 1")],
        "calls the kit's reference": """
def evaluate_two_domains(model, test_sets):
    return train.evaluate_domains(model, test_sets)
""",
    },
}
