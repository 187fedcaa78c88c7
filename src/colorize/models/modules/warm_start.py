"""Warm starts: a new run's colorizer, or its body, from the weights of a trained run.

``gan`` takes its whole generator from a regression run (``model.generator_ckpt``, DeOldify's NoGAN); ``classify`` takes
its body, not its head (``model.body_ckpt``). Either way the trained run must have the same body, the same body options,
the same hint inputs and the same space, or the error says which to change.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from colorize.checkpoints import CheckpointError, read_checkpoint
from colorize.errors import UserError
from colorize.models.modules.base import ColorizerModule, colorizer_spec
from colorize.models.registry import get_family
from colorize.networks.bodies import BODIES, architecture_options
from colorize.networks.colorizer import Colorizer, build_colorizer
from colorize.networks.heads import ChromaHead
from colorize.networks.hint_options import BEFORE_HINT_FIELD, HINT_KINDS, HintOptions

# The hint options that shape a network (its input channels), which a warm start must match as it does the body's, with
# the value a model saved before hints existed had.
HINT_ARCHITECTURE = {f.name: f.default for f in fields(HintOptions) if f.metadata.get("architecture", True)}
DENSE_FIELD_OPTIONS = tuple(BEFORE_HINT_FIELD)  # they build nothing without local hints
FRESH_WITH_THE_HEAD = ("head.", "hint_paths.blend.")  # the output blend sits beside the head: it starts afresh too


def shapes(name: str, model_cfg: Any, head: bool) -> bool:
    """Whether the hint option ``name`` shapes the part of the network a warm start takes over."""
    if name in DENSE_FIELD_OPTIONS and not HINT_KINDS[model_cfg.hints].local:
        return False
    return head or name != "hint_blend"


def read_trained(model_cfg: Any, option: str, space: str, heads: tuple[str, ...] | None = None) -> tuple[Path, dict]:
    """The path and checkpoint that ``model_cfg[option]`` names; ``heads``, if given, the heads its model may end in."""
    path = Path(model_cfg[option]).expanduser()
    if not path.is_file():
        raise UserError(f"model.{option}={path}: no such file. Give the .ckpt of a trained {' or '.join(BODIES)} run.")
    try:
        checkpoint = read_checkpoint(path)
    except CheckpointError as e:
        raise CheckpointError(f"model.{option}: {e}") from None
    trained = checkpoint["hyper_parameters"]["model"]
    if heads is not None and get_family(trained["name"]).head not in heads:
        raise UserError(
            f"model.{option}={path} holds a {trained['name']} model, whose network does not predict chroma directly; "
            f"give the .ckpt of a {' or '.join(BODIES)} run (or of a gan run) in {space}."
        )
    return path, checkpoint


def trained_chroma_head(model_cfg: Any, option: str, space: str, in_channels: int) -> ChromaHead:
    """The chroma head of the run whose checkpoint ``model_cfg[option]`` names (a cnn, resnet or gan run)."""
    _, checkpoint = read_trained(model_cfg, option, space, heads=("chroma",))
    head = ChromaHead(in_channels)
    head.load_state_dict(
        {key.removeprefix("net.head."): value for key, value in checkpoint["state_dict"].items() if key.startswith("net.head.")}
    )
    return head


def load_trained_weights(
    net: Colorizer, option: str, model_cfg: Any, space: str, what: str, heads: tuple[str, ...] | None = None, head: bool = True
) -> None:
    """Load ``net`` from the colorizer of the checkpoint that ``model_cfg[option]`` names, checked against this run
    (``model_cfg`` in ``space``): all of it, or all but its head (``head=False``), which keeps its own start.

    ``what`` names the part taken over in errors ("generator", "body"); ``heads``, if given, the heads the trained model
    may end in.
    """
    path, checkpoint = read_trained(model_cfg, option, space, heads)
    hparams, state = checkpoint["hyper_parameters"], checkpoint["state_dict"]
    trained, trained_space = hparams["model"], hparams["space"]
    kind = trained["body"]
    if (kind, trained_space) != (model_cfg.body, space):
        raise UserError(
            f"model.{option}={path} holds a {kind} {what} trained in {trained_space}, but this run has "
            f"model.body={model_cfg.body} in space={space}. Give a checkpoint of a {model_cfg.body} run in "
            f"{space}, or run with model.body={kind} space={trained_space}."
        )
    shaping = [*architecture_options(kind), *(name for name in HINT_ARCHITECTURE if shapes(name, model_cfg, head))]
    saved = {name: trained.get(name, HINT_ARCHITECTURE.get(name)) for name in shaping}
    differ = [name for name in shaping if saved[name] != model_cfg[name]]
    if differ:
        raise UserError(
            f"model.{option}={path} was trained with other {what} options; add "
            + " ".join(f"model.{name}={saved[name]}" for name in differ)
            + " to this run."
        )
    weights = {key.removeprefix("net."): value for key, value in state.items() if key.startswith("net.")}
    if not head:
        weights = {key: value for key, value in weights.items() if not key.startswith(FRESH_WITH_THE_HEAD)}
    try:
        missing, unexpected = net.load_state_dict(weights, strict=head)
    except RuntimeError as e:  # a shape the options above do not decide (e.g. a global hint over other bins)
        raise UserError(f"model.{option}={path}: its {what} does not fit this run's: {str(e).strip().splitlines()[-1]}") from None
    if unexpected or any(not key.startswith(FRESH_WITH_THE_HEAD) for key in missing):
        raise UserError(f"model.{option}={path}: its {what} does not fit this run's (missing {missing}, extra {unexpected}).")


def create_warm_started(
    module_class: type[ColorizerModule], cfg: Any, option: str, what: str, heads: tuple[str, ...] | None = None, head: bool = True
) -> tuple[ColorizerModule, str]:
    """The module of a run's config whose colorizer starts from the checkpoint ``cfg.model[option]`` names (as
    :func:`load_trained_weights` loads it; a resumed run's, from its own checkpoint), and its ``model.init``."""
    model = OmegaConf.to_container(cfg.model, resolve=True)
    net = build_colorizer(colorizer_spec(model, cfg.space.name)).net
    if not cfg.resume:
        load_trained_weights(net, option, cfg.model, cfg.space.name, what, heads, head)
    model["init"] = f"{option}:{cfg.model[option]}"
    return module_class(model=model, space=cfg.space.name, net=net), model["init"]
