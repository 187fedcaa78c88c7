"""The gan model: updates, D warm-up, warm start from a trained generator, training end to end, DDP."""

import csv
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch

from colorize.config import ConfigError, load_config
from colorize.data.datamodule import ColorizationDataModule
from colorize.errors import UserError
from colorize.inference.loading import load_colorizer
from colorize.models.modules import build_module, create_module
from colorize.models.modules.gan import GANColorizer, planned_batches
from colorize.training.fit import train
from colorize.training.trainer import trainer_kwargs
from conftest import TINY, tiny_config

GAN = ["model=gan", "model.ndf=8", "logger=none"]
GENERATORS = ["cnn", "resnet"]


def one_step(cfg):
    """Fit one batch; returns the module, its trainer and its parameters before the step."""
    module = build_module(cfg)
    before = {name: p.detach().clone() for name, p in module.named_parameters()}
    trainer = L.Trainer(fast_dev_run=True, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, datamodule=ColorizationDataModule(cfg.data))
    return module, trainer, before


def moved(before, module, prefix):
    """The names of the parameters under ``prefix`` whose values changed, and all of those names."""
    now = dict(module.named_parameters())
    names = {name for name in before if name.startswith(prefix)}
    assert names
    return {name for name in names if not torch.equal(before[name], now[name])}, names


@pytest.mark.parametrize("d_norm, gan_mode", [("batch", "vanilla"), ("instance", "lsgan"), ("spectral", "hinge")])
def test_one_step_updates_generator_and_discriminator(tmp_path, d_norm, gan_mode):
    module, trainer, before = one_step(tiny_config(tmp_path, *GAN, f"model.d_norm={d_norm}", f"model.gan_mode={gan_mode}"))
    assert trainer.global_step == 2  # one step of each optimiser
    changed, names = moved(before, module, "net.")
    assert changed == names
    changed, names = moved(before, module, "discriminator.")
    # Hinge only: at the start every output is inside the margin, so the last bias gets (-1 + 1) / 2 = 0.
    assert names - changed <= ({"discriminator.model.8.bias"} if gan_mode == "hinge" else set())
    metrics = trainer.callback_metrics
    for key in ("train/g_loss", "train/g_gan", "train/g_l1", "train/d_loss", "train/d_real", "train/d_fake"):
        assert torch.isfinite(metrics[key])
    g_gan, g_l1 = metrics["train/g_gan"].item(), metrics["train/g_l1"].item()
    assert metrics["train/g_loss"].item() == pytest.approx(g_gan + module.model_cfg.lambda_l1 * g_l1)


def test_warmup_step_changes_only_the_discriminator(tmp_path):
    module, trainer, before = one_step(tiny_config(tmp_path, *GAN, "model.d_warmup_steps=1"))
    assert trainer.global_step == 1
    assert moved(before, module, "net.")[0] == set()
    changed, names = moved(before, module, "discriminator.")
    assert changed == names
    assert "train/g_loss" not in trainer.callback_metrics and "train/d_loss" in trainer.callback_metrics


def count_batches(max_steps, warmup, epoch_batches):
    """Simulate the loop: warm-up batches take one optimiser step, the others two; stop at max_steps or the epochs' end."""
    steps = batches = 0
    while batches < epoch_batches and (max_steps < 0 or steps < max_steps):
        steps += 1 if batches < warmup else 2
        batches += 1
    return batches


@pytest.mark.parametrize("max_steps, warmup, epoch_batches", [(-1, 0, 40), (30, 0, 40), (31, 5, 100), (3, 5, 100), (500, 5, 40)])
def test_schedules_span_the_batches_the_run_will_take(max_steps, warmup, epoch_batches):
    trainer = SimpleNamespace(
        max_steps=max_steps, estimated_stepping_batches=epoch_batches if max_steps < 0 else min(epoch_batches, max_steps)
    )
    assert planned_batches(trainer, warmup) == count_batches(max_steps, warmup, epoch_batches)


def test_unbounded_run_with_schedules_is_a_config_error():
    with pytest.raises(ConfigError, match="trainer.max_epochs or trainer.max_steps"):
        planned_batches(SimpleNamespace(max_steps=-1, estimated_stepping_batches=math.inf), 0)


def test_trainer_clipping_is_refused_with_the_model_option_named(tmp_path):
    cfg = tiny_config(tmp_path, *GAN, "trainer.gradient_clip_val=1.0")
    with pytest.raises(ConfigError, match="model.gradient_clip_val"):
        trainer_kwargs(cfg, build_module(cfg))


def test_too_small_crops_are_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="data.crop_size"):
        train(tiny_config(tmp_path, *GAN, "data.crop_size=16", "trainer.fast_dev_run=true"))


# ---------------------------------------------------------------- warm start


def test_warm_start_loads_the_generator_exactly(tmp_path, cnn_checkpoint):
    cfg = tiny_config(tmp_path, *GAN, f"model.generator_ckpt={cnn_checkpoint}")
    module, init = create_module(cfg)
    trained = torch.load(cnn_checkpoint, weights_only=True)["state_dict"]
    generator = {k: v for k, v in trained.items() if k.startswith("net.")}
    state = module.state_dict()
    assert generator and all(torch.equal(state[k], v) for k, v in generator.items())
    assert init == module.hparams.model["init"] == f"generator_ckpt:{cnn_checkpoint}"
    assert cfg.model.init is None  # the config is left as it is: train() records init in config.yaml


def test_warm_start_from_another_space_names_both(tmp_path, cnn_checkpoint):
    cfg = tiny_config(tmp_path, *GAN, "space=luv", f"model.generator_ckpt={cnn_checkpoint}")
    with pytest.raises(UserError, match=r"cnn generator trained in lab.*model.body=cnn in space=luv"):
        build_module(cfg)


def test_warm_start_from_another_generator_kind_names_both(tmp_path, cnn_checkpoint):
    checkpoint = torch.load(cnn_checkpoint, weights_only=True)
    checkpoint["hyper_parameters"]["model"].update(name="resnet", body="resnet")
    relabelled = tmp_path / "resnet.ckpt"
    torch.save(checkpoint, relabelled)
    cfg = tiny_config(tmp_path, *GAN, f"model.generator_ckpt={relabelled}")
    with pytest.raises(UserError, match=r"resnet generator trained in lab.*model.body=cnn in space=lab"):
        build_module(cfg)


def test_warm_start_with_other_generator_options_says_which(tmp_path, cnn_checkpoint):
    cfg = tiny_config(tmp_path, *GAN, "model.base_channels=16", f"model.generator_ckpt={cnn_checkpoint}")
    with pytest.raises(UserError, match=r"model.base_channels=8"):
        build_module(cfg)


def test_warm_start_from_a_file_that_is_not_a_checkpoint(tmp_path):
    junk = tmp_path / "junk.ckpt"
    junk.write_text("not a checkpoint")
    with pytest.raises(UserError, match="not a colorize checkpoint"):
        build_module(tiny_config(tmp_path, *GAN, f"model.generator_ckpt={junk}"))
    with pytest.raises(UserError, match="no such file"):
        build_module(tiny_config(tmp_path, *GAN, f"model.generator_ckpt={tmp_path / 'missing.ckpt'}"))


# ---------------------------------------------------------------- end to end


@pytest.mark.parametrize("generator", GENERATORS)
@pytest.mark.parametrize("space", ["lab", "luv"])
def test_fast_dev_run(tmp_path, space, generator):
    result = train(tiny_config(tmp_path, *GAN, f"space={space}", f"model.body={generator}", "trainer.fast_dev_run=true"))
    assert isinstance(result.module, GANColorizer) and result.module.space.name == space
    assert result.trainer.global_step == 2
    assert torch.isfinite(result.trainer.callback_metrics["val/delta_e"])


def test_short_run_logs_both_players_and_reloads_as_a_colorizer(tmp_path):
    cfg = tiny_config(
        tmp_path,
        *GAN,
        "logger=csv",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.log_every_n_steps=1",
        "trainer.num_sanity_val_steps=0",
        "model.d_warmup_steps=1",
        "model.gradient_clip_val=1.0",
    )
    result = train(cfg)
    assert result.trainer.global_step == 1 + 2 * 3  # one warm-up batch, then three batches of D and G steps
    with open(result.run.dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    logged = {k for row in rows for k, v in row.items() if v}
    assert {"train/g_loss", "train/g_gan", "train/g_l1", "train/d_loss", "train/d_real", "train/d_fake"} <= logged
    assert {"val/delta_e", "val/psnr", "lr-generator", "lr-discriminator"} <= logged
    d_lrs = [float(r["lr-discriminator"]) for r in rows if r.get("lr-discriminator")]
    assert d_lrs[0] == pytest.approx(cfg.model.d_lr) and d_lrs[-1] < d_lrs[0]  # the linear schedule decays

    colorizer = load_colorizer(result.run.dir / "checkpoints" / "last.ckpt")
    assert (colorizer.spec.options["name"], colorizer.spec.body) == ("gan", "cnn") and not hasattr(colorizer, "discriminator")
    lightness = torch.rand(1, 1, 32, 32) * 2 - 1
    # The trained module is in channels_last layout (trainer.channels_last), the reloaded one is not: float rounding.
    torch.testing.assert_close(colorizer(lightness), result.module.eval()(lightness))


# ---------------------------------------------------------------- DDP


def ddp_args(tmp_path):
    return [
        *TINY,
        *GAN,
        "trainer=ddp_sim",
        "trainer.devices=2",  # after TINY's trainer.devices=1
        "logger=csv",
        f"runs_dir={tmp_path / 'runs'}",
        "name=ddp",
        "trainer.max_epochs=1",
        "data.train_crops_per_image=4",
        "trainer.limit_val_batches=1",
        "trainer.num_sanity_val_steps=0",
    ]


@pytest.mark.slow
def test_ddp_sim_trains_the_gan_on_two_processes_with_averaged_gradients(tmp_path):
    """trainer=ddp_sim (plain ``ddp``, 2 CPU processes over gloo) through ``train()``, relaunched as a module like
    ``python -m colorize.train``. Each process sees other crops, so equal weights at the end mean averaged gradients."""
    args = ddp_args(tmp_path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "ddp_gan_worker", *args]
    done = subprocess.run(command, cwd=Path(__file__).parent, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    run_dir = tmp_path / "runs" / "ddp"
    data = load_config(args).data
    crops = (len(data.sample_images) - len(data.sample_val_images)) * data.train_crops_per_image
    batches_per_process = crops // 2 // data.batch_size  # the crops are sharded over the 2 processes
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 2 * batches_per_process  # a D and a G step per batch

    ranks = [torch.load(run_dir / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert not set(ranks[0]["indices"].tolist()) & set(ranks[1]["indices"].tolist())
    params = ranks[0]["parameters"]
    assert params.keys() == ranks[1]["parameters"].keys()
    assert any(k.startswith("net.") for k in params) and any(k.startswith("discriminator.") for k in params)
    for name, value in params.items():
        assert torch.allclose(value, ranks[1]["parameters"][name], atol=1e-6), name
