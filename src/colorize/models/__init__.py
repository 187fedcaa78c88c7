"""Model families, one declaration module each (cnn, resnet, gan, classify, ...), and their registry.

Importing this package imports every module in it, so each family registers itself in :data:`FAMILIES`: a new family
is a new module here (and its LightningModule in :mod:`colorize.models.modules`) and nothing else. Nothing here imports
torch or Lightning; :func:`colorize.models.modules.build_module` builds a model.
"""

from __future__ import annotations

import importlib
import pkgutil

from colorize.models.registry import FAMILIES, ModelFamily, ModelOptions, get_family, register

for _module in pkgutil.iter_modules(__path__):
    if not _module.ispkg:
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["FAMILIES", "ModelFamily", "ModelOptions", "get_family", "register"]
