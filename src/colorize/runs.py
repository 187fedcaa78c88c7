"""The run directory: one folder under ``runs/`` per training run, holding everything it made, read through :class:`Run`.

runs/<name>/
  config.yaml          the resolved config (config.resume-*.yaml for each resume)
  checkpoints/         best-*.ckpt (by cfg.monitor) and last.ckpt (the newest state, after every validation and at the end)
  metrics.csv          every logged metric
  samples/             validation sample grids, one PNG per epoch
  evaluation/          evaluate's reports of the run's checkpoints, one folder each
  wandb/               the W&B run (offline runs upload later with `wandb sync`)
  finished.json        written when training ran to its end (not when stopped); removed when the run is resumed

A resumed run appends to metrics.csv and may log a step again; the last value logged for a metric at a step wins.
A run's final metrics are the validation metrics of the evaluation at which its best checkpoint was chosen, i.e. where
``cfg.monitor`` is best (the first such evaluation on a tie, as ``ModelCheckpoint`` keeps the first), or with
``monitor=last`` the newest evaluation.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from colorize.checkpoints import upgrade_model_options
from colorize.data import SOURCES
from colorize.files import atomic_write_text
from colorize.options import ConfigError

# Set by the launching process so that DDP processes it spawns write to the same run directory.
RUN_DIR_ENV = "COLORIZE_RUN_DIR"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.csv"
EVALUATION_DIR = "evaluation"  # evaluate's reports of a run's checkpoints, one folder each
FINISHED_FILE = "finished.json"
LAST_CHECKPOINT = "last.ckpt"
# The best checkpoint's name as ModelCheckpoint fills it in (without .ckpt), and a pattern that finds it.
BEST_CHECKPOINT = "best-epoch={epoch:03d}-step={step:06d}"
BEST_CHECKPOINTS = "best-*.ckpt"
NEWEST = "last"  # cfg.monitor's value that makes the newest validated state the best checkpoint


def read_history(path: Path) -> dict[int, dict[str, float]]:
    """step -> {metric: value} from a Lightning metrics.csv, merging the rows logged at one step."""
    history: dict[int, dict[str, float]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            step = row.pop("step", "")
            if not step:
                continue
            values = history.setdefault(int(float(step)), {})
            for key, text in row.items():
                if key and text not in ("", None):
                    values[key] = float(text)
    return dict(sorted(history.items()))


def upgrade_saved(saved: DictConfig) -> DictConfig:
    """A run's saved config as this version's schemas have it (a copy): older runs named the body otherwise, and kept
    every source's data keys."""
    saved = saved.copy()
    if "model" in saved:
        saved.model = OmegaConf.create(upgrade_model_options(OmegaConf.to_container(saved.model, resolve=True)))
    source = SOURCES.get(saved.get("data", {}).get("source", ""))
    if source is not None:
        known = {f.name for f in fields(source.options)}
        saved.data = OmegaConf.masked_copy(saved.data, [k for k in saved.data if k in known])
    return saved


@dataclass
class Run:
    """A run directory: its files, its saved config (brought up to this version's schemas once, when first read), its
    metric history and its checkpoints."""

    dir: Path
    # Metrics of the best checkpoint that a report computed itself (e.g. LPIPS and FID, which training does not log).
    scored: dict[str, float] = field(default_factory=dict, compare=False)

    @classmethod
    def of_checkpoint(cls, checkpoint: str | Path) -> Run | None:
        """The run a checkpoint belongs to, if it lies in its run directory's checkpoints/."""
        candidate = Path(checkpoint).resolve().parent.parent
        return cls(candidate) if (candidate / CONFIG_FILE).is_file() else None

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def checkpoints(self) -> Path:
        return self.dir / "checkpoints"

    @property
    def samples(self) -> Path:
        return self.dir / "samples"

    @property
    def config_path(self) -> Path:
        return self.dir / CONFIG_FILE

    @property
    def last_checkpoint(self) -> Path:
        """Where the run keeps its newest state (it may not be written yet)."""
        return self.checkpoints / LAST_CHECKPOINT

    @property
    def finished(self) -> bool:
        """Whether training ran to its end (a run stopped by a signal or an error, or resumed since, has not)."""
        return (self.dir / FINISHED_FILE).is_file()

    def mark_finished(self, step: int) -> None:
        atomic_write_text(self.dir / FINISHED_FILE, json.dumps({"global_step": step, "time": time.strftime("%Y-%m-%d %H:%M:%S")}))

    def evaluations(self, notes: list[str], every: bool = False) -> list[tuple[Path, dict]]:
        """evaluate's reports (metrics.json under evaluation/) of the best checkpoint (``every``: of any checkpoint),
        newest first; a note in ``notes`` for each that cannot be read. Reports of a model decoded at another
        temperature than its own (``evaluate --temperature``) are not of the checkpoint as trained: left out."""
        best = self.best_checkpoint
        found = []
        for path in (self.dir / EVALUATION_DIR).glob("*/metrics.json"):
            try:
                report = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                notes.append(f"{self.name}: cannot read {path} ({e}): left out.")
                continue
            if not isinstance(report, dict) or "temperature" in report:
                continue
            if every or (best is not None and Path(report.get("checkpoint", "")).name == best.name):
                found.append((path.stat().st_mtime, path, report))
        return [(path, report) for _, path, report in sorted(found, key=lambda item: (-item[0], str(item[1])))]

    @property
    def best_checkpoint(self) -> Path | None:
        """The best checkpoint, else last.ckpt, else None."""
        best = sorted(self.checkpoints.glob(BEST_CHECKPOINTS))
        if best:
            return best[-1]
        return self.last_checkpoint if self.last_checkpoint.is_file() else None

    @cached_property
    def config(self) -> DictConfig:
        """The saved config.yaml, upgraded to this version's schemas."""
        loaded = OmegaConf.load(self.config_path)
        if not isinstance(loaded, DictConfig):
            raise ConfigError(f"{self.config_path} does not hold a config (a mapping of keys to values).")
        return upgrade_saved(loaded)

    @cached_property
    def history(self) -> dict[int, dict[str, float]]:
        """step -> {metric: value} from metrics.csv; empty for a run without one (logger=none)."""
        path = self.dir / METRICS_FILE
        return read_history(path) if path.is_file() else {}

    @property
    def model(self) -> str:
        return str(self.config.model.name)

    @property
    def space(self) -> str:
        return str(self.config.space.name)

    @property
    def seed(self) -> int:
        return int(self.config.seed)

    @property
    def init(self) -> str:
        """How the weights were initialised (model.init), or "unknown" for a run from before it was recorded."""
        return str(self.config.model.get("init") or "unknown")

    def series(self, metric: str) -> list[tuple[int, float]]:
        return [(step, values[metric]) for step, values in self.history.items() if metric in values]

    def best_step(self) -> int | None:
        """The step of the evaluation whose ``cfg.monitor`` is best (``last``: the newest); None if the run never
        validated."""
        if self.config.monitor == NEWEST:
            validated = [step for step, values in self.history.items() if any(k.startswith("val/") for k in values)]
            return max(validated, default=None)
        points = [(step, value) for step, value in self.series(self.config.monitor) if math.isfinite(value)]
        if not points:
            return None
        pick = min if self.config.monitor_mode == "min" else max
        best = pick(value for _, value in points)
        return next(step for step, value in points if value == best)

    def final_metrics(self) -> dict[str, float]:
        """The validation metrics (``val/...``) at :meth:`best_step`, and those in :attr:`scored`; empty if the run
        never validated."""
        step = self.best_step()
        if step is None:
            return {}
        logged = {k: v for k, v in self.history[step].items() if k.startswith("val/")}
        return logged | {f"val/{k}": v for k, v in self.scored.items()}


def is_launcher_process() -> bool:
    """False in the extra processes that DDP starts (they inherit the launcher's run directory), and in every process
    but the first of a job launched by torchrun, srun or one command per node."""
    return all(os.environ.get(v, "0") == "0" for v in ("LOCAL_RANK", "NODE_RANK", "RANK", "SLURM_PROCID"))


def is_run_dir(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() and ((path / METRICS_FILE).is_file() or (path / "checkpoints").is_dir())


def find_runs(root: str | Path) -> list[Run]:
    """Every run at or below ``root``, sorted by path. Links to folders are followed (a folder of links to runs from
    several places compares them), each folder once; W&B's own folders are not searched."""
    root = Path(root).expanduser()
    candidates, seen = [], set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link back up the tree, or a second link to one folder
            subfolders.clear()
            continue
        seen.add(real)
        subfolders[:] = sorted(d for d in subfolders if d != "wandb")
        if CONFIG_FILE in files:
            candidates.append(Path(folder))
    runs = [Run(path) for path in sorted(set(candidates) | {root}) if is_run_dir(path)]
    return [run for run in runs if _names_model_and_space(run)]


def _names_model_and_space(run: Run) -> bool:
    try:
        return "model" in run.config and "space" in run.config
    except ConfigError:
        return False


def _new_dir(cfg: DictConfig) -> Path:
    root = Path(os.path.expanduser(cfg.runs_dir))
    if cfg.name:
        path = root / cfg.name
        if path.exists():
            raise ConfigError(
                f"The run directory {path} already exists. Choose another name=..., "
                f"or continue that run with resume={Run(path).last_checkpoint}."
            )
        return path
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.model.name}-{cfg.space.name}"
    path, n = root / stem, 1
    while path.exists():
        n += 1
        path = root / f"{stem}-{n}"
    return path


def _shared_dir(cfg: DictConfig) -> Path:
    """The run directory that node 0 makes, as another node finds it (on a file system that every node shares)."""
    existing = Run.of_checkpoint(cfg.resume) if cfg.resume else None
    if existing is not None:
        return existing.dir
    if not cfg.name:
        raise ConfigError(
            "On several nodes, give the run a name=... (the same on every node, e.g. the scheduler's job id): the nodes "
            "start at different times, so a name made from the time would differ. scripts/slurm.sbatch does it."
        )
    return Path(os.path.expanduser(cfg.runs_dir)) / cfg.name


def prepare_run(cfg: DictConfig) -> Run:
    """Create (or, on resume, reopen) the run directory and save the resolved config in it.

    ``train`` has checked a ``cfg.resume`` file with ``read_checkpoint`` before calling this."""
    inherited = os.environ.get(RUN_DIR_ENV)
    if inherited and not is_launcher_process():
        return Run(Path(inherited))
    if not is_launcher_process():  # the first process of another node: node 0 makes the directory
        return Run(_shared_dir(cfg))
    if cfg.resume:
        run = Run.of_checkpoint(cfg.resume)
        if run is not None:
            (run.dir / FINISHED_FILE).unlink(missing_ok=True)
            atomic_write_text(
                run.dir / f"config.resume-{time.strftime('%Y%m%d-%H%M%S')}.yaml", OmegaConf.to_yaml(cfg, resolve=True)
            )
            os.environ[RUN_DIR_ENV] = str(run.dir)
            return run
    run = Run(_new_dir(cfg))
    run.dir.mkdir(parents=True, exist_ok=False)
    atomic_write_text(run.config_path, OmegaConf.to_yaml(cfg, resolve=True))
    os.environ[RUN_DIR_ENV] = str(run.dir)
    return run
