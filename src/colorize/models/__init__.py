"""LightningModules, one per training method, and how to build or reload them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from colorize.models.base import ColorBatch, ColorizerModule
from colorize.models.regression import RegressionColorizer
from colorize.networks import build_generator

MODULES: dict[str, type[ColorizerModule]] = {"cnn": RegressionColorizer, "resnet": RegressionColorizer}


def build_module(cfg: DictConfig) -> ColorizerModule:
    """The LightningModule for ``cfg.model`` in ``cfg.space``; records the weights' origin in ``cfg.model.init``.

    A resumed run gets its weights from its checkpoint, so no pretrained weights are fetched and
    the saved ``model.init`` stays.
    """
    net, init = build_generator(cfg.model.name, cfg.model, load_weights=not cfg.resume)
    if not cfg.resume:
        cfg.model.init = init
    model = OmegaConf.to_container(cfg.model, resolve=True)
    return MODULES[cfg.model.name](model=model, space=cfg.space.name, net=net)


def load_colorizer(path: str | Path, map_location: Any = "cpu") -> ColorizerModule:
    """Rebuild a trained colorizer from a colorize checkpoint (weights only; no pickled code runs)."""
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    hparams = checkpoint["hyper_parameters"]
    module = MODULES[hparams["model"]["name"]](model=hparams["model"], space=hparams["space"])
    module.load_state_dict(checkpoint["state_dict"])
    return module.eval()


__all__ = ["ColorBatch", "ColorizerModule", "MODULES", "RegressionColorizer", "build_module", "load_colorizer"]
