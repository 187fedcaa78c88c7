"""Loading a trained colorizer from a checkpoint, on a device, with the working size its run trained at.

A colorize checkpoint holds the model options and the space (``hyper_parameters``) and the weights (``state_dict``,
the colorizer's under ``net.``). Rebuilding one needs neither Lightning nor the family's training code.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from colorize.checkpoints import CheckpointError, read_checkpoint
from colorize.errors import UserError
from colorize.models import FAMILIES
from colorize.networks.colorizer import Colorizer, build_colorizer
from colorize.networks.heads import BinHead
from colorize.runs import Run

# The working size when a checkpoint lies outside its run directory, so its crop size is unknown.
FALLBACK_SIZE = 256


class DeviceError(UserError, ValueError):
    """A device that cannot be used here; the message says which can."""


class TemperatureError(UserError, ValueError):
    """A temperature at or below 0, or given for a model that does not decode chroma bins."""


def load_colorizer(path: str | Path, map_location: Any = "cpu", temperature: float | None = None) -> Colorizer:
    """The trained colorizer of a colorize checkpoint, in eval mode (weights only; no pickled code runs).

    ``temperature``: decode a model that predicts chroma bins (``classify``) at this temperature of the annealed mean
    instead of its own ``model.temperature`` (its spec then says so). Raises
    :class:`~colorize.checkpoints.CheckpointError` for a file that is not a colorize checkpoint.
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
    if temperature is not None:
        decode_at(colorizer, temperature, path)
    return colorizer.to(map_location).eval()


def decode_at(colorizer: Colorizer, temperature: float, path: str | Path) -> None:
    """Make a colorizer (of the checkpoint ``path``) that predicts chroma bins decode them at ``temperature``; its spec's
    options say so."""
    if not isinstance(colorizer.head, BinHead):
        raise TemperatureError(
            f"--temperature {temperature}: {path} holds a {colorizer.spec.options['name']!r} model, which predicts chroma "
            "directly; only a model that predicts chroma bins (classify) has a temperature. Leave --temperature out."
        )
    if not temperature > 0:
        raise TemperatureError(f"--temperature {temperature}: must be above 0 (1 is the plain mean; lower is more vivid).")
    colorizer.head.temperature = temperature
    colorizer.spec = dataclasses.replace(colorizer.spec, options={**colorizer.spec.options, "temperature": temperature})


def temperature_label(temperature: float | None) -> str:
    """What an output decoded at another temperature adds to its default name: ``-T0.2`` (nothing for its own)."""
    return "" if temperature is None else f"-T{temperature:g}"


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
