"""The LightningModules of the model families: how each trains the colorizer it wraps."""

from __future__ import annotations

from typing import Any

from colorize.models.modules.base import ColorBatch, ColorizerModule
from colorize.models.registry import get_family


def create_module(cfg: Any) -> tuple[ColorizerModule, str | None]:
    """The LightningModule of ``cfg.model`` in ``cfg.space``, and how its weights were initialised (for ``model.init``)."""
    return get_family(cfg.model.name).module_class().create(cfg)


def build_module(cfg: Any) -> ColorizerModule:
    """The LightningModule of ``cfg.model`` in ``cfg.space`` (its hyperparameters record how its weights were
    initialised)."""
    return create_module(cfg)[0]


__all__ = ["ColorBatch", "ColorizerModule", "build_module", "create_module"]
