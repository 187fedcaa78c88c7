"""The one table of model families that the config, ``--help``, sweep, bench, checkpoints and tests read.

A family is declared in one module, ``colorize/models/<name>.py``: its options dataclass (schema, defaults, ranges;
its docstring's first line describes the family), the head its colorizer ends in, and the LightningModule that trains
it (in :mod:`colorize.models.modules`). Declarations import neither torch nor Lightning, so that ``--help`` and config
errors answer at once; the LightningModule is imported when a model is built. ``configs/model/<name>.yaml`` is
optional: it may hold values that differ from the options' defaults.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from colorize.networks.hint_options import BEFORE_HINT_FIELD, HintOptions
from colorize.options import NON_NEGATIVE, ConfigError, option, suggest

if TYPE_CHECKING:
    from colorize.networks.colorizer import ColorizerSpec


@dataclass
class ModelOptions(HintOptions):
    """What every family's options hold (colour hints among them); a family's options dataclass inherits this."""

    name: str = ""  # set by the choice, model=<name>
    # Recorded by colorize when the network is built, never set by hand: how its weights were
    # initialised ("random", or where pretrained weights came from), so that comparisons never mix
    # pretrained and random runs unknowingly.
    init: str | None = None
    # DDColor's losses on the RGB that L and the predicted chroma decode to, added to the family's own loss (0: off):
    # VGG16 features (colorize.networks.perceptual; needs `make weights` offline) and colourfulness (1 - CF).
    perceptual_weight: float = option(0.0, NON_NEGATIVE)
    colourfulness_weight: float = option(0.0, NON_NEGATIVE)


@dataclass(frozen=True)
class ModelFamily:
    name: str  # model=<name>
    options: type  # the dataclass of model.*; it has a ``body`` option naming the network body
    # Its LightningModule (a ColorizerModule): the class, or "<module>:<class>" to import it only when a model is built.
    module: str | type
    head: str = "chroma"  # what its colorizer ends in: a name in colorize.networks.colorizer.HEADS
    # Options added after models were saved without them, with the value those models were built with: a saved model
    # (checkpoint or config.yaml) that lacks one gets this value, not the default, so that a changed default never
    # changes what an older checkpoint builds (colorize.checkpoints.upgrade_model_options).
    # Every family's hint options (BEFORE_HINT_FIELD) come first; this holds the family's own.
    legacy: Mapping[str, Any] = field(default_factory=dict)

    @property
    def saved_defaults(self) -> dict[str, Any]:
        """What a saved model that lacks an option was built with: the option's default (an option whose default is
        what models did before it, e.g. ``model.fusion``), overridden by the hint options' and the family's ``legacy``."""
        defaults = {
            f.name: f.default if f.default is not MISSING else f.default_factory()
            for f in fields(self.options)
            if f.default is not MISSING or f.default_factory is not MISSING
        }
        return {**defaults, **BEFORE_HINT_FIELD, **self.legacy}

    @property
    def warm_starts(self) -> tuple[str, ...]:
        """Its options that name a trained run's checkpoint to start from (``option(..., warm_start=True)``)."""
        return tuple(f.name for f in fields(self.options) if f.metadata.get("warm_start"))

    @property
    def summary(self) -> str:
        return (self.options.__doc__ or "").strip().splitlines()[0]

    def module_class(self) -> type:
        """The LightningModule (imports torch and Lightning)."""
        if not isinstance(self.module, str):
            return self.module
        module, _, name = self.module.partition(":")
        return getattr(importlib.import_module(module), name)

    def spec(self, model: Any, space: str) -> ColorizerSpec:
        """How to build the colorizer of ``model`` (the options, as a mapping) in ``space``."""
        from colorize.networks.colorizer import ColorizerSpec

        return ColorizerSpec(space=space, body=model["body"], head=self.head, options=dict(model))


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
