"""Model families, one module each (cnn, resnet, gan, classify, ...), their registry, and how to build or reload a model.

Importing this package imports every module in it, so each family module registers itself in :data:`FAMILIES`:
a new family is a new module here and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn

from colorize.checkpoints import CheckpointError, read_checkpoint
from colorize.errors import UserError
from colorize.models.base import ColorBatch, ColorizerModule
from colorize.models.bodies import BODIES, architecture_options
from colorize.models.registry import FAMILIES, ModelFamily, get_family, register
from colorize.spaces import get_space

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")


def build_module(cfg: DictConfig) -> ColorizerModule:
    """The LightningModule for ``cfg.model`` in ``cfg.space``; records the weights' origin in ``cfg.model.init``.

    Pretrained weights are fetched only for a new run that does not warm-start: a resumed run
    gets all its weights from its checkpoint, and keeps its saved ``model.init``.
    """
    warm_start = cfg.model.get("generator_ckpt")
    module_class = get_family(cfg.model.name).module
    net, init = module_class.build_net(cfg.model, get_space(cfg.space.name), load_weights=not (cfg.resume or warm_start))
    if warm_start:
        if not cfg.resume:
            load_generator_weights(net, cfg.model, cfg.space.name)
        cfg.model.init = f"generator_ckpt:{warm_start}"
    elif not cfg.resume:
        cfg.model.init = init
    model = OmegaConf.to_container(cfg.model, resolve=True)
    return module_class(model=model, space=cfg.space.name, net=net)


def load_generator_weights(net: nn.Module, model_cfg: DictConfig, space: str) -> None:
    """Warm start (DeOldify's "NoGAN"): load ``net`` from the generator of ``model_cfg.generator_ckpt``.

    The checkpoint must come from a colorize run (cnn, resnet or gan) with the same generator,
    the same generator options and the same space.
    """
    path = Path(model_cfg.generator_ckpt).expanduser()
    if not path.is_file():
        raise UserError(f"model.generator_ckpt={path}: no such file. Give the .ckpt of a trained cnn or resnet run.")
    try:
        checkpoint = read_checkpoint(path)
    except CheckpointError as e:
        raise CheckpointError(f"model.generator_ckpt: {e}") from None
    hparams, state = checkpoint["hyper_parameters"], checkpoint["state_dict"]
    trained, trained_space = hparams["model"], hparams["space"]
    kind = trained.get("generator", trained["name"])
    if kind not in BODIES:
        raise UserError(
            f"model.generator_ckpt={path} holds a {kind} model, whose network does not predict chroma directly; "
            f"give the .ckpt of a {' or '.join(BODIES)} run (or of a gan run) in {space}."
        )
    if (kind, trained_space) != (model_cfg.generator, space):
        raise UserError(
            f"model.generator_ckpt={path} holds a {kind} generator trained in {trained_space}, but this run has "
            f"model.generator={model_cfg.generator} in space={space}. Give a checkpoint of a {model_cfg.generator} run in "
            f"{space}, or run with model.generator={kind} space={trained_space}."
        )
    differ = [name for name in architecture_options(kind) if trained.get(name) != model_cfg[name]]
    if differ:
        raise UserError(
            f"model.generator_ckpt={path} was trained with other generator options; add "
            + " ".join(f"model.{name}={trained.get(name)}" for name in differ)
            + " to this run."
        )
    net.load_state_dict({key.removeprefix("net."): value for key, value in state.items() if key.startswith("net.")})


def load_colorizer(path: str | Path, map_location: Any = "cpu") -> ColorizerModule:
    """Rebuild a trained colorizer from a colorize checkpoint (weights only; no pickled code runs).

    Raises :class:`~colorize.checkpoints.CheckpointError` for a file that is not a colorize checkpoint.
    """
    checkpoint = read_checkpoint(path, map_location)
    hparams = checkpoint["hyper_parameters"]
    name = hparams["model"]["name"]
    if name not in FAMILIES:
        raise CheckpointError(f"{path} holds a {name!r} model, which this colorize does not know ({', '.join(FAMILIES)}).")
    module = FAMILIES[name].module(model=hparams["model"], space=hparams["space"])
    module.load_state_dict(checkpoint["state_dict"])
    return module.eval()


__all__ = [
    "FAMILIES",
    "ColorBatch",
    "ColorizerModule",
    "ModelFamily",
    "build_module",
    "get_family",
    "register",
    "load_colorizer",
    "load_generator_weights",
]
