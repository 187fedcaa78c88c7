"""Training a colorizer: the data, the model and the Trainer of a run, put together and fitted."""

from __future__ import annotations

import logging
import signal
import sys
import warnings
from dataclasses import dataclass, fields
from typing import Any

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from colorize.checkpoints import read_checkpoint
from colorize.data.datamodule import ColorizationDataModule
from colorize.downloads import fetch_encoder_weights
from colorize.models.modules import ColorizerModule, create_module
from colorize.networks.bodies import BODIES
from colorize.runs import Run, prepare_run
from colorize.training.callbacks import SaveOnInterrupt
from colorize.training.trainer import build_trainer, speed_up, trainer_kwargs
from colorize.weight_files import PACKAGED_ENCODERS, WeightsUnavailable, cached_hub_file

# Lightning notes that our LightningModule, not the DataModule, converts batches after transfer: by design.
warnings.filterwarnings("ignore", message=".*overridden `on_after_batch_transfer` in `LightningModule`.*")
# Only a resumed run writes into an existing checkpoint folder (a new run always gets a new folder).
warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
# Lightning 2.6's own use of a torch API that torch deprecated; nothing a user can act on.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated")
logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(lambda record: "litlogger" not in record.getMessage())


@dataclass
class TrainResult:
    run: Run
    trainer: L.Trainer
    module: ColorizerModule
    checkpoint: Any  # the ModelCheckpoint that keeps the best checkpoint
    interrupt: SaveOnInterrupt  # .signal is set if SIGTERM or Ctrl+C stopped the run

    def interrupted_message(self) -> str:
        name = signal.Signals(self.interrupt.signal).name
        if not self.interrupt.saved:
            return f"Stopped by {name} before training began; nothing new to save."
        path = self.interrupt.path
        return (
            f"Stopped by {name} at global step {self.trainer.global_step}; saved {path}.\n"
            f"Continue exactly where it stopped with: python -m colorize.train resume={path}"
        )


def finish_wandb(exit_code: int = 0) -> None:
    """Close this process's W&B run, so that the next train() in the same process starts its own."""
    if "wandb" in sys.modules and sys.modules["wandb"].run is not None:
        sys.modules["wandb"].finish(exit_code=exit_code)


def fetch_pretrained_encoder(cfg: DictConfig) -> None:
    """Download the hub's weights of a new run's pretrained encoder into the cache that building the network reads
    (networks/ never downloads). The hub is probed first, so offline this answers in seconds; then building the network
    says what follows (random weights with a warning, or an error with model.pretrained=true)."""
    model = cfg.model
    has_encoder = "encoder" in {f.name for f in fields(BODIES[model.body].options)}
    if cfg.resume or not has_encoder or model.pretrained is False or model.weights:
        return
    if model.encoder in PACKAGED_ENCODERS or cached_hub_file(model.encoder):
        return
    try:
        fetch_encoder_weights(model.encoder)
    except WeightsUnavailable as e:
        print(f"note: {e}", file=sys.stderr)


def train(cfg: DictConfig) -> TrainResult:
    """Train, or continue a run with ``cfg.resume``. Stopped by SIGTERM or Ctrl+C, it saves last.ckpt and
    returns (``result.interrupt.signal`` says so); a diverged loss raises ``TrainingDiverged``."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = ColorizationDataModule(cfg.data, seed=cfg.seed)
    datamodule.setup("fit")  # bad data fails here, before any run directory is made
    if cfg.resume:
        read_checkpoint(cfg.resume)  # so does a resume= file that is not a colorize checkpoint
    fetch_pretrained_encoder(cfg)
    module, init = create_module(cfg)
    speed_up(module, cfg.trainer)
    trainer_kwargs(cfg, module)  # so do trainer.* settings that cannot work together
    # How the weights were initialised is known once the module is built: config.yaml and the W&B tags record it.
    cfg.model.init = init
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
        if interrupt.signal is None and trainer.is_global_zero:
            run.mark_finished(trainer.global_step)
    return TrainResult(run, trainer, module, checkpoint, interrupt)
