"""Cold start: each command launched as a fresh process, as a user runs it, timed from launch to exit, beside a bare
Python that does the least the command must (``import torch`` for predict, ``pass`` for an answer from the command
line). Imports no torch itself.

Every command is launched once untimed with ``-X importtime`` first: that launch fills the OS page cache, writes the
compiled bytecode that the timed launches then read (``PYTHONDONTWRITEBYTECODE`` is dropped from their environment,
as on a usual install), and tells which heavy packages the command imports. The timed launches then go round by
round, every command in turn, so that both sides of each difference come from the same round.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median

# The packages whose import takes seconds; which of them each command imports is recorded.
HEAVY = ("torch", "torchvision", "kornia", "timm", "lightning", "lightning_fabric", "wandb", "litdata")
LIGHTNING = ("lightning", "lightning_fabric", "pytorch_lightning")
# What an answer from the command line alone (--help, a config error, a missing folder) must not wait for.
NOT_BEFORE_ARGUMENTS = ("torch", *LIGHTNING, "timm")
# The goal: predict's cold start is at most the bare `import torch` plus this.
GOAL_PREDICT_OVER_TORCH_S = 3.0


@dataclass(frozen=True)
class Launch:
    name: str
    args: tuple[str, ...]  # after the interpreter
    baseline: str | None = None  # the launch it is measured against
    exit_code: int = 0
    must_not_import: tuple[str, ...] = ()
    output: Path | None = None  # a file the command must write (removed before each launch)
    shown: str | None = None  # how the report writes the command (default: as launched)
    goal_over_baseline_s: float | None = None  # at most this many seconds over its baseline


def launches(checkpoint: Path, photo: Path, output: Path, missing: Path) -> list[Launch]:
    """The commands whose cold start the issue asks for, each after the baseline it is measured against; ``missing``
    is a path that does not exist (a data folder given by mistake)."""
    return [
        Launch("import torch", ("-c", "import torch")),
        Launch(
            "predict one photo",
            ("-m", "colorize.predict", str(checkpoint), str(photo), str(output)),
            baseline="import torch",
            must_not_import=LIGHTNING,
            output=output,
            shown=f"python -m colorize.predict CKPT {photo.name} {output.name}",
            goal_over_baseline_s=GOAL_PREDICT_OVER_TORCH_S,
        ),
        # What building a timm encoder cannot do without: timm's import brings torchvision, which brings torch._dynamo.
        Launch("import torch, timm", ("-c", "import torch, timm"), baseline="import torch"),
        Launch("pass", ("-c", "pass")),
        Launch("train --help", ("-m", "colorize.train", "--help"), baseline="pass", must_not_import=NOT_BEFORE_ARGUMENTS),
        Launch(
            "train model=resnt (a config error)",
            ("-m", "colorize.train", "model=resnt"),
            baseline="pass",
            exit_code=2,
            must_not_import=NOT_BEFORE_ARGUMENTS,
        ),
        Launch(
            "train on a missing data folder",
            ("-m", "colorize.train", "data=folder", f"data.root={missing}"),
            baseline="pass",
            exit_code=2,
            must_not_import=NOT_BEFORE_ARGUMENTS,
            shown="python -m colorize.train data=folder data.root=MISSING",
        ),
    ]


def imported_packages(importtime: str) -> list[str]:
    """The top-level packages named in ``python -X importtime``'s report, in the order first imported."""
    names: dict[str, None] = {}
    for line in importtime.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip().partition(".")[0]
            if name != "imported":  # the report's header line
                names[name] = None
    return list(names)


def launch(command: Launch, env: dict[str, str], *flags: str) -> tuple[float, str]:
    """Launch ``command`` in a fresh interpreter: its wall time and stderr; raises if it did not do its job.

    (No peak memory: a child's ``ru_maxrss`` keeps the peak of the process it was forked from, before its exec.)
    """
    if command.output is not None:
        command.output.unlink(missing_ok=True)
    with tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, *flags, *command.args], env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        seconds = time.perf_counter() - started
        stderr.seek(0)
        err = stderr.read()
    if done.returncode != command.exit_code:
        tail = "\n".join(err.strip().splitlines()[-5:])
        raise RuntimeError(f"{command.name}: exit status {done.returncode}, expected {command.exit_code}\n{tail}")
    if command.output is not None and not command.output.is_file():
        raise RuntimeError(f"{command.name}: exited without writing {command.output}")
    return seconds, err


def cold_start(commands: list[Launch], rounds: int) -> dict:
    """Each command's cold start, ``rounds`` times, round by round; medians, spreads and per-round differences."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    rows: dict[str, dict] = {}
    for command in commands:
        _, err = launch(command, env, "-X", "importtime")
        imported = imported_packages(err)
        message = [line for line in err.splitlines() if not line.startswith("import time:")]
        rows[command.name] = {
            "command": command.shown or shlex.join(["python", *command.args]),
            "baseline": command.baseline,
            "exit_code": command.exit_code,
            "message": message[0] if command.exit_code and message else None,
            "imports": [name for name in HEAVY if name in imported],
            "must_not_import": list(command.must_not_import),
            "goal_over_baseline_s": command.goal_over_baseline_s,
            "imported_against_goal": [name for name in command.must_not_import if name in imported],
            "seconds": [],
        }
    for _ in range(rounds):
        for command in commands:
            rows[command.name]["seconds"].append(round(launch(command, env)[0], 3))
    for row in rows.values():
        seconds = row["seconds"]
        row |= {"median_s": round(median(seconds), 3), "min_s": min(seconds), "max_s": max(seconds)}
        if row["baseline"]:
            base = rows[row["baseline"]]["seconds"]
            row["over_baseline_s"] = round(median(a - b for a, b in zip(seconds, base)), 3)
            row["times_baseline"] = round(median(a / b for a, b in zip(seconds, base)), 2)
    return {
        "rounds": rounds,
        "bytecode_writes_off_in_environment": "PYTHONDONTWRITEBYTECODE" in os.environ,
        "goal_predict_over_torch_s": GOAL_PREDICT_OVER_TORCH_S,
        "commands": rows,
    }
