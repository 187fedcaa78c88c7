"""trainer.channels_last, trainer.compile and bf16-mixed precision give the results of the plain path."""

import copy
from functools import partial

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf

from colorize.config import ConfigError
from colorize.inference.loading import load_colorizer
from colorize.models.modules import build_module
from colorize.models.modules.base import encode_batch
from colorize.spaces import get_space
from colorize.training.fit import train
from colorize.training.trainer import speed_up, trainer_kwargs
from conftest import MODELS, SPACE_NAMES, tiny_config


def test_colorize_applies_its_own_trainer_options_and_lightning_gets_the_rest(tmp_path):
    cfg = tiny_config(tmp_path, "trainer.channels_last=true", "trainer.compile=true", "trainer.max_epochs=3")
    kwargs = trainer_kwargs(cfg, build_module(cfg))
    assert "channels_last" not in kwargs and "compile" not in kwargs and kwargs["max_epochs"] == 3


def test_cudnn_benchmark_is_on_by_default_on_cuda_only_and_can_be_switched(tmp_path, monkeypatch):
    cfg = tiny_config(tmp_path, "trainer.accelerator=auto")
    module = build_module(cfg)
    assert trainer_kwargs(cfg, module)["benchmark"] is False  # this machine has no CUDA
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert trainer_kwargs(cfg, module)["benchmark"] is True
    for override in ("trainer.benchmark=false", "trainer.deterministic=true", "trainer.accelerator=cpu"):
        assert trainer_kwargs(tiny_config(tmp_path, override), module)["benchmark"] is False, override
    assert trainer_kwargs(tiny_config(tmp_path, "trainer.accelerator=cpu", "trainer.benchmark=true"), module)["benchmark"]


def test_synchronised_batch_norm_on_the_cpu_is_a_clear_error_before_training(tmp_path, monkeypatch):
    """PyTorch's SyncBatchNorm runs only on CUDA: trainer=ddp on CPU nodes would fail in the first step."""
    cfg = tiny_config(tmp_path, "trainer.accelerator=cpu", "trainer.sync_batchnorm=true", f"runs_dir={tmp_path / 'runs'}")
    with pytest.raises(ConfigError, match="add trainer.sync_batchnorm=false"):
        train(cfg)
    assert not (tmp_path / "runs").exists()  # refused before any run directory is made
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    cfg = tiny_config(tmp_path, "trainer.accelerator=auto", "trainer.sync_batchnorm=true")
    assert trainer_kwargs(cfg, build_module(cfg))["sync_batchnorm"] is True


def test_lightning_sets_cudnn_benchmark_from_the_switch(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)  # restored after the test
    cfg = tiny_config(tmp_path, "trainer.accelerator=cpu", "trainer.benchmark=true")
    L.Trainer(**trainer_kwargs(cfg, build_module(cfg)), logger=False)
    assert torch.backends.cudnn.benchmark is True


@pytest.mark.parametrize("model", ["cnn", "gan"])
def test_compile_mode_reaches_every_network_and_the_colour_conversion(tmp_path, monkeypatch, model):
    modes = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kwargs: modes.append(("net", kwargs["mode"])))
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: modes.append(("conversion", kwargs["mode"])) or fn)
    cfg = tiny_config(tmp_path, f"model={model}", "trainer.compile=true", "trainer.compile_mode=reduce-overhead")
    speed_up(build_module(cfg), cfg.trainer)
    networks = 2 if model == "gan" else 1
    assert modes == [("net", "reduce-overhead")] * networks + [("conversion", "reduce-overhead")]


def test_an_unknown_compile_mode_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="compile_mode"):
        tiny_config(tmp_path, "trainer.compile_mode=fastest")


def outputs_and_gradients(module, rgb):
    module.zero_grad()
    batch = module.on_after_batch_transfer(rgb, 0)
    out = module(batch.lightness)
    if hasattr(module, "discriminate"):
        out = module.discriminate(batch, out)
    out.square().mean().backward()
    return out, {name: p.grad for name, p in module.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("model", MODELS)
def test_channels_last_gives_the_same_outputs_and_gradients(tmp_path, model):
    cfg = tiny_config(tmp_path, f"model={model}", "trainer.channels_last=false")
    plain = build_module(cfg)
    fast = copy.deepcopy(plain)
    speed_up(plain, cfg.trainer)
    speed_up(fast, OmegaConf.merge(cfg.trainer, {"channels_last": True}))
    weights = [p for p in fast.parameters() if p.dim() == 4 and p.shape[1] > 1 and p.shape[-1] > 1]
    assert weights and all(p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous() for p in weights)

    rgb = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    out_plain, grads_plain = outputs_and_gradients(plain, rgb)
    out_fast, grads_fast = outputs_and_gradients(fast, rgb)
    torch.testing.assert_close(out_fast, out_plain, rtol=1e-4, atol=1e-5)
    assert grads_fast.keys() == grads_plain.keys()
    for name, grad in grads_plain.items():
        torch.testing.assert_close(grads_fast[name], grad, rtol=1e-3, atol=1e-5, msg=name)


def short_run(tmp_path, *args):
    return tiny_config(
        tmp_path,
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=1",
        "trainer.num_sanity_val_steps=0",
        "logger=none",
        *args,
    )


def validation(result) -> dict[str, float]:
    return {k: float(v) for k, v in result.trainer.callback_metrics.items() if k.startswith("val/")}


def test_fast_settings_reach_the_same_validation_metrics(tmp_path):
    plain = validation(train(short_run(tmp_path, "name=plain", "trainer.channels_last=false")))
    channels_last = validation(train(short_run(tmp_path, "name=cl", "trainer.channels_last=true")))
    bf16 = validation(train(short_run(tmp_path, "name=bf16", "trainer.precision=bf16-mixed")))
    assert plain.keys() == channels_last.keys() == bf16.keys() and "val/delta_e" in plain
    for key, value in plain.items():
        assert channels_last[key] == pytest.approx(value, rel=1e-3, abs=1e-4), key
        # bf16 rounds activations to 8 bits of mantissa: close after three steps, not equal.
        assert bf16[key] == pytest.approx(value, rel=0.01, abs=1e-3), key


@pytest.mark.slow
@pytest.mark.parametrize("space", SPACE_NAMES)
def test_compiled_colour_conversion_gives_the_same_batches(space):
    eager = partial(encode_batch, get_space(space))
    compiled = torch.compile(eager)
    for shape in [(4, 3, 32, 32), (3, 3, 48, 40)]:
        rgb = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
        for a, b in zip(compiled(rgb), eager(rgb)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)


@pytest.mark.slow
def test_compiled_training_matches_eager_and_saves_plain_checkpoints(tmp_path):
    eager = validation(train(short_run(tmp_path, "name=eager")))
    result = train(short_run(tmp_path, "name=compiled", "trainer.compile=true"))
    compiled = validation(result)
    for key, value in eager.items():
        assert compiled[key] == pytest.approx(value, rel=1e-3, abs=1e-4), key
    reloaded = load_colorizer(result.run.checkpoints / "last.ckpt")
    # load_colorizer gives the plain network: its keys are the trained module's net, with no torch.compile prefix.
    assert reloaded.state_dict().keys() == build_module(short_run(tmp_path)).net.state_dict().keys()
