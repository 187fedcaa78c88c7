"""The one table of model families that the config, ``--help``, sweep, bench, checkpoints and tests read.

A family is one module (``colorize/models/<name>.py``) that declares its options dataclass and its
LightningModule, and calls :func:`register`. ``configs/model/<name>.yaml`` is optional: it may hold
values that differ from the options' defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from colorize.options import ConfigError, suggest

if TYPE_CHECKING:
    from colorize.models.base import ColorizerModule


@dataclass
class ModelOptions:
    """What every family's options hold; a family's options dataclass inherits this."""

    name: str = ""  # set by the choice, model=<name>
    # Recorded by colorize when the network is built, never set by hand: how its weights were
    # initialised ("random", or where pretrained weights came from), so that comparisons never mix
    # pretrained and random runs unknowingly.
    init: str | None = None


@dataclass(frozen=True)
class ModelFamily:
    name: str  # model=<name>
    options: type  # the dataclass of model.*: schema, defaults and ranges; its docstring's first line describes the family
    module: type[ColorizerModule]  # the LightningModule; it builds its networks (ColorizerModule.build_net)

    @property
    def summary(self) -> str:
        return (self.options.__doc__ or "").strip().splitlines()[0]


FAMILIES: dict[str, ModelFamily] = {}


def register(family: ModelFamily) -> ModelFamily:
    if family.name in FAMILIES and FAMILIES[family.name] != family:
        raise ValueError(f"Two model families are named {family.name!r}.")
    FAMILIES[family.name] = family
    return family


def get_family(name: str) -> ModelFamily:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ConfigError(
            f"Unknown model {name!r}. Choose one of: {', '.join(FAMILIES)}.{suggest(str(name), list(FAMILIES))}"
        ) from None
