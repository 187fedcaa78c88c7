"""The Trainer: its options (``trainer.*``), their checks, and building a Lightning Trainer for a run.

Nothing here imports torch or Lightning at import time, so that the config can read ``TrainerConfig`` without them.
"""

from __future__ import annotations

import re
import sys
import warnings
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from colorize.options import AT_LEAST_ONE, POSITIVE, ConfigError, Range, option

if TYPE_CHECKING:
    import lightning as L

    from colorize.models.modules import ColorizerModule
    from colorize.runs import Run
    from colorize.training.callbacks import SaveOnInterrupt

# Field metadata of a trainer option that colorize applies itself rather than passing to lightning.Trainer.
NOT_LIGHTNING = {"lightning": False}
# torch.compile's modes, for trainer.compile_mode.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")


# ---------------------------------------------------------------- checks of values that a range cannot describe


def count_or_fraction(value: Any) -> str | None:
    """trainer.limit_*_batches: a number of batches, or a fraction of them."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "must be a number of batches (an integer >= 0) or a fraction of them (in [0, 1])."
    if isinstance(value, int) and value < 0 or isinstance(value, float) and not 0.0 <= value <= 1.0:
        return "must be a number of batches (an integer >= 0) or a fraction of them (in [0, 1])."
    return None


def interval(value: Any) -> str | None:
    """trainer.val_check_interval: every N training batches, or a fraction of an epoch."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or isinstance(value, float) and value > 1:
        return "must be a number of training batches (an integer >= 1) or a fraction of an epoch (in (0, 1])."
    return None


def devices(value: Any) -> str | None:
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and (value >= 1 or value == -1)):
        return None
    if isinstance(value, list) and value and all(isinstance(v, int) and v >= 0 for v in value):
        return None
    if isinstance(value, str) and re.fullmatch(r"\d+(,\d+)*,?", value):
        return None
    return "must be a number of devices (>= 1, or -1 for all), a list of device indices, or auto."


def flag_or_count(value: Any) -> str | None:
    """trainer.fast_dev_run: true/false, or a number of batches."""
    if isinstance(value, bool) or (isinstance(value, int) and value >= 0):
        return None
    return "must be true, false or a number of batches (>= 0)."


def flag_or_warn(value: Any) -> str | None:
    return None if isinstance(value, bool) or value == "warn" else "must be true, false or warn."


def duration(value: Any) -> str | None:
    return None if re.fullmatch(r"\d+:\d{1,2}:\d{1,2}:\d{1,2}", str(value)) else "must be a duration DD:HH:MM:SS."


@dataclass
class TrainerConfig:
    """Passed to ``lightning.Trainer``; see its documentation for each key. colorize applies the NOT_LIGHTNING keys itself."""

    accelerator: str = "auto"
    devices: Any = option(1, check=devices)
    num_nodes: int = option(1, AT_LEAST_ONE)
    strategy: str = "auto"
    precision: str | None = None  # None: bf16-mixed on a GPU that supports it, else 32-true
    max_epochs: int = option(10, Range(-1))  # -1: no limit
    max_steps: int = option(-1, Range(-1))  # -1: no limit
    max_time: str | None = option(None, check=duration)  # "DD:HH:MM:SS"
    limit_train_batches: Any = option(None, check=count_or_fraction)
    limit_val_batches: Any = option(None, check=count_or_fraction)
    val_check_interval: Any = option(None, check=interval)
    check_val_every_n_epoch: int = option(1, AT_LEAST_ONE)
    log_every_n_steps: int = option(10, AT_LEAST_ONE)
    gradient_clip_val: float | None = option(None, POSITIVE)
    accumulate_grad_batches: int = option(1, AT_LEAST_ONE)
    fast_dev_run: Any = option(False, check=flag_or_count)
    deterministic: Any = option(False, check=flag_or_warn)
    sync_batchnorm: bool = False
    num_sanity_val_steps: int = option(2, Range(-1))  # -1: the whole validation set
    # cudnn.benchmark (times each convolution's algorithms once per input shape, then uses the fastest).
    # None: on when training on CUDA, unless trainer.deterministic; measured +20% for resnet on an H200.
    benchmark: bool | None = None
    # Networks in channels_last memory layout (faster convolutions with oneDNN on CPUs and with cuDNN in bf16).
    channels_last: bool = option(True, **NOT_LIGHTNING)
    # torch.compile the networks and the batched colour conversion (a one-off compile cost per run). Off by
    # default: measured 15-20% slower than eager for resnet and gan on an H200 (default mode, no graph breaks).
    # Not yet measured on a GPU: the other modes below, TORCHINDUCTOR_FORCE_LAYOUT_OPT with channels_last, batch-norm
    # in training mode as the cause. `make bench` on a GPU compares eager with each mode side by side.
    compile: bool = option(False, **NOT_LIGHTNING)
    # torch.compile's mode with trainer.compile: default; reduce-overhead (CUDA graphs: cuts the fixed cost of
    # launching ~1,000 kernels a step); max-autotune-no-cudagraphs (times matmul/convolution kernels); max-autotune.
    compile_mode: str = option("default", choices=COMPILE_MODES, **NOT_LIGHTNING)


# trainer.* options that colorize applies itself (see speed_up) rather than passing to lightning.Trainer.
COLORIZE_TRAINER_OPTIONS = frozenset(f.name for f in fields(TrainerConfig) if f.metadata.get("lightning") is False)


def on_cuda(accelerator: str) -> bool:
    import torch

    return accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()


def auto_precision(accelerator: str) -> str:
    import torch

    return "bf16-mixed" if on_cuda(accelerator) and torch.cuda.is_bf16_supported() else "32-true"


def auto_benchmark(accelerator: str, deterministic: Any) -> bool:
    """cudnn.benchmark on CUDA, unless the run asks to be deterministic (benchmarking picks algorithms by timing)."""
    return on_cuda(accelerator) and not deterministic


def speed_up(module: ColorizerModule, trainer_cfg: DictConfig) -> None:
    """Apply ``trainer.channels_last`` and ``trainer.compile`` (in ``trainer.compile_mode``) to a module before it trains."""
    import torch

    if trainer_cfg.channels_last:
        module.to(memory_format=torch.channels_last)
    if trainer_cfg.compile:
        module.compile_networks(trainer_cfg.compile_mode)


def trainer_kwargs(cfg: DictConfig, module: ColorizerModule) -> dict[str, Any]:
    """``lightning.Trainer``'s arguments from ``cfg.trainer``; raises ConfigError for settings that cannot work together."""
    import torch

    settings = OmegaConf.to_container(cfg.trainer, resolve=True)
    kwargs = {k: v for k, v in settings.items() if v is not None and k not in COLORIZE_TRAINER_OPTIONS}
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


def build_trainer(cfg: DictConfig, run: Run, module: ColorizerModule) -> tuple[L.Trainer, Any, SaveOnInterrupt]:
    """The Trainer of a run, its checkpoint callback (best and last), and the callback that saves on SIGTERM or Ctrl+C."""
    import lightning as L
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch.callbacks import LearningRateMonitor, TQDMProgressBar

    from colorize.runs import BEST_CHECKPOINT, NEWEST
    from colorize.training.callbacks import (
        BestAndLastCheckpoint,
        RandomState,
        SampleGrid,
        SaveOnInterrupt,
        StopOnNonFiniteLoss,
        UnreadableFileReport,
    )
    from colorize.training.checkpoint_io import AtomicCheckpointIO
    from colorize.training.eta import EpochETA
    from colorize.training.loggers import build_loggers

    loggers = build_loggers(cfg, run)
    checkpoint = BestAndLastCheckpoint(
        dirpath=run.checkpoints,
        filename=BEST_CHECKPOINT,
        auto_insert_metric_name=False,
        monitor=None if cfg.monitor == NEWEST else cfg.monitor,  # None: ModelCheckpoint keeps the newest
        mode=cfg.monitor_mode,
        save_top_k=1,
        save_last=True,
    )
    interrupt = SaveOnInterrupt(run.last_checkpoint)
    callbacks: list[L.Callback] = [
        checkpoint,
        interrupt,
        StopOnNonFiniteLoss(),
        RandomState(),
        UnreadableFileReport(),
        SampleGrid(run.samples, cfg.grid_images),
        # A non-TTY log (CI, nohup, SLURM) would get a line per refresh.
        TQDMProgressBar(refresh_rate=1 if sys.stderr.isatty() else 50),
        EpochETA(),
    ]
    if loggers:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    # Not so here: the DataModule's sampler resumes mid-epoch exactly.
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
