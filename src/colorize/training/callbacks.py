"""Callbacks: the validation sample grid, and the guards that keep a long run safe (nan loss, signals, bad files)."""

from __future__ import annotations

import logging
import random
import signal
import threading
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torchvision.utils import make_grid

from colorize.errors import UserError
from colorize.files import save_png
from colorize.images import to_uint8_image

log = logging.getLogger(__name__)


class SampleGrid(L.Callback):
    """Each validation epoch: a grid with one row per image, columns L | prediction | ground truth.

    The same validation images every epoch (the first ``n_images`` of the fixed val
    set). Saved as ``<out_dir>/epoch=NNN-step=NNNNNN.png`` and logged to W&B as
    ``val/samples``.
    """

    def __init__(self, out_dir: str | Path, n_images: int = 8) -> None:
        self.out_dir = Path(out_dir)
        self.n_images = n_images
        self._rows: list[torch.Tensor] = []
        self.last_path: Path | None = None

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._rows = []

    def on_validation_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        wanted = self.n_images - len(self._rows)
        if trainer.sanity_checking or wanted <= 0 or not isinstance(outputs, dict) or "rgb_hat" not in outputs:
            return
        grey = pl_module.space.decode_grey(batch.lightness)
        for g, p, t in zip(grey[:wanted], outputs["rgb_hat"][:wanted], batch.rgb[:wanted]):
            self._rows.extend([g.float().cpu(), p.float().cpu(), t.float().cpu()])

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not self._rows or not trainer.is_global_zero:
            return
        grid = to_uint8_image(make_grid(torch.stack(self._rows), nrow=3, padding=2, pad_value=1.0))
        self.last_path = self.out_dir / f"epoch={trainer.current_epoch:03d}-step={trainer.global_step:06d}.png"
        save_png(self.last_path, grid)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image("val/samples", [grid], step=trainer.global_step, caption=["L | prediction | truth"])
        self._rows = []


class BestAndLastCheckpoint(ModelCheckpoint):
    """The best checkpoint (by ``cfg.monitor``), and ``last.ckpt`` with the newest state: after every validation and at
    the end of training. (Lightning's own rewrites last.ckpt only when it also saves a new best one, so last.ckpt would
    stay at the last improvement while training went on.)"""

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_newest(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_newest(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self._save_newest(trainer)  # e.g. trainer.max_steps stopped training between two validations

    def _save_newest(self, trainer: L.Trainer) -> None:
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):  # skipped: saved at this step already
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


class TrainingDiverged(UserError, FloatingPointError):
    """A training loss or the weights became nan or inf; the last good checkpoint is kept."""


class StopOnNonFiniteLoss(L.Callback):
    """Stops at the first step where a logged training loss (``train/*``) is nan or inf, naming the step,
    and refuses to write a checkpoint whose weights are not finite, so that ``last.ckpt`` stays good."""

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        self._step = trainer.global_step

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int) -> None:
        losses = {k: v for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
        finite = not losses or torch.stack([torch.isfinite(v).all() for v in losses.values()]).all()  # one device sync
        bad = {} if finite else {k: float(v) for k, v in losses.items() if not torch.isfinite(v).all()}
        # Every DDP process must stop at the same step, or the others would wait for it forever.
        if trainer.strategy.reduce_boolean_decision(not bad, all=True):
            return
        what = ", ".join(f"{k} is {v}" for k, v in bad.items()) or "a training loss is not finite in another process"
        last = trainer.checkpoint_callback.last_model_path if trainer.checkpoint_callback else ""
        kept = f"The last good checkpoint is kept: {last}." if last else "No checkpoint had been saved yet."
        raise TrainingDiverged(
            f"Training stopped at global step {self._step} (epoch {trainer.current_epoch}): {what}. {kept} "
            "Lower model.lr, set trainer.gradient_clip_val (e.g. 1.0), or check the data, then start a new run."
        )

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        if not torch.stack([torch.isfinite(p).all() for p in pl_module.parameters()]).all():  # one device sync
            raise TrainingDiverged(
                f"Not saving a checkpoint at global step {trainer.global_step}: the weights are nan or inf. "
                "The previous checkpoint is kept."
            )


class SaveOnInterrupt(L.Callback):
    """SIGTERM or Ctrl+C: finish the current batch, save ``path`` (the run's last.ckpt), and stop.

    Lightning already stops at the end of the current batch on SIGTERM (together on every DDP
    process) by raising ``SIGTERMException``; a first Ctrl+C is routed the same way, and a
    second one stops at once, without saving.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.signal: signal.Signals | None = None  # what stopped the run, once it has
        self.saved = False
        self._training = False
        self._previous_sigint: Any = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._training = True  # a signal before this (setup, sanity check) has nothing new to save
        if threading.current_thread() is threading.main_thread():
            self._previous_sigint = signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: Any) -> None:
        self.signal = signal.SIGINT
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.raise_signal(signal.SIGTERM)  # Lightning's handler: stop after this batch

    def _restore_sigint(self) -> None:
        if self._previous_sigint is not None:
            signal.signal(signal.SIGINT, self._previous_sigint)
            self._previous_sigint = None

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore_sigint()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore_sigint()
        if isinstance(exception, SIGTERMException):
            self.signal = self.signal or signal.SIGTERM
            if self._training:
                trainer.save_checkpoint(self.path)
                self.saved = True


class RandomState(L.Callback):
    """Keeps the random generators' states in every checkpoint and restores them on resume, so that the
    model's own random operations (dropout, noise) continue exactly where they stopped.

    (The data's randomness does not need this: see ``colorize.data.crops.EpochSampler``.) numpy's state is not kept:
    colorize does not draw from it while training.
    """

    def state_dict(self) -> dict[str, Any]:
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "python": random.getstate(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["torch"])
        if state_dict["cuda"] and torch.cuda.is_available() and len(state_dict["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
        random.setstate(state_dict["python"])


class UnreadableFileReport(L.Callback):
    """At the end of each training epoch: how many unreadable files were skipped, and which.

    Logged as ``data/unreadable_files`` and printed with up to ``max_listed`` of the files; each was also
    named in a warning when first met. Under DDP the files met by every process are counted once.
    """

    def __init__(self, max_listed: int = 20) -> None:
        self.max_listed = max_listed

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        skipped = trainer.datamodule.pop_unreadable()
        if trainer.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            # two processes may each meet the same file (crops of one image land on both)
            per_process: list[list[str]] = [[] for _ in range(trainer.world_size)]
            torch.distributed.all_gather_object(per_process, skipped)
            skipped = list(dict.fromkeys(why for found in per_process for why in found))
        pl_module.log("data/unreadable_files", float(len(skipped)), sync_dist=True)  # the same on every process
        if skipped and trainer.is_global_zero:
            listed = "\n  ".join(skipped[: self.max_listed])
            more = f"\n  ... and {len(skipped) - self.max_listed} more" if len(skipped) > self.max_listed else ""
            log.warning(
                "Epoch %d skipped %d unreadable file(s); readable images took their places. "
                "Fix or remove them (or set data.on_bad_file=error to stop on the first one):\n  %s%s",
                trainer.current_epoch,
                len(skipped),
                listed,
                more,
            )
