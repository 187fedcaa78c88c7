"""The LightningModules of the model families: how each trains the colorizer it wraps."""

from __future__ import annotations

from typing import Any

from colorize.models.modules.base import ColorBatch, ColorizerModule
from colorize.models.registry import get_family


def build_module(cfg: Any) -> ColorizerModule:
    """The LightningModule of ``cfg.model`` in ``cfg.space``; records the weights' origin in ``cfg.model.init``."""
    return get_family(cfg.model.name).module_class().create(cfg)


__all__ = ["ColorBatch", "ColorizerModule", "build_module"]
