"""The config: its groups, how a config is composed from ``configs/`` and the command line, and its errors.

A config has five groups: model, space, data, trainer and logger. ``configs/train.yaml`` names the
default choice of each. The choices of ``model`` are the registered model families
(:data:`colorize.models.FAMILIES`), those of ``space`` the colour spaces (:data:`colorize.spaces.SPACES`), those of
``data`` the data sources (:data:`colorize.data.SOURCES`) and presets of them, those of ``logger`` the kinds of
:data:`colorize.training.loggers.LOGGERS`; the choices of ``trainer`` are the files ``configs/trainer/<choice>.yaml``.
A choice's schema (a dataclass: every key, its type, its default and its range) comes first; a
``configs/<group>/<choice>.yaml`` file holds only the values that differ from it. A study's presets
(``configs/study/<preset>.yaml``, :class:`StudyPreset`) are read the same way. A command line is a list of ``group=choice`` and
``dotted.key=value`` words, e.g. ``model=resnet space=luv data.batch_size=8``.

Anything that does not fit the schema (an unknown key, a value of the wrong type, an unknown choice, a
number out of its range) raises :class:`ConfigError` with a message that names the key and what would
be valid.

Nothing here imports torch, Lightning or timm: ``--help`` and every config error answer at once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from colorize.data import SOURCES
from colorize.models import FAMILIES
from colorize.networks.bodies import BODIES, check_body_options
from colorize.options import NON_NEGATIVE, SEED, ConfigError, check_options, describe, option, suggest
from colorize.reports import DEFAULT_EVAL_SIZE
from colorize.spaces import INPUT_CONVENTION, SPACES
from colorize.training.loggers import LOGGERS, LoggerConfig
from colorize.training.trainer import TrainerConfig

__all__ = ["ConfigError", "load_config", "cli_config", "available_choices", "load_study_preset"]

GROUPS = ("model", "space", "data", "trainer", "logger")
SAVED = "the saved config of the resumed run"


@dataclass
class SpaceConfig:
    name: str = ""  # set by the choice, space=<name>: a name in colorize.spaces.SPACES


@dataclass
class TrainConfig:
    model: Any = None  # the options of the chosen family, model=<name>
    space: SpaceConfig = field(default_factory=SpaceConfig)
    data: Any = None  # the options of the chosen source, data=<name>
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    seed: int = option(0, SEED)
    runs_dir: str = "runs"
    name: str | None = None  # run directory name; default <date>-<time>-<model>-<space>
    resume: str | None = None  # a last.ckpt to continue from
    # The logged metric that picks the best checkpoint (what evaluate, compare, a study and the demo use), or "last": the
    # newest validated state (a GAN's adversarial training trades delta_e for colourfulness, so its first epoch is best by it).
    monitor: str = "val/delta_e"
    monitor_mode: str = option("min", choices=("min", "max"))
    grid_images: int = option(8, NON_NEGATIVE)  # validation images shown in each sample grid


# The groups whose choices are a registry (a configs/<group>/<choice>.yaml file is optional there), and the key of
# the group that the choice sets. A data choice may also be a preset: a configs/data/<name>.yaml that names its source.
REGISTRIES: dict[str, Callable[[], Sequence[str]]] = {
    "model": lambda: list(FAMILIES),
    "space": lambda: list(SPACES),
    "data": lambda: list(SOURCES),
    "logger": lambda: list(LOGGERS),
}
GROUP_NAME_KEYS = {"model": "name", "space": "name", "data": "source", "logger": "kind"}


def group_schema(group: str, name: str) -> type:
    """The schema of ``group`` when the registry's choice is ``name``."""
    if group == "model":
        return FAMILIES[name].options
    if group == "data":
        return SOURCES[name].options
    return {"space": SpaceConfig, "trainer": TrainerConfig, "logger": LoggerConfig}[group]


# ---------------------------------------------------------------- loading


def config_dir() -> Path:
    """``configs/`` of the checkout this package runs from."""
    packaged = Path(__file__).parent / "configs"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "configs"


def available_choices(group: str, root: Path | None = None) -> list[str]:
    """A group's choices: its registry's names (and for data, the presets that name a source), or its YAML files."""
    root = root or config_dir()
    files = sorted(p.stem for p in (root / group).glob("*.yaml"))
    if group not in REGISTRIES:
        return files
    names = list(REGISTRIES[group]())
    return names + [f for f in files if f not in names] if group == "data" else names


def _load_yaml(path: Path) -> DictConfig:
    try:
        loaded = OmegaConf.load(path)
    except Exception as e:  # yaml's own errors carry line numbers; keep them
        raise ConfigError(f"Cannot read {path}: {e}") from None
    if loaded is None:  # a file of comments only
        return OmegaConf.create({})
    if not isinstance(loaded, DictConfig):
        raise ConfigError(f"{path} must hold a mapping of keys to values.")
    return loaded


def _elsewhere(key: str, cfg: DictConfig | None) -> str:
    """For an unknown ``group.option``: which other choices of the group have that option."""
    group, _, option_name = key.partition(".")
    if cfg is None or group not in REGISTRIES or "." in option_name or group not in cfg:
        return ""
    chosen = cfg[group][GROUP_NAME_KEYS[group]]
    others = [name for name in REGISTRIES[group]() if option_name in {f.name for f in fields(group_schema(group, name))}]
    if not others:
        return ""
    return f" {group}={chosen} has no such option; {', '.join(others)} {'has' if len(others) == 1 else 'have'} it."


def _explain(e: OmegaConfBaseException, origin: str, cfg: DictConfig | None = None) -> ConfigError:
    key = getattr(e, "full_key", None) or "?"
    msg = str(e).split("\n")[0]
    if isinstance(e, ConfigKeyError):
        end = "" if msg.endswith((".", "?", "!")) else "."
        return ConfigError(f"Unknown config key {key!r} (from {origin}): {msg}{end}{_elsewhere(key, cfg)}")
    return ConfigError(f"Bad value for {key!r} (from {origin}): {msg}")


def parse_argv(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Split command-line words into group choices and dotted overrides."""
    group_choices: dict[str, str] = {}
    overrides: list[str] = []
    for word in argv:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise ConfigError(f"Cannot parse {word!r}: write key=value, e.g. model=resnet or data.batch_size=8.")
        if key in GROUPS:
            group_choices[key] = value
        elif key == "model.init":
            raise ConfigError("model.init is recorded by colorize when the network is built; it cannot be set.")
        elif GROUP_NAME_KEYS.get(key.partition(".")[0]) == key.partition(".")[2]:
            group = key.partition(".")[0]
            raise ConfigError(f"Choose the {group} with {group}=NAME, not {key}=...")
        else:
            overrides.append(word)
    return group_choices, overrides


def group_node(group: str, choice: str, root: Path) -> DictConfig:
    """The schema of ``group=choice`` with its configs/<group>/<choice>.yaml (if any) merged in."""
    options = available_choices(group, root)
    if choice not in options:
        raise ConfigError(f"Unknown {group} {choice!r}. Choose one of: {', '.join(options)}.{suggest(str(choice), options)}")
    path = root / group / f"{choice}.yaml"
    loaded = _load_yaml(path) if path.is_file() else OmegaConf.create({})
    name_key = GROUP_NAME_KEYS.get(group)
    name = choice
    if group in REGISTRIES:
        names = list(REGISTRIES[group]())
        name = choice if choice in names else loaded.get(name_key)  # a preset names its registry entry
        if name not in names:
            raise ConfigError(f"{path}: a {group} preset must name one of {', '.join(names)} as its {name_key}, not {name!r}.")
        if choice in names and loaded.get(name_key, choice) != choice:
            raise ConfigError(f"{path}: {name_key} is {loaded[name_key]!r} but the file is the {group} choice {choice!r}.")
    node = OmegaConf.structured(group_schema(group, name))
    try:
        node = OmegaConf.merge(node, loaded)
    except OmegaConfBaseException as e:
        raise _explain(e, str(path)) from None
    if name_key:
        node[name_key] = name
    return node


def _check_body_options(cfg: DictConfig, layers: list[tuple[DictConfig, str]]) -> None:
    """Refuse an option of a body other than the chosen ``model.body`` where a file or the command line gives one. A
    resumed run's saved config is not asked: it holds every body's options, as the schema had them."""
    if cfg.model.get("body") in BODIES:
        for layer, origin in layers:
            check_body_options(cfg.model.body, list(layer.get("model") or {}), origin)


def load_config(argv: Sequence[str] = (), root: Path | None = None, base: DictConfig | None = None) -> DictConfig:
    """Compose configs/train.yaml, the chosen groups and the command line into one checked config.

    ``base`` (a run's saved config, as :attr:`colorize.runs.Run.config` reads it, when resuming) sits between the
    files and the command line; a group chosen on the command line replaces the saved one.
    """
    root = Path(root) if root else config_dir()
    group_choices, overrides = parse_argv(argv)

    top = _load_yaml(root / "train.yaml")
    defaults = top.pop("defaults", {}) or {}
    chosen = dict(OmegaConf.to_container(defaults))
    if base is not None:
        inherited = {"model": base.model.name, "space": base.space.name, "data": base.data.source, "logger": base.logger.kind}
        for group in ("model", "space"):
            if group_choices.get(group, inherited[group]) != inherited[group]:
                raise ConfigError(
                    f"Cannot change the {group} of a run when resuming it ({inherited[group]} -> {group_choices[group]}). "
                    "Start a new run instead, e.g. with model.generator_ckpt=... for a warm start."
                )
        chosen.update(inherited)
    chosen.update(group_choices)

    cfg = OmegaConf.structured(TrainConfig)
    for group in GROUPS:
        cfg[group] = group_node(group, chosen.get(group), root)

    layers = [(top, str(root / "train.yaml"))]
    if base is not None:
        saved = OmegaConf.masked_copy(base, [k for k in base if k not in group_choices or k in ("model", "space")])
        layers.append((saved, SAVED))
    try:
        layers.append((OmegaConf.from_dotlist(list(overrides)), "the command line"))
    except Exception as e:
        raise ConfigError(f"Cannot parse the overrides {list(overrides)}: {e}") from None
    for layer, origin in layers:
        try:
            cfg = OmegaConf.merge(cfg, layer)
        except OmegaConfBaseException as e:
            raise _explain(e, origin, cfg) from None

    check_options(cfg, TrainConfig)
    model_file = root / "model" / f"{chosen['model']}.yaml"
    written = [(OmegaConf.create({"model": _load_yaml(model_file)}), str(model_file))] if model_file.is_file() else []
    _check_body_options(cfg, written + [(layer, origin) for layer, origin in layers if origin != SAVED])
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"These config keys need a value: {', '.join(missing)}.")
    return cfg


@dataclass
class StudyPreset:
    """How large a study is (``python -m colorize.study --preset NAME``): configs/study/<name>.yaml holds only what
    differs from these defaults."""

    overrides: list[str] = field(default_factory=list)  # config words for every run, before the command line's own
    eval_size: int = option(DEFAULT_EVAL_SIZE, NON_NEGATIVE)  # evaluate's --eval-size on the held-out photos
    fid: bool = False  # FID in evaluate and compare (seconds an image and row on a CPU)


def load_study_preset(name: str, root: Path | None = None) -> StudyPreset:
    """The preset ``configs/study/<name>.yaml`` over :class:`StudyPreset`'s defaults, checked."""
    root = Path(root) if root else config_dir()
    choices = available_choices("study", root)
    if name not in choices:
        raise ConfigError(f"Unknown study preset {name!r}. Choose one of: {', '.join(choices)}.{suggest(name, choices)}")
    path = root / "study" / f"{name}.yaml"
    try:
        node = OmegaConf.merge(OmegaConf.structured(StudyPreset), _load_yaml(path))
    except OmegaConfBaseException as e:
        raise _explain(e, str(path)) from None
    check_options(node, StudyPreset)
    return OmegaConf.to_object(node)


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)


def option_lines(schema: type, prefix: str) -> list[str]:
    """One line per option of a schema: key, default, and what it may be."""
    lines = []
    for f in fields(schema):
        if f.name in GROUP_NAME_KEYS.values() or f.name == "init":
            continue
        default = f.default_factory() if callable(f.default_factory) else f.default
        allowed = describe(f)
        lines.append(f"  {prefix}{f.name}={default}" + (f"  ({allowed})" if allowed else ""))
    return lines


def usage(root: Path | None = None, model: str | None = None, data: str | None = None) -> str:
    lines = ["Config groups and their choices (pick with group=choice):"]
    for group in GROUPS:
        lines.append(f"  {group:8s} {', '.join(available_choices(group, root))}")
    lines += ["", "Models:", *(f"  {name:12s} {family.summary}" for name, family in FAMILIES.items())]
    lines += ["", "Data sources:", *(f"  {name:12s} {source.summary}" for name, source in SOURCES.items())]
    lines += ["", "Colour spaces:", *(f"  {name:12s} {space.summary}" for name, space in SPACES.items())]
    lightness = ", ".join(f"{space.lightness_name} in {name}" for name, space in SPACES.items())
    lines.append(f"  In every space {INPUT_CONVENTION} ({lightness}).")
    if model in FAMILIES:
        lines += [
            "",
            f"Options of model={model} (default, and what each may be):",
            *option_lines(FAMILIES[model].options, "model."),
        ]
    if data in SOURCES:
        lines += ["", f"Options of data={data} (default, and what each may be):", *option_lines(SOURCES[data].options, "data.")]
    if model not in FAMILIES and data not in SOURCES:
        lines += ["", "model=NAME --help or data=NAME --help lists that model's or source's options."]
    lines.append("Override any key with dotted.key=value; --print-config shows every key.")
    return "\n".join(lines)


def _print_and_exit(text: str) -> None:
    try:
        print(text, flush=True)
    except BrokenPipeError:  # a reader that stopped early (--print-config | head): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    raise SystemExit(0)


def cli_config(argv: Sequence[str], prog: str, loader: Callable[[list[str]], DictConfig] = load_config) -> DictConfig:
    """For entry points: handle --help and --print-config, else load the config (raising :class:`ConfigError`, which
    :func:`colorize.cli.run` prints)."""
    if any(a in ("-h", "--help") for a in argv):
        chosen = {group: next((a.partition("=")[2] for a in argv if a.startswith(f"{group}=")), None) for group in GROUPS}
        if chosen["data"] not in SOURCES and chosen["data"] in available_choices("data"):  # a preset: its source's options
            chosen["data"] = _load_yaml(config_dir() / "data" / f"{chosen['data']}.yaml").get("source")
        _print_and_exit(
            f"usage: python -m {prog} [group=choice ...] [key=value ...] [--print-config]\n\n"
            + usage(model=chosen["model"], data=chosen["data"])
        )
    cfg = loader([a for a in argv if a != "--print-config"])
    if "--print-config" in argv:
        _print_and_exit(to_yaml(cfg))
    return cfg
