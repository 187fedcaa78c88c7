"""Loading a trained colorizer from a checkpoint, on a device, with the working size its run trained at.

A colorize checkpoint holds the model options and the space (``hyper_parameters``) and the weights (``state_dict``,
the colorizer's under ``net.``). Rebuilding one needs neither Lightning nor the family's training code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from colorize.checkpoints import CheckpointError, read_checkpoint
from colorize.errors import UserError
from colorize.models import FAMILIES
from colorize.networks.colorizer import Colorizer, build_colorizer
from colorize.runs import Run

# The working size when a checkpoint lies outside its run directory, so its crop size is unknown.
FALLBACK_SIZE = 256


class DeviceError(UserError, ValueError):
    """A device that cannot be used here; the message says which can."""


def load_colorizer(path: str | Path, map_location: Any = "cpu") -> Colorizer:
    """The trained colorizer of a colorize checkpoint, in eval mode (weights only; no pickled code runs).

    Raises :class:`~colorize.checkpoints.CheckpointError` for a file that is not a colorize checkpoint.
    """
    checkpoint = read_checkpoint(path, map_location)
    hparams = checkpoint["hyper_parameters"]
    model = hparams["model"]
    family = FAMILIES.get(model["name"])
    if family is None:
        raise CheckpointError(
            f"{path} holds a {model['name']!r} model, which this colorize does not know ({', '.join(FAMILIES)})."
        )
    colorizer = build_colorizer(family.spec(model, hparams["space"])).net
    colorizer.load_state_dict({k.removeprefix("net."): v for k, v in checkpoint["state_dict"].items() if k.startswith("net.")})
    return colorizer.to(map_location).eval()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(f"--device {name}: no CUDA GPU is available here. Use --device cpu.")
    try:
        return torch.device(name)
    except RuntimeError:
        raise DeviceError(f"--device {name}: not a device. Use auto, cpu, cuda or cuda:N.") from None


def working_size(checkpoint: str | Path, size: int | None = None) -> int:
    """``size`` if given, else the crop size the checkpoint's run trained on, else FALLBACK_SIZE."""
    if size is not None:
        return size
    run = Run.of_checkpoint(checkpoint)
    return int(run.config.data.crop_size) if run is not None else FALLBACK_SIZE
