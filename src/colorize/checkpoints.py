"""Checkpoint files: how they are marked as colorize's, read safely, and brought up to the current format.

Every checkpoint carries ``checkpoint["colorize"] = {"format": FORMAT, "version": ...}``
(added by ``ColorizerModule.on_save_checkpoint``). :func:`read_checkpoint` loads with
``weights_only=True``, so no pickled code in a file runs, says clearly when a file is
not a colorize checkpoint or has a format this version cannot read, and upgrades an older
format (see :func:`upgrade`). Nothing here needs Lightning, and torch only to read a file.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

from colorize import __version__
from colorize.errors import UserError

MARKER = "colorize"
# Raise when a change to what checkpoints hold means older code can no longer rebuild a model from them, and teach
# upgrade() the step from the previous format.
FORMAT = 2
# Keys that format 1 used for what is now model.body (gan's generator, classify's network).
FORMAT_1_BODY_KEYS = ("generator", "network")


class CheckpointError(UserError, ValueError):
    """A file that cannot be used as a colorize checkpoint; the message says why and what to use instead."""


def marker() -> dict[str, Any]:
    return {"format": FORMAT, "version": __version__}


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a colorize checkpoint (weights only), or raise :class:`CheckpointError` naming the file and the problem."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file (look in runs/<run>/checkpoints/).")
    checkpoint = None
    if path.stat().st_size == 0:
        reason = "the file is empty"
    elif not zipfile.is_zipfile(path):
        reason = "it is not a whole file written by torch.save (another format, or cut short)"
    else:
        try:
            checkpoint = torch.load(path, map_location=map_location, weights_only=True, mmap=True)  # mmap: cheap to check
        except pickle.UnpicklingError:
            reason = "it holds Python objects whose loading would run code, and colorize loads weights only"
        except Exception as e:  # a damaged archive, mostly; torch's first line says which
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
    if checkpoint is None:
        raise CheckpointError(
            f"{path} is not a colorize checkpoint: {reason}. Use a .ckpt written by colorize.train (runs/<run>/checkpoints/)."
        )
    found = checkpoint.get(MARKER) if isinstance(checkpoint, dict) else None
    if not isinstance(found, dict) or "format" not in found:
        raise CheckpointError(
            f"{path} is a torch file but not a colorize checkpoint (it has no {MARKER!r} entry; a plain state dict "
            "or another project's checkpoint looks like this). Use a .ckpt written by colorize.train "
            "(runs/<run>/checkpoints/)."
        )
    if found["format"] > FORMAT or found["format"] < 1:
        newer = found["format"] > FORMAT
        raise CheckpointError(
            f"{path} was written by colorize {found.get('version', '?')} in checkpoint format {found['format']}; "
            f"this colorize ({__version__}) reads format {FORMAT}. "
            + ("Upgrade colorize to use it." if newer else "Use the colorize version that wrote it.")
        )
    return upgrade(checkpoint)


def upgrade_model_options(model: dict[str, Any]) -> dict[str, Any]:
    """A saved model config as this version builds it (a copy): format 1's body key renamed to ``body``, and each option
    added since it was saved set to the value it was built with (its family's ``saved_defaults``), not to today's
    default."""
    from colorize.models import FAMILIES  # the declarations: no torch

    model = dict(model)
    if "body" not in model:
        chosen = [model.pop(key) for key in FORMAT_1_BODY_KEYS if key in model]
        model["body"] = chosen[0] if chosen else model["name"]
    family = FAMILIES.get(model.get("name"))
    return {**family.saved_defaults, **model} if family is not None else model


def _format_1_state(state: dict[str, Any]) -> dict[str, Any]:
    """Format 1 kept the body's layers and its head together in ``net``, and classify's bins beside it."""
    bare_conv_head = "net.head.weight" in state  # classify's head was a bare 1x1 conv of bin logits
    upgraded = {}
    for key, value in state.items():
        if key == "bin_centres":
            key = "net.head.centres"
        elif key.startswith("net.head."):
            key = key.replace("net.head.", "net.head.logits.", 1) if bare_conv_head else key
        elif key.startswith("net."):
            key = "net.body." + key.removeprefix("net.")
        upgraded[key] = value
    return upgraded


def upgrade(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint of an older format or version brought to this one in place (also Lightning's, when a run resumes
    from one)."""
    if checkpoint[MARKER]["format"] == 1:
        checkpoint["state_dict"] = _format_1_state(checkpoint["state_dict"])
        checkpoint[MARKER] = {**checkpoint[MARKER], "format": FORMAT}
    hparams = checkpoint.get("hyper_parameters", {})
    if "model" in hparams:
        hparams["model"] = upgrade_model_options(hparams["model"])
    return checkpoint
