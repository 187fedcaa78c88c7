"""A sweep: a matrix of training runs (model x space x seed), each ``python -m colorize.train`` in a process of its own.

A cell's run directory is ``<runs_dir>/<sweep>/<model>-<space>-seed<N>`` and its output goes to
``<runs_dir>/<sweep>/logs/``; in W&B it joins the group ``<model>-<space>`` like any run, tagged with the sweep's name.
With GPUs, the runs go one per GPU in parallel (``CUDA_VISIBLE_DEVICES``), otherwise in turn. A failed run does not
stop the others. torch is imported only to count the GPUs. :func:`continuing` makes a sweep that was run before go on
where it stopped (a study's rerun): finished runs are not trained again, and a run that was stopped continues from its
last checkpoint.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from colorize.options import ConfigError
from colorize.runs import RUN_DIR_ENV, Run

# Keys the sweep sets for every run itself (runs_dir is taken, with the sweep's name under it).
SWEEP_KEYS = ("model", "space", "seed", "name", "resume")
# Settings in which a run made before may differ from the sweep's plan for it and still be that run.
UNPLANNED = ("name", "runs_dir", "resume", "logger.", "model.init")
CACHE_DIR = "cache"  # under runs_dir, with shared_cache: the photos resized to data.prepare_size (keyed by photo)


@dataclass(frozen=True)
class SweepCell:
    model: str
    space: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.model}-{self.space}-seed{self.seed}"


@dataclass
class SweepRun:
    """One cell's training: its command, its run directory, and the log its output goes to."""

    cell: SweepCell
    command: list[str]
    run_dir: Path
    log: Path


@dataclass
class Outcome:
    run: SweepRun
    returncode: int
    gpu: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _unique(path: Path) -> Path:
    """``path``, or ``<stem>.2<suffix>``, ``.3``... if it exists: an earlier sweep's log is never overwritten."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}.{n}{path.suffix}")
    return candidate


def plan(
    models: Sequence[str],
    spaces: Sequence[str],
    seeds: Sequence[int],
    overrides: Sequence[str],
    name: str,
    load_config: Callable[[list[str]], DictConfig],
    shared_cache: bool = False,
) -> list[SweepRun]:
    """One run per cell; ``load_config`` (the command line's words -> a checked config) raises ConfigError, before
    anything runs, if any cell's config is invalid. ``shared_cache``: a source that can keep its photos resized
    (``data.cache_dir``, with ``data.prepare_size``) keeps them in ``<runs_dir>/cache`` unless the overrides say where,
    so that its photos are resized once for every run."""
    for word in overrides:
        key = word.partition("=")[0]
        if key in SWEEP_KEYS:
            raise ConfigError(f"{word!r}: the sweep sets {key} for each run itself. Leave it out of the overrides.")
    kept = [w for w in overrides if w.partition("=")[0] != "runs_dir"]
    if shared_cache and models:
        cfg = load_config([f"model={models[0]}", *overrides])
        if "cache_dir" in cfg.data and cfg.data.cache_dir is None and cfg.data.prepare_size:
            kept.append(f"data.cache_dir={Path(os.path.expanduser(cfg.runs_dir)) / CACHE_DIR}")
    runs = []
    for model in models:
        for space in spaces:
            cfg = load_config([f"model={model}", f"space={space}", *overrides])
            sweep_dir = Path(os.path.expanduser(cfg.runs_dir)) / name
            tags = ",".join([*cfg.logger.tags, name])
            for seed in seeds:
                cell = SweepCell(model, space, seed)
                argv = [f"model={model}", f"space={space}", f"seed={seed}", *kept]
                argv += [f"runs_dir={sweep_dir}", f"name={cell.name}", f"logger.tags=[{tags}]"]
                command = [sys.executable, "-m", "colorize.train", *argv]
                runs.append(SweepRun(cell, command, sweep_dir / cell.name, sweep_dir / "logs" / f"{cell.name}.log"))
    return runs


def _flat(tree: object, prefix: str = "") -> dict[str, object]:
    if not isinstance(tree, dict):
        return {prefix.rstrip("."): tree}
    return {k: v for key, value in tree.items() for k, v in _flat(value, f"{prefix}{key}.").items()}


def continuing(runs: Sequence[SweepRun], load_config: Callable[[list[str]], DictConfig]) -> tuple[list[SweepRun], list[SweepRun]]:
    """Of a planned sweep that may have run before: the runs still to train, and those finished already.

    A run whose directory does not exist is trained as planned; a finished one (:attr:`colorize.runs.Run.finished`)
    is left alone; one that stopped midway continues from its last.ckpt (``resume=``). Raises ConfigError, before
    anything runs, for a run directory that cannot be that run: made with other settings, or without a checkpoint to
    continue from. Nothing is ever overwritten."""
    pending, finished = [], []
    for run in runs:
        if not run.run_dir.exists():
            pending.append(run)
            continue
        made = Run(run.run_dir)
        if not made.config_path.is_file():
            raise ConfigError(f"{run.run_dir} exists but is not a run directory: move it away, or choose another --name.")
        planned = _flat(OmegaConf.to_container(load_config(run.command[3:]), resolve=True))
        saved = _flat(OmegaConf.to_container(made.config, resolve=True))
        differ = [k for k in sorted(planned.keys() & saved.keys()) if not k.startswith(UNPLANNED) and planned[k] != saved[k]]
        if differ:
            shown = ", ".join(f"{k} {saved[k]!r} (now {planned[k]!r})" for k in differ[:3]) + (", ..." if differ[3:] else "")
            raise ConfigError(
                f"{run.run_dir} was trained with other settings: {shown}. Choose another --name for these settings, or "
                "move that run directory away to train it anew."
            )
        if made.finished:
            finished.append(run)
        elif made.last_checkpoint.is_file():
            command = [*run.command[:3], f"resume={made.last_checkpoint}"]
            pending.append(SweepRun(run.cell, command, run.run_dir, run.log))
        else:
            raise ConfigError(
                f"{run.run_dir} holds no checkpoint to continue from (its training stopped before its first one: see "
                f"{run.log}). Move it away, and it is trained anew."
            )
    return pending, finished


def visible_gpus() -> list[str]:
    """The ids of the GPUs this process may use, as CUDA_VISIBLE_DEVICES would name them."""
    import torch

    count = torch.cuda.device_count()
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [g.strip() for g in listed.split(",") if g.strip()] if listed else [str(i) for i in range(count)]
    return ids[:count]


def run_sweep(runs: Sequence[SweepRun], gpus: Sequence[str] | None = None) -> list[Outcome]:
    """Run every run; with ``gpus``, one at a time per GPU (each sees only its own), else one after another."""
    slots: queue.Queue[str | None] = queue.Queue()
    for gpu in gpus or [None]:
        slots.put(gpu)
    stop = threading.Event()
    started = iter(range(1, len(runs) + 1))
    lock = threading.Lock()

    def start(run: SweepRun) -> Outcome | None:
        gpu = slots.get()
        try:
            if stop.is_set():
                return None
            env = {k: v for k, v in os.environ.items() if k != RUN_DIR_ENV}
            if gpu is not None:
                env["CUDA_VISIBLE_DEVICES"] = gpu
            run.log = _unique(run.log)
            run.log.parent.mkdir(parents=True, exist_ok=True)
            with lock:
                print(
                    f"[{next(started)}/{len(runs)}] {run.cell.name}"
                    + (f" on GPU {gpu}" if gpu is not None else "")
                    + f": log {run.log}"
                )
            begin = time.monotonic()
            with open(run.log, "w") as log:
                log.write(" ".join(run.command) + "\n\n")
                log.flush()
                code = subprocess.run(run.command, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
            outcome = Outcome(run, code, gpu, time.monotonic() - begin)
            with lock:
                print(f"    {run.cell.name}: {'done' if outcome.ok else f'FAILED (exit {code})'} after {outcome.seconds:.0f} s")
            return outcome
        finally:
            slots.put(gpu)

    with ThreadPoolExecutor(max_workers=len(gpus) if gpus else 1) as pool:
        futures = [pool.submit(start, run) for run in runs]
        try:
            results = [f.result() for f in futures]
        except KeyboardInterrupt:
            stop.set()
            raise
    return [r for r in results if r is not None]


def last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(empty log)"


def summary(outcomes: Sequence[Outcome]) -> str:
    failed = [o for o in outcomes if not o.ok]
    lines = [f"{len(outcomes) - len(failed)} of {len(outcomes)} run(s) finished."]
    for o in failed:
        lines += [f"FAILED {o.run.cell.name} (exit {o.returncode}): {last_line(o.run.log)}", f"       log: {o.run.log}"]
    return "\n".join(lines)
