"""Data sources (one module each in :mod:`colorize.data.sources`: sample, folder, torchvision, streaming, ...), their
registry, and the machinery they share.

Importing this package registers every source in :data:`SOURCES`: a new source is a new module in ``sources/`` and
nothing else. Nothing here imports torch at import time; the DataModule is
:class:`colorize.data.datamodule.ColorizationDataModule`.
"""

from __future__ import annotations

import colorize.data.sources  # noqa: F401  (registers the sources)
from colorize.data.registry import SOURCES, DataError, DataOptions, DataSource, get_source, register

__all__ = ["SOURCES", "DataError", "DataOptions", "DataSource", "get_source", "register"]
