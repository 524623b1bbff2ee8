"""Plausible wrong answers to the stealing lab (tests/test_wrong_answers.py grades them).

Each must lose points on the task it breaks and only there: the query API (counting,
refusing, eval mode), the reverse sigmoid (sign, clipping, normalization), the
extraction step (soft vs hard targets, reduction, normalization) and the agreement
(labels vs scores, fraction vs count, eval mode), plus a variant per task that hands
the work to the kit (helpers.stealing). Most come from the lab's first wrong-answer
suite (tests/test_stealing_lab.py).
"""

API_HEAD = 'class PredictionAPI:\n    def __init__(self, model, budget):\n        self.model, self.budget, self.used = model, budget, 0\n\n    def query(self, images):\n'

WRONG = {
    'api': {
        'counts batches': API_HEAD + "        if self.used + 1 > self.budget:\n            raise RuntimeError(f'budget {self.budget}, {self.budget - self.used} remain')\n        self.used += 1\n        return torch.softmax(models.logits(self.model, images), 1)\n",
        'answers part of a batch': API_HEAD + "        remaining = self.budget - self.used\n        if remaining <= 0:\n            raise RuntimeError(f'budget {self.budget}, {remaining} remain')\n        images = images[:remaining]\n        self.used += len(images)\n        return torch.softmax(models.logits(self.model, images), 1)\n",
        'counts the refused batch': API_HEAD + "        self.used += len(images)\n        if self.used > self.budget:\n            raise RuntimeError(f'budget {self.budget}, {self.budget - self.used + len(images)} remain')\n        return torch.softmax(models.logits(self.model, images), 1)\n",
        'calls the model before the check': API_HEAD + "        answer = torch.softmax(models.logits(self.model, images), 1)\n        remaining = self.budget - self.used\n        if len(images) > remaining:\n            raise RuntimeError(f'budget {self.budget}, {remaining} remain')\n        self.used += len(images)\n        return answer\n",
        'off by one (>= budget)': API_HEAD + "        remaining = self.budget - self.used\n        if len(images) >= remaining:\n            raise RuntimeError(f'budget {self.budget}, {remaining} remain')\n        self.used += len(images)\n        return torch.softmax(models.logits(self.model, images), 1)\n",
        'message without numbers': API_HEAD + "        if len(images) > self.budget - self.used:\n            raise RuntimeError('budget exceeded')\n        self.used += len(images)\n        return torch.softmax(models.logits(self.model, images), 1)\n",
        'returns logits': API_HEAD + "        remaining = self.budget - self.used\n        if len(images) > remaining:\n            raise RuntimeError(f'budget {self.budget}, {remaining} remain')\n        self.used += len(images)\n        return models.logits(self.model, images)\n",
        'wraps helpers.stealing': 'from helpers import stealing\nclass PredictionAPI:\n    def __init__(self, model, budget):\n        self.api = stealing.QueryAPI(model, budget=budget)\n    @property\n    def used(self):\n        return self.api.used\n    def query(self, images):\n        try:\n            return self.api.query(images)\n        except stealing.BudgetExceeded as e:\n            raise RuntimeError(str(e))\n',
        'answers in train mode (calls the model directly)': API_HEAD + "        remaining = self.budget - self.used\n        if len(images) > remaining:\n            raise RuntimeError(f'budget {self.budget}, {remaining} remain')\n        self.used += len(images)\n        with torch.no_grad():\n            return torch.softmax(self.model(images), 1)\n",
        'answers with gradients': API_HEAD + "        remaining = self.budget - self.used\n        if len(images) > remaining:\n            raise RuntimeError(f'budget {self.budget}, {remaining} remain')\n        self.used += len(images)\n        self.model.eval()\n        return torch.softmax(self.model(images), 1)\n",
    },
    'rs': {
        'no renormalization': 'def reverse_sigmoid(p, beta, gamma):\n    c = p.clamp(1e-9, 1 - 1e-9)\n    r = beta * (torch.sigmoid(gamma * torch.log(c / (1 - c))) - 0.5)\n    return (p - r).clamp(0, 1)\n',
        'wrong sign (p + r)': 'def reverse_sigmoid(p, beta, gamma):\n    c = p.clamp(1e-9, 1 - 1e-9)\n    r = beta * (torch.sigmoid(gamma * torch.log(c / (1 - c))) - 0.5)\n    q = (p + r).clamp(0, 1)\n    return q / q.sum(1, keepdim=True)\n',
        'sigmoid of p, not of its logit': 'def reverse_sigmoid(p, beta, gamma):\n    r = beta * (torch.sigmoid(gamma * p) - 0.5)\n    q = (p - r).clamp(0, 1)\n    return q / q.sum(1, keepdim=True)\n',
        'no clip to [0, 1]': 'def reverse_sigmoid(p, beta, gamma):\n    c = p.clamp(1e-9, 1 - 1e-9)\n    r = beta * (torch.sigmoid(gamma * torch.log(c / (1 - c))) - 0.5)\n    q = p - r\n    return q / q.sum(1, keepdim=True)\n',
        'softmax renormalization': 'def reverse_sigmoid(p, beta, gamma):\n    c = p.clamp(1e-9, 1 - 1e-9)\n    r = beta * (torch.sigmoid(gamma * torch.log(c / (1 - c))) - 0.5)\n    return torch.softmax((p - r).clamp(0, 1), 1)\n',
        'calls helpers.stealing': 'from helpers.stealing import reverse_sigmoid as rs\ndef reverse_sigmoid(p, beta, gamma):\n    return rs(p, beta, gamma)\n',
    },
    'step': {
        'hard labels where soft were asked': "def extraction_step(model, batch):\n    queries, answers = batch\n    logits = model(queries)\n    labels = answers if answers.ndim == 1 else answers.argmax(1)\n    return {'loss': F.cross_entropy(logits, labels), 'logits': logits, 'labels': labels}\n",
        'no normalization of targets': "def extraction_step(model, batch):\n    queries, answers = batch\n    logits = model(queries)\n    if answers.ndim == 1:\n        return {'loss': F.cross_entropy(logits, answers), 'logits': logits, 'labels': answers}\n    loss = -(answers * F.log_softmax(logits, 1)).sum(1).mean()\n    return {'loss': loss, 'logits': logits, 'labels': answers.argmax(1)}\n",
        'sum over the batch': "def extraction_step(model, batch):\n    queries, answers = batch\n    logits = model(queries)\n    if answers.ndim == 1:\n        return {'loss': F.cross_entropy(logits, answers, reduction='sum'), 'logits': logits, 'labels': answers}\n    t = answers / answers.sum(1, keepdim=True)\n    loss = -(t * F.log_softmax(logits, 1)).sum()\n    return {'loss': loss, 'logits': logits, 'labels': answers.argmax(1)}\n",
        'MSE on probabilities': "def extraction_step(model, batch):\n    queries, answers = batch\n    logits = model(queries)\n    if answers.ndim == 1:\n        return {'loss': F.cross_entropy(logits, answers), 'logits': logits, 'labels': answers}\n    t = answers / answers.sum(1, keepdim=True)\n    return {'loss': F.mse_loss(torch.softmax(logits, 1), t), 'logits': logits, 'labels': answers.argmax(1)}\n",
        'log of softmax without log_softmax, mean over classes': "def extraction_step(model, batch):\n    queries, answers = batch\n    logits = model(queries)\n    if answers.ndim == 1:\n        return {'loss': F.cross_entropy(logits, answers), 'logits': logits, 'labels': answers}\n    t = answers / answers.sum(1, keepdim=True)\n    loss = -(t * torch.log(torch.softmax(logits, 1))).mean()\n    return {'loss': loss, 'logits': logits, 'labels': answers.argmax(1)}\n",
        'labels = soft answers': "def extraction_step(model, batch):\n    queries, answers = batch\n    logits = model(queries)\n    if answers.ndim == 1:\n        return {'loss': F.cross_entropy(logits, answers), 'logits': logits, 'labels': answers}\n    t = answers / answers.sum(1, keepdim=True)\n    loss = -(t * F.log_softmax(logits, 1)).sum(1).mean()\n    return {'loss': loss, 'logits': logits, 'labels': answers}\n",
        'no branch for label answers': "def extraction_step(model, batch):\n    queries, answers = batch\n    logits = model(queries)\n    t = answers / answers.sum(1, keepdim=True)\n    loss = -(t * F.log_softmax(logits, 1)).sum(1).mean()\n    return {'loss': loss, 'logits': logits, 'labels': answers.argmax(1)}\n",
        'calls helpers.stealing': 'from helpers import stealing\ndef extraction_step(model, batch):\n    return stealing.soft_label_step(model, batch)\n',
    },
    'agreement': {
        'against the true labels, not the victim': 'def agreement(copy, victim, images):\n    labels = torch.arange(len(images)) % 3\n    return (models.logits(copy, images).argmax(1) == labels).float().mean().item()\n',
        'returns a count': 'def agreement(copy, victim, images):\n    return float((models.logits(copy, images).argmax(1) == models.logits(victim, images).argmax(1)).sum())\n',
        'percent': 'def agreement(copy, victim, images):\n    return 100 * (models.logits(copy, images).argmax(1) == models.logits(victim, images).argmax(1)).float().mean().item()\n',
        'compares scores, not labels': 'def agreement(copy, victim, images):\n    return torch.isclose(torch.softmax(models.logits(copy, images), 1), torch.softmax(models.logits(victim, images), 1)).all(1).float().mean().item()\n',
        'returns a tensor': 'def agreement(copy, victim, images):\n    return (models.logits(copy, images).argmax(1) == models.logits(victim, images).argmax(1)).float().mean()\n',
        'calls helpers.stealing': 'from helpers import stealing\ndef agreement(copy, victim, images):\n    return stealing.model_agreement(copy, victim, images)\n',
        'calls the models directly (train mode)': 'def agreement(copy, victim, images):\n    with torch.no_grad():\n        same = copy(images).argmax(1) == victim(images).argmax(1)\n    return same.float().mean().item()\n',
    },
}
