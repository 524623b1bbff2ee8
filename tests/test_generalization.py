"""helpers.generalization: the chapter's runs (named results, reload-or-train), head-only
fine-tuning and the cached letters pretraining, at toy sizes."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from helpers import data, generalization, train
from helpers.paths import output_dir

# A toy profile: the settings generalization reads, small enough for seconds on a CPU.
PROFILE = SimpleNamespace(name="test", model="small_cnn", width=4, train_size=64,
                          batch_size=32, epochs=1, sgd_lr=0.01, adam_lr=2e-3, lr_gamma=0.9,
                          pretraining="letters",
                          generalization=SimpleNamespace(
                              finetune_epochs=2, augment_probability=0.5,
                              no_batchnorm={"batch_size": 8, "sgd_lr": 0.02, "epochs": 2}))


@pytest.fixture
def domains():
    source = data.load("svhn", "train", size=64, source="standin", verbose=False)
    tests = {"SVHN": data.load("svhn", "test", size=32, source="standin", verbose=False),
             "MNIST": data.load("mnist", "test", size=32, source="standin", verbose=False)}
    return source, tests


def _states_equal(first: nn.Module, second: nn.Module) -> list[str]:
    """Names of the state entries that differ between two models of one architecture."""
    return [key for key, value in first.state_dict().items()
            if not torch.equal(value, second.state_dict()[key])]


def test_letters_pretraining_is_cached_and_the_new_head_is_fresh(capsys):
    trained = generalization.pretrained_model(PROFILE, 10, seed=3, progress=False)
    cached = list(output_dir("pretrained").glob("letters-*.pt"))
    assert len(cached) == 1, f"expected one cached letters backbone, found {cached}"
    assert "loaded checkpoint" not in capsys.readouterr().out, "the first call must train"

    loaded = generalization.pretrained_model(PROFILE, 10, seed=3, progress=False)
    assert "loaded checkpoint" in capsys.readouterr().out, "the second call must load the cache"
    differing = _states_equal(trained, loaded)
    assert not differing, f"trained and loaded models should be identical; differ in {differing}"

    assert trained.fc.out_features == 10, f"expected a 10-class head, got {trained.fc}"
    train.set_seed(3)
    fresh = nn.Linear(trained.fc.in_features, 10)
    assert torch.equal(trained.fc.weight, fresh.weight), (
        "expected the head to be a fresh nn.Linear drawn right after set_seed(seed)")


def test_pretraining_must_be_letters_or_imagenet():
    with pytest.raises(ValueError, match="pretraining"):
        generalization.pretrained_model(SimpleNamespace(**{**vars(PROFILE),
                                                           "pretraining": "faces"}))


def test_run_returns_named_results_and_refuses_unknown_choices(domains):
    source, tests = domains
    with pytest.raises(ValueError, match="Unknown training choice"):
        generalization.run(PROFILE, source, tests, colour=True)
    result = generalization.run(PROFILE, source, tests, progress=False, dropout=0.2)
    assert isinstance(result, generalization.Run), f"expected a Run, got {type(result)}"
    assert set(result.accuracies) == set(tests), (
        f"expected one accuracy per test set {set(tests)}, got {set(result.accuracies)}")
    assert all(0 <= a <= 1 for a in result.accuracies.values()), (
        f"accuracies should be fractions, got {result.accuracies}")
    assert result.history["epoch"] == [1], f"expected one epoch, got {result.history['epoch']}"
    assert result.model.dropout.p == 0.2, f"expected dropout 0.2, got {result.model.dropout}"


def test_run_reloads_its_checkpoint_instead_of_training(domains, capsys):
    source, tests = domains
    path = train.checkpoint_path("generalization", "baseline", profile=PROFILE.name, seed=0)
    first = generalization.run(PROFILE, source, tests, progress=False, checkpoint=path)
    assert path.exists(), f"expected a checkpoint at {path}"
    capsys.readouterr()
    again = generalization.run(PROFILE, source, tests, progress=False, checkpoint=path)
    assert "loaded checkpoint" in capsys.readouterr().out, "the second run must load"
    assert again.accuracies == first.accuracies, (
        f"a reloaded model should score the same: {first.accuracies} vs {again.accuracies}")
    assert not _states_equal(first.model, again.model), "reloaded weights differ"
    other = train.checkpoint_path("generalization", "baseline", profile=PROFILE.name, seed=0,
                                  optimizer="adam")
    assert other != path, "a changed setting must name another checkpoint file"


def test_finetune_head_trains_only_the_head(domains):
    source, tests = domains
    model = generalization.run(PROFILE, source, tests, progress=False).model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = generalization.finetune_head(model, source.subset(32), tests, PROFILE,
                                          progress=False)
    assert isinstance(result, generalization.Finetuned), f"got {type(result)}"
    assert result.history["epoch"] == [1, 2], f"expected 2 epochs, got {result.history['epoch']}"
    trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
    assert trainable == ["fc.bias", "fc.weight"], f"expected only the head trainable, got {trainable}"
    changed = sorted(k for k, v in model.state_dict().items() if not torch.equal(v, before[k]))
    assert changed == ["fc.bias", "fc.weight"], f"expected only the head to change, got {changed}"


def test_recipe_is_the_profiles_except_the_per_choice_changes():
    baseline = generalization.recipe(PROFILE)
    assert baseline == {"epochs": 1, "batch_size": 32, "optimizer": "sgd", "lr": 0.01,
                        "lr_gamma": 0.9, "augment_probability": 0.0}, f"got {baseline}"
    no_bn = generalization.recipe(PROFILE, batchnorm=False)
    assert no_bn == {**baseline, "epochs": 2, "batch_size": 8, "lr": 0.02}, (
        f"expected no_batchnorm's epochs, batch size and SGD rate, got {no_bn}")
    adam_no_bn = generalization.recipe(PROFILE, batchnorm=False, optimizer="adam")
    assert adam_no_bn["lr"] == PROFILE.adam_lr, (
        f"no_batchnorm sets no Adam rate: expected {PROFILE.adam_lr}, got {adam_no_bn}")
    augmented = generalization.recipe(PROFILE, augment=True)
    assert augmented == {**baseline, "augment_probability": 0.5}, f"got {augmented}"
    with pytest.raises(ValueError, match="Unknown training choice"):
        generalization.recipe(PROFILE, colour=True)


def test_run_follows_the_recipe_and_records_validation(domains):
    source, tests = domains
    result = generalization.run(PROFILE, source, tests, progress=False, batchnorm=False,
                                val_data=tests["SVHN"])
    assert result.history["epoch"] == [1, 2], (
        f"expected no_batchnorm's 2 epochs, got {result.history['epoch']}")
    assert result.history["lr"][0] == 0.02, f"expected lr 0.02, got {result.history['lr']}"
    assert len(result.history["val_acc"]) == 2, (
        f"expected one validation accuracy per epoch, got {result.history['val_acc']}")
    assert abs(result.history["val_acc"][-1] - result.accuracies["SVHN"]) < 1e-6, (
        f"the last validation score is the SVHN test accuracy: "
        f"{result.history['val_acc'][-1]} vs {result.accuracies['SVHN']}")
