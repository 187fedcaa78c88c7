"""One line per training epoch: how long it took, and about how long the run has left.

The README's times hold on an idle machine; this says what the run is taking on the machine it is on. The estimate is
the mean epoch of this process (validation and checkpoints included) times the epochs left, or, where the run ends by
``trainer.max_steps`` or ``trainer.max_time`` first, that limit's time left.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Timer
from tqdm import tqdm


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 07 min``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def time_left(
    epoch_seconds: list[float],
    epochs_done: int,
    max_epochs: int | None,
    steps_per_epoch: float,
    global_step: int,
    max_steps: int,
    timer_left: float | None = None,
) -> float | None:
    """Seconds until the first limit the run has (epochs, steps, time) is reached; None without a limit."""
    if not epoch_seconds:
        return None
    mean = sum(epoch_seconds) / len(epoch_seconds)
    left = []
    if max_epochs is not None and max_epochs >= 0:
        left.append(max(0, max_epochs - epochs_done) * mean)
    if max_steps >= 0 and steps_per_epoch > 0:
        left.append(max(0, max_steps - global_step) / steps_per_epoch * mean)
    if timer_left is not None:
        left.append(max(0.0, timer_left))
    return min(left) if left else None


class EpochETA(L.Callback):
    """Prints ``epoch 3/10: 21 s; about 2 min 27 s left`` after each training epoch (on the first process only)."""

    def __init__(self) -> None:
        self.epoch_seconds: list[float] = []
        self.steps: list[int] = []
        self._started = 0.0
        self._start_step = 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.monotonic()
        self._start_step = trainer.global_step

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seconds = time.monotonic() - self._started
        self.epoch_seconds.append(seconds)
        self.steps.append(trainer.global_step - self._start_step)
        if trainer.is_global_zero:
            tqdm.write(self.line(trainer, seconds))

    def line(self, trainer: Any, seconds: float) -> str:
        epoch = trainer.current_epoch + 1
        max_epochs = trainer.max_epochs if trainer.max_epochs is not None and trainer.max_epochs >= 0 else None
        timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
        left = time_left(
            self.epoch_seconds,
            epoch,
            max_epochs,
            sum(self.steps) / len(self.steps),
            trainer.global_step,
            trainer.max_steps,
            timer.time_remaining() if timer is not None else None,
        )
        total = f"/{max_epochs}" if max_epochs is not None else ""
        return f"epoch {epoch}{total}: {duration(seconds)}" + (f"; about {duration(left)} left" if left else "")
