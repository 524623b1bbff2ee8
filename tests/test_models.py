import pytest
import torch
from torch import nn

from helpers import models


@pytest.mark.parametrize("name, width, dim", [("small_cnn", 8, 128), ("resnet18_cifar", 0.125, 64),
                                              ("resnet18", 1.0, 512)])
def test_shapes_and_embedding(name, width, dim):
    torch.manual_seed(0)
    model = models.build_model(name, num_classes=7, width=width).eval()
    x = torch.rand(2, 3, 32, 32)
    assert model(x).shape == (2, 7)
    assert model.embed(x).shape == (2, dim)


def test_resnet_layouts_use_torchvision_names():
    for name in ("resnet18_cifar", "resnet18"):
        features = models.build_model(name, width=0.25).features
        for layer in ("conv1", "bn1", "relu", "layer1", "layer2", "layer3", "layer4", "avgpool"):
            assert hasattr(features, layer), (name, layer)


def test_cifar_resnet_width_multiplier_scales_channels():
    narrow = models.build_model("resnet18_cifar", width=0.25)
    wide = models.build_model("resnet18_cifar", width=0.5)
    assert narrow.features.layer4[0].conv1.out_channels == 128
    assert wide.features.layer4[0].conv1.out_channels == 256
    assert models.count_parameters(wide) > 3 * models.count_parameters(narrow)


@pytest.mark.parametrize("name", models.MODELS)
def test_batchnorm_false_removes_every_batchnorm(name):
    model = models.build_model(name, width=8 if name == "small_cnn" else 0.25, batchnorm=False)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_normalization_lives_inside_the_model():
    model = models.build_model("small_cnn", width=4)
    x = torch.full((1, 3, 4, 4), 0.5)
    assert torch.allclose(model.normalize(x), torch.zeros_like(x))


def test_freeze_all_but_head():
    model = models.build_model("small_cnn", width=4)
    names = models.freeze_all_but_head(model)
    assert names == ["fc.weight", "fc.bias"]
    assert models.count_parameters(model, trainable_only=True) == model.fc.weight.numel() + 10


def test_replace_head():
    model = models.build_model("small_cnn", width=4, num_classes=26)
    models.replace_head(model, 10)
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "vgg"}, "Unknown model"),
    ({"num_classes": 1}, "num_classes"),
    ({"dropout": 1.0}, "dropout"),
    ({"width": 0}, "width"),
    ({"name": "small_cnn", "imagenet_weights": True}, "only available"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.build_model(**kwargs)


def test_imagenet_weights_without_network_give_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    with pytest.raises(RuntimeError, match="resnet18-f37072fd.pth"):
        models.build_model("resnet18", imagenet_weights=True)


def test_state_guard_restores_modes_and_flags_on_error():
    model = models.build_model("small_cnn", 3, width=4).train()
    model.features[0].eval()
    with pytest.raises(RuntimeError, match="boom"):
        with models.model_state_guard(model):
            assert not model.training and not any(p.requires_grad for p in model.parameters())
            raise RuntimeError("boom")
    assert model.training and not model.features[0].training
    assert all(p.requires_grad for p in model.parameters())


def test_capture_reads_outputs_and_inputs_and_removes_its_hook_on_error():
    model = models.build_model("small_cnn", 3, width=4).eval()
    images = torch.rand(5, 3, 16, 16)
    with models.capture(model.fc, what="input") as inputs, models.capture(model.fc) as outputs:
        logits = model(images)
        model(images)
    assert len(inputs) == 2 and inputs[0].shape == (5, 64), [t.shape for t in inputs]
    assert torch.equal(outputs[0], logits.detach())
    assert not model.fc._forward_hooks and not model.fc._forward_pre_hooks
    with pytest.raises(RuntimeError, match="boom"):
        with models.capture(model.fc):
            raise RuntimeError("boom")
    assert not model.fc._forward_hooks, "capture must remove its hook when the block raises"
    with pytest.raises(ValueError, match="what"):
        with models.capture(model.fc, what="gradient"):
            pass


def test_forward_hook_can_replace_an_output():
    model = models.build_model("small_cnn", 3, width=4).eval()
    images = torch.rand(2, 3, 16, 16)
    with models.forward_hook(model.fc, lambda module, inputs, output: torch.zeros_like(output)):
        assert torch.equal(model(images), torch.zeros(2, 3))
    assert model(images).abs().sum() > 0, "the replacement must end with the block"


def test_get_layer_by_name_or_module():
    model = models.build_model("small_cnn", 3, width=4)
    assert models.get_layer(model, "features.0") is model.features[0]
    assert models.get_layer(model, model.fc) is model.fc
    with pytest.raises(ValueError, match="no such submodule"):
        models.get_layer(model, "features.99")
    with pytest.raises(ValueError, match="not a module of the model"):
        models.get_layer(model, nn.Linear(2, 2))
    with pytest.raises(TypeError, match="layer"):
        models.get_layer(model, 3)


def test_logits_with_labels_match_the_dataset_and_restore_mode():
    from helpers import data

    model = models.build_model("small_cnn", 10, width=4).train()
    dataset = data.load("svhn", "test", size=40, source="standin", verbose=False)
    outputs, labels = models.logits(model, dataset, batch_size=16, with_labels=True)
    assert outputs.shape == (40, 10) and labels.tolist() == [dataset[i][1] for i in range(40)]
    assert model.training, "logits must restore train mode"
    with pytest.raises(ValueError, match="with_labels"):
        models.logits(model, torch.rand(3, 3, 32, 32), with_labels=True)
    with pytest.raises(TypeError, match="data"):
        models.logits(model, [1, 2, 3])


def test_penultimate_features_reject_an_empty_input_and_a_model_without_head():
    model = models.build_model("small_cnn", 3, width=4)
    with pytest.raises(ValueError, match="data"):
        models.penultimate_features(model, torch.rand(0, 3, 16, 16))
    with pytest.raises(ValueError, match="layer"):
        models.penultimate_features(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)), torch.rand(2, 3))


def test_inference_leaves_the_global_random_stream_alone():
    from helpers import data

    model = models.build_model("small_cnn", 10, width=4)
    dataset = data.load("svhn", "test", size=20, source="standin", verbose=False)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    models.logits(model, dataset, batch_size=8)
    got = torch.rand(3)
    assert torch.equal(got, expected), f"expected the draws {expected} after inference, got {got}"
