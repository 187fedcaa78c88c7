"""Global fusion (model.fusion, the resnet body's): the photo's pooled deepest features scale and shift every position of
the bottleneck; it starts as the identity, trains in every family with a resnet body, and exports."""

import numpy as np
import pytest
import torch

from colorize.config import ConfigError, load_config
from colorize.models.modules import build_module
from colorize.networks.unet import GlobalFusion
from colorize.training.fit import train
from conftest import SPACE_NAMES, tiny_config

RESNET = ["model.pretrained=false"]  # tiny_config's resnet18, random weights: no download


def test_fusion_reaches_every_position_from_the_whole_photo():
    fusion = GlobalFusion(8)
    torch.nn.init.normal_(fusion.film.weight)
    x = torch.randn(1, 8, 4, 6)
    other = x.clone()
    other[..., 3:, 4:] += 5  # change the photo far from position (0, 0)
    assert not torch.allclose(fusion(x)[..., 0, 0], fusion(other)[..., 0, 0])


def test_fusion_starts_as_the_identity_so_a_pretrained_encoder_computes_what_it_did(tmp_path):
    module = build_module(tiny_config(tmp_path, "model=resnet", "model.fusion=true", *RESNET)).eval()
    assert module.net.body.fusion is not None
    lightness = torch.rand(2, 1, 64, 96) * 2 - 1
    with torch.no_grad():
        fused = module.net(lightness)
        module.net.body.fusion = None
        torch.testing.assert_close(module.net(lightness), fused)


def test_fusion_is_a_resnet_body_option_with_a_clear_error_elsewhere():
    assert load_config(["model=resnet"]).model.fusion is False  # old checkpoints, which lack it, were built without it
    with pytest.raises(ConfigError, match="model=cnn has no such option; classify, gan, resnet have it"):
        load_config(["model=cnn", "model.fusion=true"])
    with pytest.raises(ConfigError, match=r"model.fusion \(from the command line\) is an option of body resnet"):
        load_config(["model=gan", "model.body=cnn", "model.fusion=true"])
    with pytest.raises(ConfigError, match="model.fusion"):
        load_config(["model=resnet", "model.fusion=sometimes"])


@pytest.mark.parametrize("model, space", [("resnet", SPACE_NAMES[0]), ("gan", SPACE_NAMES[1]), ("classify", SPACE_NAMES[0])])
def test_every_family_with_a_resnet_body_trains_with_fusion(tmp_path, model, space):
    body = [] if model == "resnet" else ["model.body=resnet"]
    args = [f"model={model}", f"space={space}", *body, "model.fusion=true", *RESNET, "trainer.fast_dev_run=true", "logger=none"]
    result = train(tiny_config(tmp_path, *args))
    fusion = result.module.net.body.fusion
    assert result.trainer.global_step >= 1 and fusion.film.weight.abs().sum() > 0  # it starts at zero: it has learned


@pytest.mark.slow
def test_fusion_exports_to_onnx_and_matches_pytorch(tmp_path):
    pytest.importorskip("onnxruntime", reason="needs the export extra")
    from colorize import onnx_predict
    from colorize.checkpoints import marker
    from colorize.inference.colorizing import network_predictor
    from colorize.inference.export import export
    from colorize.inference.loading import load_colorizer

    module = build_module(tiny_config(tmp_path, "model=resnet", "model.fusion=true", *RESNET))
    torch.nn.init.normal_(module.net.body.fusion.film.weight, std=0.1)  # not the identity
    checkpoint = tmp_path / "model.ckpt"
    torch.save({"colorize": marker(), "hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}, checkpoint)
    session = onnx_predict.OnnxColorizer(export(checkpoint, tmp_path / "fusion.onnx"))
    colorizer = load_colorizer(checkpoint)
    for height, width in ((75, 131), (257, 383)):
        lightness = torch.rand(2, 1, height, width) * 2 - 1
        expected = network_predictor(colorizer)(lightness).numpy()
        assert np.abs(session.predict_chroma(lightness.numpy()) - expected).max() < 1e-4


def test_a_checkpoint_saved_before_the_option_loads_without_fusion(tmp_path):
    from colorize.checkpoints import marker
    from colorize.inference.loading import load_colorizer

    module = build_module(tiny_config(tmp_path, "model=resnet", *RESNET))
    hparams = dict(module.hparams)
    hparams["model"] = {k: v for k, v in dict(hparams["model"]).items() if k != "fusion"}  # as saved before fusion came
    checkpoint = tmp_path / "before.ckpt"
    torch.save({"colorize": marker(), "hyper_parameters": hparams, "state_dict": module.state_dict()}, checkpoint)
    assert load_colorizer(checkpoint).body.fusion is None
