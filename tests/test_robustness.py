"""helpers.robustness, the circle loss and the CIFAR-10 reader and stand-in."""

import math
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning.losses import CircleLoss

from helpers import attacks, data, models, robustness, train
from helpers.data import cifar
from helpers.losses import circle_loss
from helpers.models import build_model


@pytest.mark.parametrize("m, gamma", [(0.4, 80.0), (0.25, 256.0), (0.1, 10.0)])
def test_circle_loss_matches_pytorch_metric_learning(m, gamma):
    generator = torch.Generator().manual_seed(int(gamma))
    embeddings = torch.randn(24, 8, generator=generator, requires_grad=True)
    labels = torch.randint(0, 4, (24,), generator=generator)
    ours = circle_loss(embeddings, labels, m, gamma)
    theirs = CircleLoss(m=m, gamma=gamma)(embeddings, labels)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5), (
        f"expected {theirs.item()}, got {ours.item()}")
    ours_grad, = torch.autograd.grad(ours, embeddings)
    theirs_grad, = torch.autograd.grad(theirs, embeddings)
    assert torch.allclose(ours_grad, theirs_grad, atol=1e-5), (
        "expected the gradients of pytorch-metric-learning")


def test_circle_loss_prefers_separated_classes():
    labels = torch.tensor([0, 0, 1, 1])
    separated = torch.tensor([[1.0, 0], [1, 0.01], [0, 1], [0.01, 1]])
    mixed = torch.tensor([[1.0, 0], [0, 1], [1, 0.01], [0.01, 1]])
    assert circle_loss(separated, labels) < circle_loss(mixed, labels), (
        "expected a lower loss for separated classes")
    with pytest.raises(ValueError, match="labels"):
        circle_loss(separated, labels[:3])


def test_standin_is_deterministic_balanced_and_split_apart():
    images, labels = cifar.drawn_objects("train", 30, seed=2)
    again, _ = cifar.drawn_objects("train", 30, seed=2)
    test, _ = cifar.drawn_objects("test", 30, seed=2)
    assert images.shape == (30, 3, 32, 32) and images.dtype == np.uint8, (
        f"expected uint8 (30, 3, 32, 32), got {images.dtype} {images.shape}")
    assert np.array_equal(images, again) and not np.array_equal(images, test), (
        "expected the same images per seed and other images for the test split")
    assert np.bincount(labels, minlength=10).tolist() == [3] * 10, (
        f"expected 3 per class, got {np.bincount(labels, minlength=10)}")
    assert images.std() > 30 and len(cifar.CLASSES) == 10, (
        f"expected varied images, got std {images.std():.1f}")
    dataset = data.load("cifar10", "test", size=20, source="standin")
    assert dataset.classes == cifar.CLASSES and "stand-in" in dataset.description, (
        f"expected the CIFAR-10 classes and a stand-in, got {dataset.description}")


def _write_batch(path, count, offset):
    rng = np.random.default_rng(offset)
    content = {"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
               "labels": [(i + offset) % 10 for i in range(count)]}
    path.write_bytes(pickle.dumps(content))
    return content


def test_real_cifar10_reader_splits_train_and_validation(tmp_path, monkeypatch):
    folder = tmp_path / cifar.FOLDER
    folder.mkdir()
    batches = [_write_batch(folder / f"data_batch_{i}", 10, i) for i in range(1, 6)]
    test = _write_batch(folder / "test_batch", 7, 9)
    with open(folder / "batches.meta", "wb") as handle:     # in the archive; not read
        pickle.dump({"label_names": list(cifar.CLASSES)}, handle)
    train_images, train_labels = cifar.read_cifar10(tmp_path, "train")
    val_images, _ = cifar.read_cifar10(tmp_path, "validation")
    assert train_images.shape == (40, 3, 32, 32) and val_images.shape == (10, 3, 32, 32), (
        f"expected 40 + 10 images, got {train_images.shape}, {val_images.shape}")
    everything = np.concatenate([b["data"] for b in batches]).reshape(-1, 3, 32, 32)
    together = np.concatenate([train_images, val_images])
    assert sorted(map(bytes, together)) == sorted(map(bytes, everything)), "a partition"
    test_images, test_labels = cifar.read_cifar10(tmp_path, "test")
    assert np.array_equal(test_images.reshape(7, -1), test["data"]), (
        "expected the test images as written")
    assert test_labels.tolist() == test["labels"], (
        "expected the test labels as written")
    monkeypatch.setenv("TAI_DATA_DIR", str(tmp_path))
    loaded = data.load("cifar10", "train", source="real")
    assert loaded.source == "real" and len(loaded) == 40, (
        f"expected the 40 real training images, got {loaded.source} {len(loaded)}")


def test_corrupt_cifar10_file_says_how_to_fix_it(tmp_path):
    (tmp_path / cifar.FOLDER).mkdir()
    (tmp_path / cifar.FOLDER / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="download.py cifar10"):
        cifar.read_cifar10(tmp_path, "test")


def test_white_pixels_sets_exactly_count_pixels():
    images = torch.zeros(5, 3, 32, 32)
    corrupted = robustness.white_pixels(images, count=20, seed=1)
    white = (corrupted == 1).all(1)
    assert white.flatten(1).sum(1).tolist() == [20] * 5, (
        f"expected 20 white pixels per image, got {white.flatten(1).sum(1).tolist()}")
    assert torch.equal(corrupted, robustness.white_pixels(images, count=20, seed=1)), (
        "expected the same pixels for the same seed")
    assert images.sum() == 0, "the input is not modified"


def test_sign_noise_moves_every_pixel_by_eps_within_range():
    images = torch.full((3, 3, 8, 8), 0.5)
    images[0] = 0.0
    noisy = robustness.sign_noise(images, 0.1, seed=2)
    assert torch.allclose((noisy[1:] - images[1:]).abs(), torch.tensor(0.1)), (
        "expected every pixel moved by exactly 0.1")
    assert noisy.min() >= 0 and torch.equal(noisy, robustness.sign_noise(images, 0.1, seed=2)), (
        "expected values clipped at 0 and the same noise for the same seed")


def _fit(model, data, step=None, epochs=2, seed=0):
    return train.fit(model, data, epochs=epochs, batch_size=32, optimizer="adam", lr=2e-3,
                     step=step, seed=seed, progress=False)


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    train_set = data.load("cifar10", "train", size=400, source="standin", verbose=False)
    test_set = data.load("cifar10", "test", size=100, source="standin", verbose=False)
    model = build_model("small_cnn", width=4)
    history = _fit(model, train_set)
    return model, history, train_set, test_set


def test_training_records_a_history_and_learns(trained):
    model, history, _, test_set = trained
    assert history["epoch"] == [1, 2] and len(history["seconds"]) == 2, (
        f"expected two epochs recorded, got {history['epoch']}")
    images, labels = test_set.tensors()
    accuracy = robustness.accuracy(model, images, labels)
    assert accuracy > 0.2, f"expected above-chance accuracy (10 %), got {accuracy:.2f}"


def test_adversarial_batch_replaces_the_first_fraction_by_attacked_copies(trained):
    model, _, _, test_set = trained
    images, labels = test_set.tensors()
    images, labels = images[:8], labels[:8]
    batch = robustness.adversarial_batch(model, images, labels, "fgsm", 0.5, eps=4 / 255)
    attacked = attacks.fgsm(model, images[:4], labels[:4], 4 / 255)
    assert torch.equal(batch[:4], attacked), "expected FGSM copies of the first half"
    assert torch.equal(batch[4:], images[4:]), "expected the second half untouched"
    unchanged = robustness.adversarial_batch(model, images, labels, "fgsm", 0.0, eps=4 / 255)
    assert unchanged is images, "expected fraction 0 to return the batch as it is"


def test_adversarial_step_attacks_part_of_each_batch_inside_fit(trained, monkeypatch):
    _, _, train_set, _ = trained
    calls = []
    original = robustness.attacks.ATTACKS["fgsm"]
    monkeypatch.setitem(robustness.attacks.ATTACKS, "fgsm",
                        lambda m, x, y, **kw: calls.append(len(x)) or original(m, x, y, **kw))
    model = build_model("small_cnn", width=4)
    step = robustness.adversarial_step("fgsm", 0.25, eps=4 / 255)
    history = _fit(model, train_set.subset(64), step=step, epochs=1)
    assert calls == [8, 8], f"expected 8 of 32 images attacked per batch, got {calls}"
    assert 0 <= history["train_acc"][0] <= 1, f"got train_acc {history['train_acc']}"
    with pytest.raises(ValueError, match="attack"):
        robustness.adversarial_step("cw")
    with pytest.raises(ValueError, match="fraction"):
        robustness.adversarial_step("pgd", 1.5)


def test_circle_step_trains_the_embedding_reproducibly(trained):
    _, _, train_set, test_set = trained
    small = train_set.subset(200)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_model("small_cnn", width=4)
        history = _fit(model, small, step=robustness.circle_step(0.4, 80))
        runs.append((model, history))
    (model, history), (again, _) = runs
    assert all(math.isnan(a) for a in history["train_acc"]), (
        f"expected NaN train_acc (no logits), got {history['train_acc']}")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 again.state_dict().values())), (
        "expected two seeded circle-loss runs to give the same weights")
    images, labels = small.tensors()
    result = robustness.circle_step(0.4, 80)(model, (images[:16], labels[:16]))
    expected = circle_loss(model.embed(images[:16]), labels[:16], 0.4, 80)
    assert set(result) == {"loss"} and torch.isclose(result["loss"], expected), (
        f"expected only the circle loss {expected.item()}, got {result}")
    test_images, test_labels = test_set.tensors()
    knn = robustness.knn_accuracy(models.penultimate_features(model, images), labels,
                                  models.penultimate_features(model, test_images),
                                  test_labels)
    assert knn > 0.15, f"expected a k-NN read-out above chance (10 %), got {knn:.2f}"
    with pytest.raises(ValueError, match="gamma"):
        robustness.circle_step(0.4, 0)


def test_robust_accuracy_curve_starts_at_clean_accuracy_and_falls(trained):
    model, _, _, test_set = trained
    images, labels = test_set.tensors()
    curve = robustness.robust_accuracy_curve(model, images, labels, [0, 2 / 255, 16 / 255],
                                             steps=3)
    assert curve[0] == pytest.approx(robustness.accuracy(model, images, labels)), (
        f"expected the clean accuracy at ε = 0, got {curve}")
    assert curve[0] >= curve[1] >= curve[2], (
        f"expected accuracy to fall with ε, got {curve}")


def test_penultimate_features_match_embed(trained):
    model, _, _, test_set = trained
    images, _ = test_set.tensors()
    features = models.penultimate_features(model, images, batch_size=33)
    assert torch.allclose(features, model.embed(images).detach(), atol=1e-5), (
        "expected the inputs of the head, model.embed")


def test_knn_accuracy_on_separable_features():
    generator = torch.Generator().manual_seed(0)
    centres = torch.eye(3) * 10
    labels = torch.arange(60) % 3
    features = centres[labels] + torch.randn(60, 3, generator=generator)
    accuracy = robustness.knn_accuracy(features[:40], labels[:40], features[40:], labels[40:])
    assert accuracy == 1.0, f"expected perfect k-NN accuracy on separated clusters, got {accuracy}"


def test_centroid_classifier_predicts_the_nearest_centroid(trained):
    model, _, train_set, _ = trained
    images, labels = train_set.tensors()
    features = models.penultimate_features(model, images)
    centroids = robustness.class_centroids(features, labels, 10)
    head = robustness.CentroidClassifier(model, centroids)
    cosine = F.normalize(features, dim=1) @ F.normalize(centroids, dim=1).T
    with torch.no_grad():
        assert torch.equal(head(images[:50]).argmax(1), cosine[:50].argmax(1)), (
            "expected the nearest centroid by cosine")


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_embed_2d_keeps_clusters_apart(method):
    generator = torch.Generator().manual_seed(0)
    labels = np.arange(90) % 3
    features = (torch.eye(3)[labels] * 8 + torch.randn(90, 3, generator=generator)).numpy()
    points = robustness.embed_2d(features, method, seed=0)
    assert points.shape == (90, 2), (
        f"expected (90, 2), got {points.shape}")
    centres = np.stack([points[labels == k].mean(0) for k in range(3)])
    spread = max(np.linalg.norm(points[labels == k] - centres[k], axis=1).mean() for k in range(3))
    gap = min(np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i))
    assert gap > spread, f"expected centres farther apart ({gap:.2f}) than the spread {spread:.2f}"


def test_every_umap_kernel_is_cached_on_disk_once_umap_is_used():
    import sys

    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    robustness.embed_2d(np.random.default_rng(0).normal(size=(40, 4)), "umap")
    uncached = [f"{name}.{key}" for name, module in list(sys.modules.items())
                if module is not None and name.startswith(("umap", "pynndescent"))
                for key, value in vars(module).items()
                if isinstance(value, Dispatcher) and isinstance(value._cache, NullCache)]
    assert not uncached, (f"expected every numba kernel of umap and pynndescent to be "
                          f"cached on disk (compiled once per machine), these are not: "
                          f"{uncached[:5]}")


def _state(model):
    """Every module's training flag and every parameter's requires_grad, to compare."""
    return ([m.training for m in model.modules()], [p.requires_grad for p in model.parameters()])


def test_trades_adversarial_stays_in_the_ball_raises_the_kl_and_restores_the_model():
    torch.manual_seed(0)
    model = build_model("small_cnn", width=4).train()
    model.features[0].weight.requires_grad_(False)
    before, statistics = _state(model), model.features[1].running_mean.clone()
    images = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    images[0] = 0.0                                       # at the border of [0, 1]
    eps = 4 / 255
    torch.manual_seed(3)
    adversarial = robustness.trades_adversarial(model, images, eps, 1 / 255, 5)
    distance = (adversarial - images).abs().max().item()
    assert distance <= eps + 1e-7 and adversarial.min() >= 0 and adversarial.max() <= 1, (
        f"expected ‖x' − x‖∞ <= {eps:.5f} inside [0, 1], got {distance:.5f}, "
        f"[{adversarial.min().item()}, {adversarial.max().item()}]")
    assert _state(model) == before, "expected the modes and requires_grad flags restored"
    assert torch.equal(model.features[1].running_mean, statistics), (
        "expected the inner maximization (eval mode) to leave BatchNorm's statistics alone")
    model.eval()
    with torch.no_grad():
        clean = F.softmax(model(images), 1)
        torch.manual_seed(3)
        start = (images + 0.001 * torch.randn(images.shape)).clamp(0, 1)
        kl = [F.kl_div(F.log_softmax(model(x), 1), clean, reduction="batchmean").item()
              for x in (start, adversarial)]
    assert kl[1] > 10 * kl[0], f"expected PGD to raise the KL well above the start's, got {kl}"


def test_trades_step_loss_is_cross_entropy_plus_beta_kl():
    torch.manual_seed(0)
    model = models.Classifier(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
                                                  torch.nn.AdaptiveAvgPool2d(1),
                                                  torch.nn.Flatten()), 4, 3).train()
    images = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 2, 1, 0])
    torch.manual_seed(7)
    result = robustness.trades_step(beta=2.5, eps=0.05, step_size=0.02, steps=3)(
        model, (images, labels))
    torch.manual_seed(7)
    adversarial = robustness.trades_adversarial(model, images, 0.05, 0.02, 3)
    logits, shifted = model(images), model(adversarial)
    p, q = logits.double().softmax(1), shifted.double().softmax(1)
    cross_entropy = -p.log()[torch.arange(5), labels].mean()
    kl = (p * (p.log() - q.log())).sum(1).mean()
    expected = cross_entropy + 2.5 * kl
    assert result["loss"].item() == pytest.approx(expected.item(), rel=1e-5), (
        f"expected CE + β·KL = {expected.item():.6f}, got {result['loss'].item():.6f}")
    assert result["kl"] == pytest.approx(kl.item(), abs=1e-7) and kl.item() > 0, (
        f"expected the recorded KL {kl.item():.6f}, got {result['kl']}")
    parameters = list(model.parameters())
    ours = torch.autograd.grad(result["loss"], parameters)
    direct = torch.autograd.grad(expected, parameters)
    gap = max((a - b).abs().max().item() for a, b in zip(ours, direct))
    assert gap <= 1e-5, (
        f"expected the gradient of CE + β·KL through both passes, largest difference {gap}")
    assert torch.equal(result["logits"], logits) and model.training, (
        "expected the clean logits returned and the model left in training mode")
    for wrong in ({"beta": -1}, {"eps": -0.1}, {"steps": 0}):
        with pytest.raises(ValueError, match=next(iter(wrong))):
            robustness.trades_step(**wrong)


def test_trades_with_beta_zero_is_plain_cross_entropy_training(trained):
    _, _, train_set, _ = trained
    small = train_set.subset(64)
    runs = []
    for step in (None, robustness.trades_step(beta=0.0)):
        torch.manual_seed(0)
        model = build_model("small_cnn", width=4)
        runs.append((model, _fit(model, small, step=step, epochs=1)))
    (plain, plain_history), (trades, trades_history) = runs
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(),
                                                 trades.state_dict().values())), (
        "expected β = 0 to train exactly as cross-entropy does")
    assert trades_history["train_loss"] == plain_history["train_loss"], (
        f"expected the same losses, got {trades_history['train_loss']} and "
        f"{plain_history['train_loss']}")
    model = build_model("small_cnn", width=4)
    history = _fit(model, small, step=robustness.trades_step(1.0, 4 / 255, 2 / 255, 1), epochs=1)
    assert history["kl"][0] > 0, f"expected the KL recorded per epoch, got {history.get('kl')}"
