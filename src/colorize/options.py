"""How a config schema states what each option may be: its choices or its range, beside its default.

Every schema in colorize (each model family's options, the data, trainer and logger groups) declares
its fields with :func:`option`, e.g. ``lr: float = option(2e-3, POSITIVE)`` or
``loss: str = option("l1", choices=RECONSTRUCTION_LOSSES)``. :func:`check_options` then refuses a value
outside its range or choices, naming the key and what is valid, before anything runs.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from colorize.errors import UserError


class ConfigError(UserError, ValueError):
    """A config that cannot be used; the message says what to change."""


@dataclass(frozen=True)
class Range:
    """A closed or half-open interval of numbers; ``None`` leaves a side unbounded."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)
AT_LEAST_ONE = Range(1)
FRACTION = Range(0, 1, low_open=True, high_open=True)  # strictly between 0 and 1
UNIT = Range(0, 1)
BETA = Range(0, 1, high_open=True)  # an Adam beta
SEED = Range(0, 2**32 - 1)

# A check of a value that a range or choices cannot describe: None when valid, else what is wrong.
Check = Callable[[Any], "str | None"]


def option(
    default: Any = MISSING,
    range: Range | None = None,
    *,
    choices: Iterable[str] | None = None,
    check: Check | None = None,
    factory: Callable[[], Any] | None = None,
    **metadata: Any,
) -> Any:
    """A schema field with its default and what it may be.

    ``range`` bounds a number, or every number of a list; ``choices`` lists the valid strings (give the
    table that implements them, e.g. a dict of losses, so they are written once); ``check`` covers the
    rest. ``None`` is accepted wherever the field's default is ``None``. Extra ``metadata`` is kept.
    """
    if range is not None:
        metadata["range"] = range
    if choices is not None:
        metadata["choices"] = tuple(choices)
    if check is not None:
        metadata["check"] = check
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def suggest(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def describe(f: Any) -> str:
    """What a field may be, as --help and error messages say it."""
    meta = f.metadata
    if "choices" in meta:
        return "one of " + ", ".join(meta["choices"])
    if "range" in meta:
        return str(meta["range"])
    return ""


def _problem(value: Any, meta: Any) -> str | None:
    allowed = meta.get("choices")
    if allowed is not None and value not in allowed:
        return f"is not valid. Choose one of: {', '.join(allowed)}.{suggest(str(value), allowed)}"
    bounds = meta.get("range")
    if bounds is not None:
        values = list(value) if isinstance(value, (list, tuple, ListConfig)) else [value]
        if any(v not in bounds for v in values):
            return f"is out of range: it must be {'a list of numbers, each ' if len(values) != 1 else 'a number '}{bounds}."
    check = meta.get("check")
    if check is not None:
        return check(value)
    return None


def check_options(node: DictConfig, schema: Any, path: str = "") -> None:
    """Refuse any value of ``node`` outside its field's choices, range or check, recursively."""
    if not is_dataclass(schema):
        return
    for f in fields(schema):
        value = node[f.name]
        key = f"{path}.{f.name}" if path else f.name
        if value is not None:
            problem = _problem(OmegaConf.to_container(value) if isinstance(value, ListConfig) else value, f.metadata)
            if problem:
                raise ConfigError(f"{key}={value!r} {problem}")
        if isinstance(value, DictConfig):
            check_options(value, OmegaConf.get_type(value), key)
