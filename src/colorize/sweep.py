"""Train a whole matrix of runs: ``python -m colorize.sweep --models cnn --spaces lab luv --seeds 0 1 2 -- [key=value ...]``.

Each cell (model x space x seed) is one ``python -m colorize.train model=M space=S seed=N key=value ...``
in a process of its own. Its run directory is ``<runs_dir>/<sweep>/<model>-<space>-seed<N>`` and its
output goes to ``<runs_dir>/<sweep>/logs/``; in W&B it joins the group ``<model>-<space>`` like any run,
tagged with the sweep's name. Every cell's config is checked before anything starts.

With several GPUs the runs go one per GPU in parallel (``CUDA_VISIBLE_DEVICES``), otherwise in turn.
A failed run does not stop the others; failures are listed at the end with their logs, and the exit
status is then 1. Compare the results with ``python -m colorize.compare <runs_dir>/<sweep>``.
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from colorize.config import ConfigError, available_choices, load_config
from colorize.runs import RUN_DIR_ENV

# Keys the sweep sets for every run itself (runs_dir is taken, with the sweep's name under it).
SWEEP_KEYS = ("model", "space", "seed", "name", "resume")


@dataclass(frozen=True)
class Cell:
    model: str
    space: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.model}-{self.space}-seed{self.seed}"


@dataclass
class Job:
    cell: Cell
    command: list[str]
    run_dir: Path
    log: Path


@dataclass
class Outcome:
    job: Job
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


def plan(models: Sequence[str], spaces: Sequence[str], seeds: Sequence[int], overrides: Sequence[str], name: str) -> list[Job]:
    """One job per cell; raises ConfigError, before anything runs, if any cell's config is invalid."""
    for word in overrides:
        key = word.partition("=")[0]
        if key in SWEEP_KEYS:
            raise ConfigError(f"{word!r}: the sweep sets {key} for each run itself. Leave it out of the overrides.")
    kept = [w for w in overrides if w.partition("=")[0] != "runs_dir"]
    jobs = []
    for model in models:
        for space in spaces:
            cfg = load_config([f"model={model}", f"space={space}", *overrides])
            sweep_dir = Path(os.path.expanduser(cfg.runs_dir)) / name
            tags = ",".join([*cfg.logger.tags, name])
            for seed in seeds:
                cell = Cell(model, space, seed)
                argv = [f"model={model}", f"space={space}", f"seed={seed}", *kept]
                argv += [f"runs_dir={sweep_dir}", f"name={cell.name}", f"logger.tags=[{tags}]"]
                command = [sys.executable, "-m", "colorize.train", *argv]
                jobs.append(Job(cell, command, sweep_dir / cell.name, sweep_dir / "logs" / f"{cell.name}.log"))
    return jobs


def visible_gpus() -> list[str]:
    """The ids of the GPUs this process may use, as CUDA_VISIBLE_DEVICES would name them."""
    import torch

    count = torch.cuda.device_count()
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [g.strip() for g in listed.split(",") if g.strip()] if listed else [str(i) for i in range(count)]
    return ids[:count]


def run_jobs(jobs: Sequence[Job], gpus: Sequence[str] | None = None) -> list[Outcome]:
    """Run every job; with ``gpus``, one at a time per GPU (each sees only its own), else one after another."""
    slots: queue.Queue[str | None] = queue.Queue()
    for gpu in gpus or [None]:
        slots.put(gpu)
    stop = threading.Event()
    started = iter(range(1, len(jobs) + 1))
    lock = threading.Lock()

    def run(job: Job) -> Outcome | None:
        gpu = slots.get()
        try:
            if stop.is_set():
                return None
            env = {k: v for k, v in os.environ.items() if k != RUN_DIR_ENV}
            if gpu is not None:
                env["CUDA_VISIBLE_DEVICES"] = gpu
            job.log = _unique(job.log)
            job.log.parent.mkdir(parents=True, exist_ok=True)
            with lock:
                print(
                    f"[{next(started)}/{len(jobs)}] {job.cell.name}"
                    + (f" on GPU {gpu}" if gpu is not None else "")
                    + f": log {job.log}"
                )
            begin = time.monotonic()
            with open(job.log, "w") as log:
                log.write(" ".join(job.command) + "\n\n")
                log.flush()
                code = subprocess.run(job.command, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
            outcome = Outcome(job, code, gpu, time.monotonic() - begin)
            with lock:
                print(f"    {job.cell.name}: {'done' if outcome.ok else f'FAILED (exit {code})'} after {outcome.seconds:.0f} s")
            return outcome
        finally:
            slots.put(gpu)

    with ThreadPoolExecutor(max_workers=len(gpus) if gpus else 1) as pool:
        futures = [pool.submit(run, job) for job in jobs]
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
        lines += [f"FAILED {o.job.cell.name} (exit {o.returncode}): {last_line(o.job.log)}", f"       log: {o.job.log}"]
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m colorize.sweep", description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", help="default: every model (" + ", ".join(available_choices("model")) + ")")
    parser.add_argument("--spaces", nargs="+", help="default: every space (" + ", ".join(available_choices("space")) + ")")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="default: 0 1 2")
    parser.add_argument(
        "--name", default=None, help="the sweep's folder under runs_dir and its W&B tag (default: sweep-<date>-<time>)"
    )
    parser.add_argument(
        "--gpus", default="auto", help="auto: one run per visible GPU; none: in turn, GPUs untouched; or ids, e.g. 0,1"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the commands and stop")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides for every run (after --)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    name = args.name or time.strftime("sweep-%Y%m%d-%H%M%S")
    try:
        jobs = plan(
            args.models or available_choices("model"), args.spaces or available_choices("space"), args.seeds, args.overrides, name
        )
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    if args.dry_run:
        print("\n".join(" ".join(job.command) for job in jobs))
        return 0
    gpus = visible_gpus() if args.gpus == "auto" else None if args.gpus == "none" else args.gpus.split(",")
    print(f"sweep {name}: {len(jobs)} run(s), " + (f"one per GPU on GPU(s) {', '.join(gpus)}" if gpus else "in turn"))
    try:
        outcomes = run_jobs(jobs, gpus or None)
    except KeyboardInterrupt:  # Ctrl+C reaches the runs too: each saves its last.ckpt and stops
        print(
            f"sweep {name} interrupted. A run that was training saved its checkpoints/last.ckpt: continue it with "
            "python -m colorize.train resume=<run dir>/checkpoints/last.ckpt (see its log). Runs not started were not run.",
            file=sys.stderr,
        )
        return 128 + signal.SIGINT
    print(summary(outcomes))
    print(f"compare them with: make compare RUNS={jobs[0].run_dir.parent} OUT=report/{name}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
