"""Train a colorizer: ``python -m colorize.train model=cnn space=lab [key=value ...]``."""

from __future__ import annotations

import logging
import signal
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from colorize.callbacks import RandomState, SampleGrid, SaveOnInterrupt, StopOnNonFiniteLoss, UnreadableFileReport
from colorize.checkpoints import AtomicCheckpointIO, read_checkpoint
from colorize.config import ConfigError, TrainerConfig, cli_config, load_config, to_dict
from colorize.data import ColorizationDataModule
from colorize.errors import UserError, user_message
from colorize.loggers import build_loggers
from colorize.models import ColorizerModule, build_module
from colorize.runs import Run, prepare_run, saved_config

# Lightning notes that our LightningModule, not the DataModule, converts batches after transfer: by design.
warnings.filterwarnings("ignore", message=".*overridden `on_after_batch_transfer` in `LightningModule`.*")
# Only a resumed run writes into an existing checkpoint folder (a new run always gets a new folder).
warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(lambda record: "litlogger" not in record.getMessage())


@dataclass
class TrainResult:
    run: Run
    trainer: L.Trainer
    module: ColorizerModule
    checkpoint: ModelCheckpoint
    interrupt: SaveOnInterrupt  # .signal is set if SIGTERM or Ctrl+C stopped the run


def on_cuda(accelerator: str) -> bool:
    return accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()


def auto_precision(accelerator: str) -> str:
    return "bf16-mixed" if on_cuda(accelerator) and torch.cuda.is_bf16_supported() else "32-true"


def auto_benchmark(accelerator: str, deterministic: Any) -> bool:
    """cudnn.benchmark on CUDA, unless the run asks to be deterministic (benchmarking picks algorithms by timing)."""
    return on_cuda(accelerator) and not deterministic


# trainer.* options that colorize applies itself (see speed_up) rather than passing to lightning.Trainer.
COLORIZE_TRAINER_OPTIONS = frozenset(f.name for f in fields(TrainerConfig) if f.metadata.get("lightning") is False)


def speed_up(module: ColorizerModule, trainer_cfg: DictConfig) -> None:
    """Apply ``trainer.channels_last`` and ``trainer.compile`` (in ``trainer.compile_mode``) to a module before it trains."""
    if trainer_cfg.channels_last:
        module.to(memory_format=torch.channels_last)
    if trainer_cfg.compile:
        module.compile_networks(trainer_cfg.compile_mode)


def trainer_kwargs(cfg: DictConfig, module: ColorizerModule) -> dict[str, Any]:
    kwargs = {k: v for k, v in to_dict(cfg.trainer).items() if v is not None and k not in COLORIZE_TRAINER_OPTIONS}
    kwargs.setdefault("precision", auto_precision(kwargs["accelerator"]))
    kwargs.setdefault("benchmark", auto_benchmark(kwargs["accelerator"], kwargs.get("deterministic")))
    if kwargs.get("sync_batchnorm") and not on_cuda(kwargs["accelerator"]):
        raise ConfigError(
            f"trainer.sync_batchnorm=true (trainer=ddp sets it) works only on CUDA GPUs, and this run trains on the CPU "
            f"(trainer.accelerator={kwargs['accelerator']}{'' if torch.cuda.is_available() else ', no GPU here'}): "
            "add trainer.sync_batchnorm=false, as trainer=ddp_sim has."
        )
    if kwargs.get("strategy") == "ddp" and module.ddp_find_unused_parameters:
        kwargs["strategy"] = "ddp_find_unused_parameters_true"
    if not module.automatic_optimization and (kwargs.get("gradient_clip_val") or kwargs["accumulate_grad_batches"] != 1):
        raise ConfigError(
            f"model={cfg.model.name} steps its own optimisers, so trainer.gradient_clip_val and "
            "trainer.accumulate_grad_batches do not apply; use model.gradient_clip_val, or a larger data.batch_size."
        )
    return kwargs


def build_trainer(cfg: DictConfig, run: Run, module: ColorizerModule) -> tuple[L.Trainer, ModelCheckpoint, SaveOnInterrupt]:
    loggers = build_loggers(cfg, run)
    checkpoint = ModelCheckpoint(
        dirpath=run.checkpoints,
        filename="best-epoch={epoch:03d}-step={step:06d}",
        auto_insert_metric_name=False,
        monitor=cfg.monitor,
        mode=cfg.monitor_mode,
        save_top_k=1,
        save_last=True,
    )
    interrupt = SaveOnInterrupt(run.checkpoints / "last.ckpt")
    callbacks: list[L.Callback] = [
        checkpoint,
        interrupt,
        StopOnNonFiniteLoss(),
        RandomState(),
        UnreadableFileReport(),
        SampleGrid(run.samples, cfg.grid_images),
        # A non-TTY log (CI, nohup, SLURM) would get a line per refresh.
        TQDMProgressBar(refresh_rate=1 if sys.stderr.isatty() else 50),
    ]
    if loggers:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    # Not so here: the DataModule's EpochSampler resumes mid-epoch exactly.
    warnings.filterwarnings("ignore", "You're resuming from a checkpoint that ended before the epoch ended")
    try:
        trainer = L.Trainer(
            **trainer_kwargs(cfg, module),
            logger=loggers or False,
            callbacks=callbacks,
            plugins=[AtomicCheckpointIO()],
            default_root_dir=str(run.dir),
        )
    except (MisconfigurationException, ValueError, RuntimeError) as e:
        raise ConfigError(f"Cannot build the trainer from trainer.*: {e}") from None
    return trainer, checkpoint, interrupt


def finish_wandb(exit_code: int = 0) -> None:
    """Close this process's W&B run, so that the next train() in the same process starts its own."""
    if "wandb" in sys.modules and sys.modules["wandb"].run is not None:
        sys.modules["wandb"].finish(exit_code=exit_code)


def config_for(argv: Sequence[str]) -> DictConfig:
    """The config of a new run, or, with resume=..., the saved config of that run plus any overrides."""
    # resume= is read from the words themselves: the defaults' model would reject the saved model's keys
    resume = next((word.partition("=")[2] for word in reversed(argv) if word.startswith("resume=")), None)
    return load_config(argv, base=saved_config(resume) if resume else None)


def train(cfg: DictConfig) -> TrainResult:
    """Train, or continue a run with ``cfg.resume``. Stopped by SIGTERM or Ctrl+C, it saves last.ckpt and
    returns (``result.interrupt.signal`` says so); a diverged loss raises ``TrainingDiverged``."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = ColorizationDataModule(cfg.data, seed=cfg.seed)
    datamodule.setup("fit")  # bad data fails here, before any run directory is made
    if cfg.resume:
        read_checkpoint(cfg.resume)  # so does a resume= file that is not a colorize checkpoint
    module = build_module(cfg)
    speed_up(module, cfg.trainer)
    trainer_kwargs(cfg, module)  # so do trainer.* settings that cannot work together
    run = prepare_run(cfg)
    trainer, checkpoint, interrupt = build_trainer(cfg, run, module)
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.resume, weights_only=True)
    except SIGTERMException:
        finish_wandb(exit_code=128 + interrupt.signal)
    except BaseException:
        finish_wandb(exit_code=1)
        raise
    else:
        finish_wandb()
    return TrainResult(run, trainer, module, checkpoint, interrupt)


def interrupted_message(result: TrainResult) -> str:
    name = signal.Signals(result.interrupt.signal).name
    if not result.interrupt.saved:
        return f"Stopped by {name} before training began; nothing new to save."
    path = result.interrupt.path
    return (
        f"Stopped by {name} at global step {result.trainer.global_step}; saved {path}.\n"
        f"Continue exactly where it stopped with: python -m colorize.train resume={path}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cfg = cli_config(argv, "colorize.train", loader=config_for)
    try:
        result = train(cfg)
    except UserError as e:
        print(f"error: {user_message(e)}", file=sys.stderr)
        return 2
    stopped_by = result.interrupt.signal
    if stopped_by is not None:
        if result.trainer.is_global_zero:
            print(interrupted_message(result), file=sys.stderr)
        return 128 + stopped_by
    if result.trainer.is_global_zero:
        print(f"run directory: {result.run.dir}")
        if result.checkpoint.best_model_path:
            print(
                f"best checkpoint ({result.checkpoint.monitor}={float(result.checkpoint.best_model_score):.4f}): "
                f"{result.checkpoint.best_model_path}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
