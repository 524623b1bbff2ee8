import pytest
import torch

from helpers import data, models, train


@pytest.fixture
def digits():
    return (data.load("svhn", "train", size=96, source="standin", verbose=False),
            data.load("svhn", "test", size=64, source="standin", verbose=False))


def _fresh(seed=0):
    train.set_seed(seed)
    return models.build_model("small_cnn", width=8)


def test_history_has_one_entry_per_epoch(digits):
    model = _fresh()
    history = train.fit(model, digits[0], digits[1], epochs=2, batch_size=32, lr_gamma=0.5,
                        progress=False)
    assert history["epoch"] == [1, 2]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"):
        assert len(history[key]) == 2, key
    assert history["lr"][1] == pytest.approx(history["lr"][0] * 0.5)
    assert all(0 <= a <= 1 for a in history["train_acc"] + history["val_acc"])
    assert not model.training


def test_seeded_training_is_reproducible(digits):
    first, second = _fresh(), _fresh()
    h1 = train.fit(first, digits[0], epochs=1, batch_size=32, seed=5, progress=False)
    h2 = train.fit(second, digits[0], epochs=1, batch_size=32, seed=5, progress=False)
    assert h1["train_loss"] == h2["train_loss"]
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)


def test_training_learns_a_standin():
    train_set = data.load("mnist", "train", size=600, source="standin", verbose=False)
    test_set = data.load("mnist", "test", size=300, source="standin", verbose=False)
    model = _fresh()
    before = train.evaluate(model, test_set)["accuracy"]
    train.fit(model, train_set, epochs=3, batch_size=16, progress=False)
    after = train.evaluate(model, test_set)["accuracy"]
    assert after > 0.6 and after > before + 0.3


def test_frozen_backbone_stays_frozen(digits):
    model = _fresh()
    models.freeze_all_but_head(model)
    backbone = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}
    train.fit(model, digits[0], epochs=1, batch_size=32, progress=False)
    for key, value in model.state_dict().items():
        if not key.startswith("fc."):
            assert torch.equal(value, backbone[key]), f"{key} changed (BatchNorm statistics?)"


def test_checkpoint_is_loaded_instead_of_training(digits, tmp_path, capsys):
    path = tmp_path / "run.pt"
    trained = _fresh()
    history = train.fit(trained, digits[0], epochs=1, batch_size=32, checkpoint=path, progress=False)
    assert path.exists() and not list(tmp_path.glob(".*tmp"))
    restored = _fresh(seed=1)
    again = train.fit(restored, digits[0], epochs=1, batch_size=32, checkpoint=path, progress=False)
    out = capsys.readouterr().out
    assert again == history, f"expected the saved history {history}, got {again}"
    assert "loaded checkpoint run.pt" in out, f"expected a load notice, got {out!r}"
    assert torch.equal(restored.fc.weight, trained.fc.weight)


def test_a_checkpoint_of_other_settings_is_not_loaded(digits, tmp_path, capsys):
    path = tmp_path / "run.pt"
    train.fit(_fresh(), digits[0], epochs=1, batch_size=32, checkpoint=path, progress=False)
    retrained = _fresh(seed=1)
    train.fit(retrained, digits[0], epochs=1, batch_size=16, checkpoint=path, progress=False)
    out = capsys.readouterr().out
    assert "trained with other settings" in out, f"expected a retrain notice, got {out!r}"
    saved = torch.load(path, weights_only=False)
    assert saved["settings"]["batch_size"] == 16, f"expected the new run saved, got {saved['settings']}"


def test_checkpoint_path_changes_with_any_setting():
    first = train.checkpoint_path("robustness", "standard", profile="tiny", seed=0)
    assert first == train.checkpoint_path("robustness", "standard", seed=0, profile="tiny")
    assert first.parent.name == "checkpoints" and first.name.startswith("standard-")
    for changed in ({"profile": "quick", "seed": 0}, {"profile": "tiny", "seed": 1},
                    {"profile": "tiny", "seed": 0, "eps": 0.1}):
        other = train.checkpoint_path("robustness", "standard", **changed)
        assert other != first, f"settings {changed} should name another file than {first.name}"
    with pytest.raises(ValueError, match="settings"):
        train.checkpoint_path("robustness", "standard")


def test_a_custom_step_and_batch_source_record_their_metrics(digits):
    model = _fresh()
    images = torch.stack([digits[0][i][0] for i in range(64)])
    labels = torch.tensor([digits[0][i][1] for i in range(64)])
    seen_generators = []

    def source(generator):
        seen_generators.append(generator)
        order = torch.randperm(64, generator=generator)
        return [(images[chunk], labels[chunk]) for chunk in order.split(16)]

    def step(model, batch):
        batch_images, batch_labels = batch
        embedding = model.embed(batch_images)
        return {"loss": embedding.pow(2).mean(), "norm": embedding.norm(dim=1).mean().item(),
                "sometimes": None}

    history = train.fit(model, None, epochs=2, batches=source, step=step, progress=False)
    assert len(seen_generators) == 2 and seen_generators[0] is seen_generators[1]
    assert len(history["norm"]) == 2 and history["norm"][1] < history["norm"][0], history["norm"]
    assert "sometimes" not in history, "a metric never measured should not be recorded"
    assert all(a != a for a in history["train_acc"]), "no logits: train_acc should be NaN"


def test_epoch_metrics_run_in_eval_mode_and_training_resumes(digits):
    model = _fresh()
    modes = []

    def measure(model):
        modes.append(model.training)
        return {"bias": model.fc.bias.abs().mean().item()}

    history = train.fit(model, digits[0], epochs=2, batch_size=32, epoch_metrics=measure,
                        progress=False)
    assert len(history["bias"]) == 2 and modes == [False, False], (history, modes)


def test_a_custom_step_excludes_loss_fn(digits):
    with pytest.raises(ValueError, match="custom `step`"):
        train.fit(_fresh(), digits[0], epochs=1, step=lambda m, b: {}, loss_fn=torch.nn.MSELoss(),
                  progress=False)


def test_predict_returns_probabilities_and_restores_mode(digits):
    model = _fresh().train()
    probabilities, labels = train.predict(model, digits[1])
    assert probabilities.shape == (64, 10) and labels.shape == (64,)
    assert torch.allclose(probabilities.sum(1), torch.ones(64), atol=1e-5)
    assert model.training


def test_evaluate_domains(digits):
    accuracies = train.evaluate_domains(_fresh(), {"A": digits[0], "B": digits[1]})
    assert set(accuracies) == {"A", "B"} and all(0 <= v <= 1 for v in accuracies.values())


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, "epochs"), ({"epochs": 1, "batch_size": 0}, "batch_size"),
    ({"epochs": 1, "lr": -1}, "lr"), ({"epochs": 1, "optimizer": "rmsprop"}, "optimizer"),
])
def test_bad_arguments_are_named(digits, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train.fit(_fresh(), digits[0], progress=False, **kwargs)


def test_get_device():
    assert train.get_device("cpu") == torch.device("cpu")
    assert train.get_device("auto").type in ("cpu", "cuda", "mps")
