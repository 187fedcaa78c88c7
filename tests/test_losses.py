"""Losses on decoded RGB: the VGG16 perceptual loss and DDColor's colourfulness loss."""

from __future__ import annotations

import pytest
import torch
from skimage import data

from colorize.downloads import install_metric_weights
from colorize.errors import UserError
from colorize.metrics import colourfulness
from colorize.models.modules import build_module
from colorize.networks.losses import colourfulness_loss
from colorize.networks.perceptual import VGGPerceptualLoss
from colorize.options import ConfigError
from colorize.training.fit import train
from colorize.weight_files import WeightsUnavailable
from conftest import MODELS, tiny_config


@pytest.fixture(scope="module")
def perceptual():
    """The perceptual loss, after `make weights` (idempotent); skipped with the reason when that cannot run."""
    try:
        install_metric_weights(say=lambda line: None)
    except WeightsUnavailable as e:
        pytest.skip(f"make weights failed, so the perceptual loss cannot be checked here: {e}")
    return VGGPerceptualLoss()


def photos(size: int = 64) -> torch.Tensor:
    crops = [p[:size, :size] for p in (data.astronaut(), data.coffee(), data.chelsea())]
    return torch.stack([torch.from_numpy(c).permute(2, 0, 1) for c in crops]).float() / 255


def test_perceptual_loss_is_zero_on_identical_images_and_grows_with_the_difference(perceptual):
    target = photos()
    noise = torch.randn(target.shape, generator=torch.Generator().manual_seed(0))
    assert perceptual(target, target).item() == 0.0
    small = perceptual((target + 0.02 * noise).clamp(0, 1), target).item()
    grey = target.mean(dim=1, keepdim=True).expand_as(target)
    assert 0 < small < perceptual((target + 0.2 * noise).clamp(0, 1), target).item()
    assert perceptual(grey, target).item() > 0


def test_perceptual_loss_gradients_reach_the_input_and_not_the_vgg(perceptual):
    target = photos()
    preds = target.mean(dim=1, keepdim=True).expand_as(target).clone().requires_grad_()
    perceptual(preds, target).backward()
    assert preds.grad is not None and preds.grad.abs().sum() > 0 and preds.grad.isfinite().all()
    assert all(p.grad is None and not p.requires_grad for p in perceptual.vgg.parameters())


def test_perceptual_loss_compares_features_before_relu(perceptual):
    features = perceptual.features(photos())
    assert [f.shape[1] for f in features] == [64, 128, 256, 512, 512]
    assert all((f < 0).any() for f in features)  # conv outputs, not ReLU outputs


def test_perceptual_loss_keeps_the_vgg_out_of_state_dict_and_parameters_but_moves_it(perceptual):
    holder = torch.nn.Module()
    holder.loss = perceptual
    assert list(holder.state_dict()) == [] and list(holder.parameters()) == []
    holder.to(torch.float64)
    try:
        assert perceptual.vgg[0].weight.dtype == torch.float64
        assert perceptual(photos().double(), photos().double()).dtype == torch.float64
    finally:
        holder.to(torch.float32)


def test_perceptual_loss_without_vgg16_weights_says_run_make_weights(tmp_path, monkeypatch):
    """It reads torchvision's cache and never downloads: an empty torch home is an error at once."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(UserError, match="perceptual loss needs torchvision's vgg16-397923af.pth.*make weights"):
        VGGPerceptualLoss()


def test_colourfulness_loss_is_one_minus_ddcolor_s_colourfulness():
    batch = photos(96)
    expected = 1 - (colourfulness(batch) / 255).mean()  # population std on uint8; the loss: sample std on floats
    assert colourfulness_loss(batch).item() == pytest.approx(expected.item(), abs=2e-3)
    grey = batch.mean(dim=1, keepdim=True).expand_as(batch)
    assert colourfulness_loss(grey).item() == pytest.approx(1.0, abs=1e-3)
    assert colourfulness_loss(batch) < colourfulness_loss(0.5 * batch + 0.5 * grey) < colourfulness_loss(grey)


@pytest.mark.parametrize("kind", ["photos", "grey"])
def test_colourfulness_loss_gradients_are_finite_and_reach_the_input(kind):
    batch = photos()
    if kind == "grey":  # the square roots of zero spread and level: DDColor's gradient is NaN here
        batch = batch.mean(dim=1, keepdim=True).expand_as(batch)
    x = batch.clone().requires_grad_()
    colourfulness_loss(x).backward()
    assert x.grad.isfinite().all()
    if kind == "photos":
        assert x.grad.abs().sum() > 0


# ---------------------------------------------------------------- in every family's training


@pytest.mark.parametrize("model", MODELS)
def test_every_family_trains_with_the_losses_on_decoded_rgb(tmp_path, perceptual, model):
    """The weighted losses join the family's own; their gradients reach the colorizer."""
    cfg = tiny_config(
        tmp_path, f"model={model}", "model.perceptual_weight=1", "model.colourfulness_weight=0.5", "trainer.fast_dev_run=true"
    )
    module = build_module(cfg)
    batch = module.encode_batch(torch.from_numpy(data.astronaut()[:64, :64]).permute(2, 0, 1)[None].repeat(2, 1, 1, 1))
    chroma = module.net(batch.lightness)
    module.rgb_losses(batch, chroma).backward()
    grads = [p.grad for p in module.net.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    result = train(cfg)
    assert result.trainer.global_step >= 1
    logged = result.trainer.callback_metrics
    assert {"train/perceptual", "train/colourfulness"} <= set(logged)
    assert all(torch.isfinite(value) for key, value in logged.items() if key.startswith("train/"))


def test_the_losses_are_off_by_default_and_weights_must_not_be_negative(tmp_path):
    module = build_module(tiny_config(tmp_path))
    assert module.perceptual is None and not module.uses_rgb_losses
    with pytest.raises(ConfigError, match=r"model.colourfulness_weight=-1.*>= 0"):
        tiny_config(tmp_path, "model.colourfulness_weight=-1")
