"""The config schema, and how a config is composed from ``configs/`` and the command line.

A config has five groups: model, space, data, trainer and logger. ``configs/train.yaml``
names the default choice of each; ``configs/<group>/<choice>.yaml`` holds the values
that make a choice what it is. The dataclasses below are the schema: every key, its
type and its default. A command line is a list of ``group=choice`` and
``dotted.key=value`` words, e.g. ``model=resnet space=luv data.batch_size=8``.

Anything that does not fit the schema (an unknown key, a value of the wrong type,
an unknown choice) raises :class:`ConfigError` with a message that names the key
and what would be valid.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from colorize.errors import UserError

GROUPS = ("model", "space", "data", "trainer", "logger")


class ConfigError(UserError, ValueError):
    """A config that cannot be used; the message says what to change."""


def choices(*values: str) -> dict:
    return {"choices": values}


# Field metadata of a network option that sets how its weights start or train, not the network's shape.
NOT_ARCHITECTURE = {"architecture": False}
# Field metadata of a trainer option that colorize applies itself rather than passing to lightning.Trainer.
NOT_LIGHTNING = {"lightning": False}


def architecture_options(options: type) -> list[str]:
    """The options of a network's options mixin that shape the network (a warm start must match them)."""
    return [f.name for f in fields(options) if f.metadata.get("architecture", True)]


# ---------------------------------------------------------------- model group


@dataclass
class ModelConfig:
    name: str = ""  # set by the group choice, model=<name>
    # Recorded by colorize when the network is built, never set by hand: how its weights were
    # initialised ("random", or where pretrained weights came from), so that comparisons never mix
    # pretrained and random runs unknowingly.
    init: str | None = None


@dataclass
class OptimConfig(ModelConfig):
    """Loss and optimiser settings shared by the regression models (cnn, resnet)."""

    loss: str = field(default="l1", metadata=choices("l1", "l2", "smooth_l1"))
    lr: float = 2e-3
    weight_decay: float = 1e-4
    scheduler: str = field(default="cosine", metadata=choices("cosine", "none"))


@dataclass
class CNNOptions:
    """Options of the ``cnn`` network (also valid for ``gan`` with ``model.generator=cnn``)."""

    base_channels: int = 32


@dataclass
class CNNConfig(CNNOptions, OptimConfig):
    """``cnn``: a plain convolutional encoder-decoder autoencoder."""

    name: str = "cnn"


@dataclass
class ResNetOptions:
    """Options of the ``resnet`` network, a timm encoder with a U-Net decoder, and of fine-tuning its encoder.

    Also valid for ``gan`` with ``model.generator=resnet``.
    """

    encoder: str = "resnet34"  # any timm model that supports features_only: resnet18, resnet50, convnext_tiny, ...
    decoder_channels: list[int] | None = None  # one width per encoder stage, deepest first; None: 256, 128, 64, 32, 16
    # None: the hub's weights when they can be had, else random init with a warning; true: required; false: random.
    pretrained: bool | None = field(default=None, metadata=NOT_ARCHITECTURE)
    # A local .pth or .safetensors state dict of the encoder, used instead of the hub.
    weights: str | None = field(default=None, metadata=NOT_ARCHITECTURE)
    # imagenet: normalise L like the RGB the weights were pretrained on; auto: imagenet when pretrained weights are used.
    input_norm: str = field(default="auto", metadata={**choices("auto", "imagenet", "none"), **NOT_ARCHITECTURE})
    # Train only the decoder and head for this many epochs.
    freeze_encoder_epochs: int = field(default=0, metadata=NOT_ARCHITECTURE)
    # Encoder lr = lr (g_lr for gan) x this; None: 0.1 with pretrained weights, else 1.
    encoder_lr_scale: float | None = field(default=None, metadata=NOT_ARCHITECTURE)


@dataclass
class ResNetConfig(ResNetOptions, OptimConfig):
    """``resnet``: transfer learning with a pretrained timm encoder and a U-Net decoder."""

    name: str = "resnet"


# The networks a GAN can use as its generator, each with its options mixin (GANConfig inherits them all).
GENERATOR_OPTIONS: dict[str, type] = {"cnn": CNNOptions, "resnet": ResNetOptions}


@dataclass
class GANConfig(CNNOptions, ResNetOptions, ModelConfig):
    """``gan``: pix2pix-style conditional GAN; G is the ``generator`` network, D a PatchGAN on (L, chroma)."""

    name: str = "gan"
    generator: str = field(default="cnn", metadata=choices(*GENERATOR_OPTIONS))
    # Warm start (DeOldify's NoGAN): G's weights from a trained cnn/resnet checkpoint of the same space.
    generator_ckpt: str | None = None
    # Discriminator: pix2pix's PatchGAN; n_layers=3, ndf=64, batch norm is its 70x70 default.
    n_layers: int = 3
    ndf: int = 64
    d_norm: str = field(default="batch", metadata=choices("batch", "instance", "spectral"))
    gan_mode: str = field(default="vanilla", metadata=choices("vanilla", "lsgan", "hinge"))
    lambda_l1: float = 100.0
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    # linear: constant for the first half of training, then linear to zero (pix2pix's policy).
    g_scheduler: str = field(default="linear", metadata=choices("linear", "cosine", "none"))
    d_scheduler: str = field(default="linear", metadata=choices("linear", "cosine", "none"))
    d_warmup_steps: int = 0  # training batches in which only D learns, before G starts
    gradient_clip_val: float | None = None  # max gradient norm for G and D (the Trainer's clipping is automatic-only)


MODEL_SCHEMAS: dict[str, type] = {"cnn": CNNConfig, "resnet": ResNetConfig, "gan": GANConfig}


# ---------------------------------------------------------------- other groups


@dataclass
class SpaceConfig:
    name: str = field(default="lab", metadata=choices("lab", "luv"))


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
    source: str = field(default="sample", metadata=choices("sample", "folder", "torchvision", "streaming"))
    root: str | None = None  # folder: the photo tree; torchvision: where the dataset lives; streaming: its folder or URL
    val_root: str | None = None  # folder: a separate validation tree (else a split of root)
    dataset: str | None = None  # torchvision: class name, e.g. CIFAR10, STL10, Places365, Flowers102
    download: bool = False  # torchvision: allow downloading (needs internet)
    val_fraction: float = 0.1  # share of images held out for validation when there is no val_root
    split_seed: int = 0
    sample_images: list[str] = field(default_factory=lambda: list(SAMPLE_IMAGES))
    sample_val_images: list[str] = field(default_factory=lambda: ["chelsea"])
    crop_size: int = 128
    batch_size: int = 16
    num_workers: int | None = None  # None: one per CPU core, leaving one free, at most 8
    train_crops_per_image: int = 1  # random crops drawn from each training image per epoch
    val_crops_per_image: int = 1  # fixed crops taken from each validation image
    hflip: bool = True
    # An unreadable image (corrupt, truncated, empty, not an image): skip it with a warning, or stop training.
    on_bad_file: str = field(default="skip", metadata=choices("skip", "error"))
    # Resize each photo so that its shorter side is this many pixels (never enlarging) before cropping; JPEGs
    # are decoded at reduced size. None: crops at the photo's own resolution. See colorize.resized.
    prepare_size: int | None = None
    # data=folder with prepare_size: keep the resized photos in this folder (filled by `make prepare`, or on first use).
    cache_dir: str | None = None
    # make prepare: write the train and val images as LitData chunks here (a folder, or s3://, gs://... URL),
    # to train from with data=streaming data.root=<the same>. See colorize.streaming.
    stream_to: str | None = None
    stream_encoding: str = field(default="jpeg", metadata=choices("jpeg", "raw"))  # raw: uint8 pixels, 3 bytes each
    stream_quality: int = 90  # JPEG quality of stream_encoding=jpeg


@dataclass
class TrainerConfig:
    """Passed to ``lightning.Trainer``; see its documentation for each key. colorize applies the NOT_LIGHTNING keys itself."""

    accelerator: str = "auto"
    devices: Any = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str | None = None  # None: bf16-mixed on a GPU that supports it, else 32-true
    max_epochs: int = 10
    max_steps: int = -1
    max_time: str | None = None  # "DD:HH:MM:SS"
    limit_train_batches: Any = None
    limit_val_batches: Any = None
    val_check_interval: Any = None
    check_val_every_n_epoch: int = 1
    log_every_n_steps: int = 10
    gradient_clip_val: float | None = None
    accumulate_grad_batches: int = 1
    fast_dev_run: Any = False
    deterministic: Any = False
    sync_batchnorm: bool = False
    num_sanity_val_steps: int = 2
    # Networks in channels_last memory layout (faster convolutions with oneDNN on CPUs and with cuDNN in bf16).
    channels_last: bool = field(default=True, metadata=NOT_LIGHTNING)
    # torch.compile the networks and the batched colour conversion (a one-off compile cost per run).
    compile: bool = field(default=False, metadata=NOT_LIGHTNING)


@dataclass
class LoggerConfig:
    kind: str = field(default="wandb", metadata=choices("wandb", "csv", "none"))
    project: str = "colorize"
    entity: str | None = None
    # online | offline | disabled. None: online when an API key is configured, else offline.
    mode: str | None = field(default=None, metadata=choices("online", "offline", "disabled"))
    tags: list[str] = field(default_factory=list)
    init_timeout: float = 30.0  # seconds to wait for W&B to start a run before training goes on without it


@dataclass
class TrainConfig:
    model: Any = None  # one of MODEL_SCHEMAS, chosen by ``model=<name>``
    space: SpaceConfig = field(default_factory=SpaceConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    seed: int = 0
    runs_dir: str = "runs"
    name: str | None = None  # run directory name; default <date>-<time>-<model>-<space>
    resume: str | None = None  # a last.ckpt to continue from
    monitor: str = "val/delta_e"  # the metric that picks the best checkpoint
    monitor_mode: str = field(default="min", metadata=choices("min", "max"))
    grid_images: int = 8  # validation images shown in each sample grid


GROUP_SCHEMAS: dict[str, Any] = {
    "model": MODEL_SCHEMAS,
    "space": SpaceConfig,
    "data": DataConfig,
    "trainer": TrainerConfig,
    "logger": LoggerConfig,
}
# The key in each group that must agree with the group's choice.
GROUP_NAME_KEYS = {"model": "name", "space": "name", "logger": "kind"}


# ---------------------------------------------------------------- loading


def config_dir() -> Path:
    """``configs/`` of the checkout this package runs from."""
    packaged = Path(__file__).parent / "configs"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "configs"


def available_choices(group: str, root: Path | None = None) -> list[str]:
    root = root or config_dir()
    return sorted(p.stem for p in (root / group).glob("*.yaml"))


def _suggest(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _schema_for(group: str, choice: str) -> type:
    schema = GROUP_SCHEMAS[group]
    if isinstance(schema, dict):
        if choice not in schema:
            raise ConfigError(f"{group}={choice} has a config file but no schema in colorize.config.")
        return schema[choice]
    return schema


def _load_yaml(path: Path) -> DictConfig:
    try:
        loaded = OmegaConf.load(path)
    except Exception as e:  # yaml's own errors carry line numbers; keep them
        raise ConfigError(f"Cannot read {path}: {e}") from None
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


def _check_choices(node: Any, schema: Any, path: str) -> None:
    """Enforce ``metadata={'choices': ...}`` on string fields, recursively."""
    if not is_dataclass(schema):
        return
    for f in fields(schema):
        value = node[f.name]
        allowed = f.metadata.get("choices")
        key = f"{path}.{f.name}" if path else f.name
        if allowed and value is not None and value not in allowed:
            raise ConfigError(
                f"{key}={value!r} is not valid. Choose one of: {', '.join(allowed)}.{_suggest(str(value), allowed)}"
            )
        if isinstance(value, DictConfig):
            sub = OmegaConf.get_type(value)
            if is_dataclass(sub):
                _check_choices(value, sub, key)


def load_config(argv: Sequence[str] = (), root: Path | None = None, base: DictConfig | None = None) -> DictConfig:
    """Compose configs/train.yaml, the chosen group files and the command line into one checked config.

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
        choice = chosen.get(group)
        options = available_choices(group, root)
        if choice not in options:
            raise ConfigError(f"Unknown {group} {choice!r}. Choose one of: {', '.join(options)}.{_suggest(str(choice), options)}")
        node = OmegaConf.structured(_schema_for(group, choice))
        path = root / group / f"{choice}.yaml"
        try:
            node = OmegaConf.merge(node, _load_yaml(path))
        except OmegaConfBaseException as e:
            raise _explain(e, str(path)) from None
        name_key = GROUP_NAME_KEYS.get(group)
        if name_key and node[name_key] != choice:
            raise ConfigError(f"{path}: {name_key} is {node[name_key]!r} but the file is the {group} choice {choice!r}.")
        cfg[group] = node

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

    _check_choices(cfg, TrainConfig, "")
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"These config keys need a value: {', '.join(missing)}.")
    return cfg


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)


def to_dict(cfg: DictConfig | ListConfig) -> Any:
    return OmegaConf.to_container(cfg, resolve=True)


def usage(root: Path | None = None) -> str:
    lines = ["Config groups and their choices (pick with group=choice):"]
    for group in GROUPS:
        lines.append(f"  {group:8s} {', '.join(available_choices(group, root))}")
    lines.append("Override any key with dotted.key=value; --print-config shows every key.")
    return "\n".join(lines)


def cli_config(argv: Sequence[str], prog: str, loader: Callable[[list[str]], DictConfig] = load_config) -> DictConfig:
    """For entry points: handle --help and --print-config, load the config, or print the problem and exit 2."""
    if any(a in ("-h", "--help") for a in argv):
        print(f"usage: python -m {prog} [group=choice ...] [key=value ...] [--print-config]\n\n{usage()}")
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
