"""What every command shares: one way to report a problem, and the same checkpoint and ``--device`` arguments.

A config error or any other problem that is the user's to fix prints one line on stderr and exits with 2; a missing
optional extra says which extra to install. Commands import the heavy machinery (torch, Lightning) only after their
arguments are parsed, so that ``--help`` and a config error answer at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from colorize.errors import UserError, user_message
from colorize.options import ConfigError

# The optional extras (pyproject.toml), by the modules they bring, and the make target that installs each.
EXTRAS = {"gradio": ("demo", "make demo"), "onnx": ("export", "make export"), "onnxruntime": ("export", "make export")}
EXTRAS["onnxscript"] = EXTRAS["onnx"]


def run(command: Callable[[], int]) -> int:
    """Run a command's body: its exit status, or 2 with one line on stderr for a problem the user can fix."""
    try:
        return command()
    except ConfigError as e:
        print(f"config error: {user_message(e)}", file=sys.stderr)
    except UserError as e:
        print(f"error: {user_message(e)}", file=sys.stderr)
    except ModuleNotFoundError as e:
        extra = EXTRAS.get((e.name or "").partition(".")[0])
        if extra is None:
            raise
        print(
            f"error: this needs {e.name}, of the {extra[0]} extra: install it with uv sync --extra {extra[0]} "
            f"(or {extra[1]}, which does).",
            file=sys.stderr,
        )
    return 2


class CommandParser(argparse.ArgumentParser):
    """Takes the checkpoint argument as one file, and says so when a pattern (``CKPT=.../best-*.ckpt``) gave several."""

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed = super().parse_args(args, namespace)
        given = getattr(parsed, "checkpoint", None)
        if isinstance(given, list):
            if len(given) > 1:
                self.error(
                    f"the checkpoint argument takes one file, but got {len(given)} ({', '.join(given)}): a pattern such as "
                    "best-*.ckpt matched several files. Give one of them."
                )
            parsed.checkpoint = given[0]
        return parsed


def add_run_lists(parser: argparse.ArgumentParser, models_help: str) -> None:
    """``--models``, ``--spaces`` and ``--seeds`` of the commands that plan runs (sweep, study).

    Each takes one or more words, so a ``key=value`` right after them would be read as a model, a space or a seed: that is
    an error naming the fix (overrides go after ``--``), not an unknown model or space.
    """
    from colorize.config import available_choices  # the commands that use a model never need the config's registries

    def listed(what: str, example: str, convert: Callable[[str], object] = str) -> Callable[[str], object]:
        def value(text: str) -> object:
            if "=" in text:
                raise argparse.ArgumentTypeError(
                    f"{text!r} is a config override, not a {what}: put overrides after --, e.g. --{what}s {example} -- {text}"
                )
            return convert(text)

        value.__name__ = what  # argparse names the type in its own errors ("invalid seed value: 'x'")
        return value

    spaces = "default: every space (" + ", ".join(available_choices("space")) + ")"
    parser.add_argument("--models", nargs="+", type=listed("model", "cnn resnet"), help=models_help)
    parser.add_argument("--spaces", nargs="+", type=listed("space", "lab luv"), help=spaces)
    parser.add_argument("--seeds", nargs="+", type=listed("seed", "0 1", int), default=[0, 1, 2], help="default: 0 1 2")


def add_temperature(parser: argparse.ArgumentParser) -> None:
    """``--temperature``: decode a classify model at another temperature of its annealed mean than it was trained with."""
    parser.add_argument(
        "--temperature",
        type=float,
        help="a classify model: the temperature of the annealed mean its bins are decoded with (default: its own "
        "model.temperature; 1 is the plain mean, lower is more vivid)",
    )


def parser(prog: str, description: str, checkpoint: bool = True, device: bool = True) -> argparse.ArgumentParser:
    """An argument parser with the checkpoint argument (first) and ``--device``, as the commands that use a model have."""
    parsed = CommandParser(prog=f"python -m {prog}", description=description)
    if checkpoint:
        # One or more, so that several files from one pattern are named as such rather than taken for the next arguments.
        parsed.add_argument("checkpoint", nargs="+", help="a colorize checkpoint, e.g. runs/<run>/checkpoints/best-*.ckpt")
    if device:
        parsed.add_argument("--device", default="auto", help="auto (a GPU if there is one), cpu, cuda, cuda:1, ...")
    return parsed
