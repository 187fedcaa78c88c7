"""Colour hints in training (issue 21): every family takes them, simulated on the device from (seed, step, rank)."""

import pytest
import torch
from omegaconf import OmegaConf

from colorize.inference.loading import load_colorizer
from colorize.models import FAMILIES
from colorize.models.modules import build_module
from colorize.models.modules.base import encode_batch
from colorize.networks.bodies import BODIES
from colorize.networks.colorizer import build_colorizer
from colorize.networks.hints import histogram_bins, no_hints
from colorize.spaces import get_space
from colorize.training.fit import train
from conftest import MODELS, TINY_BODY, tiny_config

SHORT = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "logger=none"]


def model_options(family: str, **values):
    schema = OmegaConf.structured(FAMILIES[family].options)
    return OmegaConf.to_container(OmegaConf.merge(schema, {"name": family, **values}))


@pytest.mark.parametrize("body", list(BODIES))
def test_widened_body_computes_what_it_did_until_hints_are_given(body):
    """A pretrained body keeps its meaning: the new input channels start at zero weights."""
    options = model_options("gan", body=body, encoder="resnet18", pretrained=False, base_channels=8)
    net = BODIES[body].build(OmegaConf.create(options), 1, False).net.eval()
    lightness = torch.rand(2, 1, 32, 48) * 2 - 1
    with torch.no_grad():
        before = net(lightness)
        net.widen_input(5)
        after = net(torch.cat([lightness, torch.zeros(2, 5, 32, 48)], dim=1))
        moved = net(torch.cat([lightness, torch.ones(2, 5, 32, 48)], dim=1))
    assert torch.allclose(before, after, atol=1e-6)
    assert torch.equal(before, moved)  # zero weights: nothing yet depends on the hint channels
    assert sum(p.numel() for p in net.parameters() if p.dim() == 4 and p.shape[1] > 1) > 0


@pytest.mark.parametrize("hints", ["local", "global", "both"])
def test_hint_colorizer_with_no_hints_sees_l_and_zeros(hints):
    net = build_colorizer(FAMILIES["cnn"].spec(model_options("cnn", hints=hints, base_channels=8), "lab")).net.eval()
    lightness = torch.rand(2, 1, 16, 16) * 2 - 1
    inputs = net.inputs(lightness)
    assert torch.equal(inputs[:, :1], lightness) and not inputs[:, 1:].any()
    with torch.no_grad():
        assert torch.equal(net(lightness), net(lightness, *no_hints(2, 16, 16, net.global_length)))


@pytest.mark.parametrize("model", [m if m == "cnn" else pytest.param(m, marks=pytest.mark.slow) for m in MODELS])
def test_every_family_trains_with_hints_and_its_checkpoint_keeps_them(tmp_path, model):
    space = "luv" if model in ("cnn", "classify") else "lab"
    cfg = tiny_config(tmp_path, f"model={model}", f"space={space}", "model.hints=both", *SHORT)
    result = train(cfg)
    module = result.module
    assert module.net.hints == "both" and module.net.hint_encoder is not None
    if model == "gan":  # D's condition is L and the hints, through its own encoder
        d_params = {id(p) for group in result.trainer.optimizers[1].param_groups for p in group["params"]}
        assert id(module.condition.project.weight) in d_params
        assert module.discriminator.model[0].in_channels == 1 + module.condition.extra_channels + 2
    net = load_colorizer(result.run.dir / "checkpoints" / "last.ckpt")
    assert net.hints == "both" and net.global_length == module.net.global_length
    assert net.hint_encoder.project.weight.abs().sum() > 0  # it learned from the global hint
    lightness = torch.rand(1, 1, 32, 32) * 2 - 1
    hints = no_hints(1, 32, 32, net.global_length)
    hints = hints._replace(hint=torch.full_like(hints.hint, 0.5), mask=torch.ones_like(hints.mask))
    with torch.no_grad():
        assert torch.allclose(net(lightness, *hints), module.net.eval()(lightness, *hints), atol=1e-5)


def hint_module(tmp_path, *args):
    return build_module(tiny_config(tmp_path, "model.hints=both", *args))


def batch_of(space_name: str):
    return encode_batch(get_space(space_name), torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8))


class FakeTrainer:
    def __init__(self, step: int, seed: int = 0) -> None:
        self.global_step, self.global_rank, self.datamodule = step, 0, type("DataModule", (), {"seed": seed})()


def drawn(module, batch, step: int, seed: int = 0, training: bool = True, batch_idx: int = 0):
    module.train(training)
    module._trainer = FakeTrainer(step, seed)
    try:
        return module.with_hints(batch, batch_idx).hints
    finally:
        module._trainer = None


def test_training_hints_follow_seed_and_step_and_validation_hints_are_fixed(tmp_path):
    first, second = hint_module(tmp_path), hint_module(tmp_path, "model.base_channels=4")
    batch = batch_of("lab")
    same = [drawn(m, batch, step=3, seed=1) for m in (first, second)]
    assert all(torch.equal(a, b) for a, b in zip(*same))
    assert not torch.equal(drawn(first, batch, step=4, seed=1).mask, same[0].mask)
    assert not torch.equal(drawn(first, batch, step=3, seed=2).mask, same[0].mask)
    # Validation: the same hints for a batch in any run, at any step and data seed; a new batch index draws anew.
    val = drawn(first, batch, step=0, seed=0, training=False)
    assert all(torch.equal(a, b) for a, b in zip(val, drawn(second, batch, step=9, seed=5, training=False)))
    assert not torch.equal(drawn(first, batch, step=0, training=False, batch_idx=1).mask, val.mask)


def test_no_hint_model_is_unchanged(tmp_path):
    module = build_module(tiny_config(tmp_path))
    assert module.net.hints == "none" and module.net.hint_encoder is None
    assert not any("hint" in key for key in module.state_dict())
    batch = batch_of("lab")
    assert module.with_hints(batch, 0) is batch


def test_a_colorizer_with_global_hints_owns_its_histogram_bins(tmp_path):
    """Built once with the colorizer, from its space and grid; not weights, so the state dict holds none of it."""
    net = hint_module(tmp_path, "space=luv").net
    expected = histogram_bins(get_space("luv"))
    assert torch.equal(net.hint_bins.table, expected.table) and torch.equal(net.hint_bins.centres, expected.centres)
    assert net.hint_bins.global_length == net.global_length == len(expected.centres) + 3
    assert not any("bin" in key for key in net.state_dict())
    assert hint_module(tmp_path, "model.hints=local").net.hint_bins is None


def test_resnet_hints_enter_the_first_conv_and_the_last_skip(tmp_path):
    words = ["model=resnet", *TINY_BODY["resnet"], "model.pretrained=false", "model.hints=local"]
    module = build_module(tiny_config(tmp_path, *words))
    body = module.net.body
    assert body.encoder.conv1.in_channels == 1 + 3
    assert body.decoder.blocks[-1].convs[0][0].in_channels == body.decoder.blocks[-2].convs[-1][0].out_channels + 1 + 3


@pytest.mark.parametrize("hints", ["local", "global"])
def test_one_kind_of_hint_trains_and_validates(tmp_path, hints):
    """Local hints alone have no histogram bins, global alone no hint map: each trains on what it takes."""
    result = train(tiny_config(tmp_path, f"model.hints={hints}", "trainer.fast_dev_run=true", "logger=none"))
    assert result.trainer.global_step == 1 and result.module.net.hints == hints
