"""LightningModules, one per training method, and how to build or reload them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from colorize.checkpoints import CheckpointError, read_checkpoint
from colorize.models.base import ColorBatch, ColorizerModule
from colorize.models.regression import RegressionColorizer
from colorize.networks import build_generator

MODULES: dict[str, type[ColorizerModule]] = {"cnn": RegressionColorizer}


def build_module(cfg: DictConfig) -> ColorizerModule:
    """The LightningModule for ``cfg.model`` in ``cfg.space``; records the weights' origin in ``cfg.model.init``."""
    net = build_generator(cfg.model)
    cfg.model.init = "random"
    model = OmegaConf.to_container(cfg.model, resolve=True)
    return MODULES[cfg.model.name](model=model, space=cfg.space.name, net=net)


def load_colorizer(path: str | Path, map_location: Any = "cpu") -> ColorizerModule:
    """Rebuild a trained colorizer from a colorize checkpoint (weights only; no pickled code runs).

    Raises :class:`~colorize.checkpoints.CheckpointError` for a file that is not a colorize checkpoint.
    """
    checkpoint = read_checkpoint(path, map_location)
    hparams = checkpoint["hyper_parameters"]
    name = hparams["model"]["name"]
    if name not in MODULES:
        raise CheckpointError(f"{path} holds a {name!r} model, which this colorize does not know ({', '.join(MODULES)}).")
    module = MODULES[name](model=hparams["model"], space=hparams["space"])
    module.load_state_dict(checkpoint["state_dict"])
    return module.eval()


__all__ = ["ColorBatch", "ColorizerModule", "MODULES", "RegressionColorizer", "build_module", "load_colorizer"]
