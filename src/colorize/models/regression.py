"""What the regression families (cnn, resnet) and classify share: their loss, optimiser and schedule options."""

from __future__ import annotations

from dataclasses import dataclass

from colorize.models.registry import ModelOptions
from colorize.networks.losses import RECONSTRUCTION_LOSSES
from colorize.options import NON_NEGATIVE, POSITIVE, option

# The learning-rate schedule over a run's steps: none, or cosine decay to zero.
SCHEDULERS = ("cosine", "none")


@dataclass
class RegressionOptions(ModelOptions):
    """Loss and optimiser of a regression family."""

    loss: str = option("l1", choices=RECONSTRUCTION_LOSSES)
    lr: float = option(2e-3, POSITIVE)
    weight_decay: float = option(1e-4, NON_NEGATIVE)
    scheduler: str = option("cosine", choices=SCHEDULERS)
