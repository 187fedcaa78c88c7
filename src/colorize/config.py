"""The config: its groups, how a config is composed from ``configs/`` and the command line, and its errors.

A config has five groups: model, space, data, trainer and logger. ``configs/train.yaml`` names the
default choice of each. The choices of ``model`` are the registered model families
(:data:`colorize.models.FAMILIES`), those of ``space`` the colour spaces (:data:`colorize.spaces.SPACES`);
the choices of the other groups are the files ``configs/<group>/<choice>.yaml``. A choice's schema (a
dataclass: every key, its type, its default and its range) comes first; a ``configs/<group>/<choice>.yaml``
file holds only the values that differ from it. A command line is a list of ``group=choice`` and
``dotted.key=value`` words, e.g. ``model=resnet space=luv data.batch_size=8``.

Anything that does not fit the schema (an unknown key, a value of the wrong type, an unknown choice, a
number out of its range) raises :class:`ConfigError` with a message that names the key and what would
be valid.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from colorize.models import FAMILIES
from colorize.models.base import COMPILE_MODES
from colorize.options import (
    AT_LEAST_ONE,
    FRACTION,
    NON_NEGATIVE,
    POSITIVE,
    SEED,
    ConfigError,
    Range,
    check_options,
    describe,
    option,
    suggest,
)
from colorize.spaces import SPACES

__all__ = ["ConfigError", "load_config", "cli_config", "available_choices"]

GROUPS = ("model", "space", "data", "trainer", "logger")

# Field metadata of a trainer option that colorize applies itself rather than passing to lightning.Trainer.
NOT_LIGHTNING = {"lightning": False}


# ---------------------------------------------------------------- checks of values that a range cannot describe


def count_or_fraction(value: Any) -> str | None:
    """trainer.limit_*_batches: a number of batches, or a fraction of them."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "must be a number of batches (an integer >= 0) or a fraction of them (in [0, 1])."
    if isinstance(value, int) and value < 0 or isinstance(value, float) and not 0.0 <= value <= 1.0:
        return "must be a number of batches (an integer >= 0) or a fraction of them (in [0, 1])."
    return None


def interval(value: Any) -> str | None:
    """trainer.val_check_interval: every N training batches, or a fraction of an epoch."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or isinstance(value, float) and value > 1:
        return "must be a number of training batches (an integer >= 1) or a fraction of an epoch (in (0, 1])."
    return None


def devices(value: Any) -> str | None:
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and (value >= 1 or value == -1)):
        return None
    if isinstance(value, list) and value and all(isinstance(v, int) and v >= 0 for v in value):
        return None
    if isinstance(value, str) and re.fullmatch(r"\d+(,\d+)*,?", value):
        return None
    return "must be a number of devices (>= 1, or -1 for all), a list of device indices, or auto."


def flag_or_count(value: Any) -> str | None:
    """trainer.fast_dev_run: true/false, or a number of batches."""
    if isinstance(value, bool) or (isinstance(value, int) and value >= 0):
        return None
    return "must be true, false or a number of batches (>= 0)."


def flag_or_warn(value: Any) -> str | None:
    return None if isinstance(value, bool) or value == "warn" else "must be true, false or warn."


def duration(value: Any) -> str | None:
    return None if re.fullmatch(r"\d+:\d{1,2}:\d{1,2}:\d{1,2}", str(value)) else "must be a duration DD:HH:MM:SS."


# ---------------------------------------------------------------- the groups other than model


@dataclass
class SpaceConfig:
    name: str = option("lab", choices=SPACES)


SAMPLE_IMAGES = [
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "motorcycle_left",
    "motorcycle_right",
    "immunohistochemistry",
    "hubble_deep_field",
]


@dataclass
class DataConfig:
    source: str = option("sample", choices=("sample", "folder", "torchvision", "streaming"))
    root: str | None = None  # folder: the photo tree; torchvision: where the dataset lives; streaming: its folder or URL
    val_root: str | None = None  # folder: a separate validation tree (else a split of root)
    dataset: str | None = None  # torchvision: class name, e.g. CIFAR10, STL10, Places365, Flowers102
    download: bool = False  # torchvision: allow downloading (needs internet)
    val_fraction: float = option(0.1, FRACTION)  # share of images held out for validation when there is no val_root
    split_seed: int = option(0, SEED)
    sample_images: list[str] = option(factory=lambda: list(SAMPLE_IMAGES))
    sample_val_images: list[str] = option(factory=lambda: ["chelsea"])
    crop_size: int = option(128, AT_LEAST_ONE)
    batch_size: int = option(16, AT_LEAST_ONE)
    num_workers: int | None = option(None, NON_NEGATIVE)  # None: one per CPU core, leaving one free, at most 8
    train_crops_per_image: int = option(1, AT_LEAST_ONE)  # random crops drawn from each training image per epoch
    val_crops_per_image: int = option(1, AT_LEAST_ONE)  # fixed crops taken from each validation image
    hflip: bool = True
    # An unreadable image (corrupt, truncated, empty, not an image): skip it with a warning, or stop training.
    on_bad_file: str = option("skip", choices=("skip", "error"))
    # Resize each photo so that its shorter side is this many pixels (never enlarging) before cropping; JPEGs
    # are decoded at reduced size. None: crops at the photo's own resolution. See colorize.resized.
    prepare_size: int | None = option(None, AT_LEAST_ONE)
    # data=folder with prepare_size: keep the resized photos in this folder (filled by `make prepare`, or on first use).
    cache_dir: str | None = None
    # make prepare: write the train and val images as LitData chunks here (a folder, or s3://, gs://... URL),
    # to train from with data=streaming data.root=<the same>. See colorize.streaming.
    stream_to: str | None = None
    stream_encoding: str = option("jpeg", choices=("jpeg", "raw"))  # raw: uint8 pixels, 3 bytes each
    stream_quality: int = option(90, Range(1, 100))  # JPEG quality of stream_encoding=jpeg


@dataclass
class TrainerConfig:
    """Passed to ``lightning.Trainer``; see its documentation for each key. colorize applies the NOT_LIGHTNING keys itself."""

    accelerator: str = "auto"
    devices: Any = option(1, check=devices)
    num_nodes: int = option(1, AT_LEAST_ONE)
    strategy: str = "auto"
    precision: str | None = None  # None: bf16-mixed on a GPU that supports it, else 32-true
    max_epochs: int = option(10, Range(-1))  # -1: no limit
    max_steps: int = option(-1, Range(-1))  # -1: no limit
    max_time: str | None = option(None, check=duration)  # "DD:HH:MM:SS"
    limit_train_batches: Any = option(None, check=count_or_fraction)
    limit_val_batches: Any = option(None, check=count_or_fraction)
    val_check_interval: Any = option(None, check=interval)
    check_val_every_n_epoch: int = option(1, AT_LEAST_ONE)
    log_every_n_steps: int = option(10, AT_LEAST_ONE)
    gradient_clip_val: float | None = option(None, POSITIVE)
    accumulate_grad_batches: int = option(1, AT_LEAST_ONE)
    fast_dev_run: Any = option(False, check=flag_or_count)
    deterministic: Any = option(False, check=flag_or_warn)
    sync_batchnorm: bool = False
    num_sanity_val_steps: int = option(2, Range(-1))  # -1: the whole validation set
    # cudnn.benchmark (times each convolution's algorithms once per input shape, then uses the fastest).
    # None: on when training on CUDA, unless trainer.deterministic; measured +20% for resnet on an H200.
    benchmark: bool | None = None
    # Networks in channels_last memory layout (faster convolutions with oneDNN on CPUs and with cuDNN in bf16).
    channels_last: bool = option(True, **NOT_LIGHTNING)
    # torch.compile the networks and the batched colour conversion (a one-off compile cost per run). Off by
    # default: measured 15-20% slower than eager for resnet and gan on an H200 (default mode, no graph breaks).
    # Not yet measured on a GPU: the other modes below, TORCHINDUCTOR_FORCE_LAYOUT_OPT with channels_last, batch-norm
    # in training mode as the cause. `make bench` on a GPU compares eager with each mode side by side.
    compile: bool = option(False, **NOT_LIGHTNING)
    # torch.compile's mode with trainer.compile: default; reduce-overhead (CUDA graphs: cuts the fixed cost of
    # launching ~1,000 kernels a step); max-autotune-no-cudagraphs (times matmul/convolution kernels); max-autotune.
    compile_mode: str = option("default", choices=COMPILE_MODES, **NOT_LIGHTNING)


@dataclass
class LoggerConfig:
    kind: str = option("wandb", choices=("wandb", "csv", "none"))
    project: str = "colorize"
    entity: str | None = None
    # None: online when an API key is configured, else offline.
    mode: str | None = option(None, choices=("online", "offline", "disabled"))
    tags: list[str] = option(factory=list)
    init_timeout: float = option(30.0, POSITIVE)  # seconds to wait for W&B to start a run before training goes on without it


@dataclass
class TrainConfig:
    model: Any = None  # the options of the chosen family, model=<name>
    space: SpaceConfig = field(default_factory=SpaceConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    seed: int = option(0, SEED)
    runs_dir: str = "runs"
    name: str | None = None  # run directory name; default <date>-<time>-<model>-<space>
    resume: str | None = None  # a last.ckpt to continue from
    monitor: str = "val/delta_e"  # the metric that picks the best checkpoint
    monitor_mode: str = option("min", choices=("min", "max"))
    grid_images: int = option(8, NON_NEGATIVE)  # validation images shown in each sample grid


# The groups whose choices are a registry (a configs/<group>/<choice>.yaml file is optional there), and the key of
# the group that the choice sets.
REGISTRIES: dict[str, Callable[[], Sequence[str]]] = {"model": lambda: list(FAMILIES), "space": lambda: list(SPACES)}
GROUP_NAME_KEYS = {"model": "name", "space": "name", "logger": "kind"}


def group_schema(group: str, choice: str) -> type:
    if group == "model":
        return FAMILIES[choice].options
    return {"space": SpaceConfig, "data": DataConfig, "trainer": TrainerConfig, "logger": LoggerConfig}[group]


# ---------------------------------------------------------------- loading


def config_dir() -> Path:
    """``configs/`` of the checkout this package runs from."""
    packaged = Path(__file__).parent / "configs"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "configs"


def available_choices(group: str, root: Path | None = None) -> list[str]:
    if group in REGISTRIES:
        return list(REGISTRIES[group]())
    root = root or config_dir()
    return sorted(p.stem for p in (root / group).glob("*.yaml"))


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


def _explain(e: OmegaConfBaseException, origin: str) -> ConfigError:
    key = getattr(e, "full_key", None) or "?"
    msg = str(e).split("\n")[0]
    if isinstance(e, ConfigKeyError):
        return ConfigError(f"Unknown config key {key!r} (from {origin}): {msg}")
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
    node = OmegaConf.structured(group_schema(group, choice))
    path = root / group / f"{choice}.yaml"
    if path.is_file():
        loaded = _load_yaml(path)
        name_key = GROUP_NAME_KEYS.get(group)
        if name_key in loaded and loaded[name_key] != choice:
            raise ConfigError(f"{path}: {name_key} is {loaded[name_key]!r} but the file is the {group} choice {choice!r}.")
        try:
            node = OmegaConf.merge(node, loaded)
        except OmegaConfBaseException as e:
            raise _explain(e, str(path)) from None
    if group in GROUP_NAME_KEYS:
        node[GROUP_NAME_KEYS[group]] = choice
    return node


def load_config(argv: Sequence[str] = (), root: Path | None = None, base: DictConfig | None = None) -> DictConfig:
    """Compose configs/train.yaml, the chosen groups and the command line into one checked config.

    ``base`` (a run's saved config, when resuming) sits between the files and the
    command line; a group chosen on the command line replaces the saved one.
    """
    root = Path(root) if root else config_dir()
    group_choices, overrides = parse_argv(argv)

    top = _load_yaml(root / "train.yaml")
    defaults = top.pop("defaults", {}) or {}
    chosen = dict(OmegaConf.to_container(defaults))
    if base is not None:
        inherited = {"model": base.model.name, "space": base.space.name, "logger": base.logger.kind}
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
        layers.append((saved, "the saved config of the resumed run"))
    try:
        layers.append((OmegaConf.from_dotlist(list(overrides)), "the command line"))
    except Exception as e:
        raise ConfigError(f"Cannot parse the overrides {list(overrides)}: {e}") from None
    for layer, origin in layers:
        try:
            cfg = OmegaConf.merge(cfg, layer)
        except OmegaConfBaseException as e:
            raise _explain(e, origin) from None

    check_options(cfg, TrainConfig)
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"These config keys need a value: {', '.join(missing)}.")
    return cfg


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)


def to_dict(cfg: DictConfig | ListConfig) -> Any:
    return OmegaConf.to_container(cfg, resolve=True)


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


def usage(root: Path | None = None, model: str | None = None) -> str:
    lines = ["Config groups and their choices (pick with group=choice):"]
    for group in GROUPS:
        lines.append(f"  {group:8s} {', '.join(available_choices(group, root))}")
    lines.append("")
    lines.append("Models:")
    lines += [f"  {name:8s} {family.summary}" for name, family in FAMILIES.items()]
    if model in FAMILIES:
        lines += [
            "",
            f"Options of model={model} (default, and what each may be):",
            *option_lines(FAMILIES[model].options, "model."),
        ]
    else:
        lines += ["", "model=NAME --help lists that model's options."]
    lines.append("Override any key with dotted.key=value; --print-config shows every key.")
    return "\n".join(lines)


def cli_config(argv: Sequence[str], prog: str, loader: Callable[[list[str]], DictConfig] = load_config) -> DictConfig:
    """For entry points: handle --help and --print-config, load the config, or print the problem and exit 2."""
    if any(a in ("-h", "--help") for a in argv):
        model = next((a.partition("=")[2] for a in argv if a.startswith("model=")), None)
        print(f"usage: python -m {prog} [group=choice ...] [key=value ...] [--print-config]\n\n{usage(model=model)}")
        raise SystemExit(0)
    args = [a for a in argv if a != "--print-config"]
    try:
        cfg = loader(args)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    if "--print-config" in argv:
        print(to_yaml(cfg))
        raise SystemExit(0)
    return cfg
