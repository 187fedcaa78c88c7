"""The run directory: one folder under ``runs/`` per training run, holding everything it made.

runs/<name>/
  config.yaml          the resolved config (config.resume-*.yaml for each resume)
  checkpoints/         best-*.ckpt (by cfg.monitor) and last.ckpt
  metrics.csv          every logged metric
  samples/             validation sample grids, one PNG per epoch
  wandb/               the W&B run (offline runs upload later with `wandb sync`)
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from colorize.files import atomic_write_text
from colorize.options import ConfigError

# Set by the launching process so that DDP processes it spawns write to the same run directory.
RUN_DIR_ENV = "COLORIZE_RUN_DIR"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.csv"
EVALUATION_DIR = "evaluation"  # evaluate's reports of a run's checkpoints, one folder each


@dataclass
class Run:
    dir: Path

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


def is_launcher_process() -> bool:
    """False in the extra processes that DDP starts (they inherit the launcher's run directory), and in every process
    but the first of a job launched by torchrun, srun or one command per node."""
    return all(os.environ.get(v, "0") == "0" for v in ("LOCAL_RANK", "NODE_RANK", "RANK", "SLURM_PROCID"))


def run_dir_of_checkpoint(checkpoint: str | Path) -> Path | None:
    """The run directory a checkpoint belongs to, if it lies in one."""
    candidate = Path(checkpoint).resolve().parent.parent
    return candidate if (candidate / CONFIG_FILE).is_file() else None


def saved_config(checkpoint: str | Path) -> DictConfig | None:
    run_dir = run_dir_of_checkpoint(checkpoint)
    if run_dir is None:
        return None
    return OmegaConf.load(run_dir / CONFIG_FILE)  # type: ignore[return-value]


def is_run_dir(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() and ((path / METRICS_FILE).is_file() or (path / "checkpoints").is_dir())


def find_run_dirs(root: str | Path) -> list[Path]:
    """Every run directory at or below ``root`` (W&B's own folders are not searched), sorted by path."""
    root = Path(root).expanduser()
    candidates = [root, *(p.parent for p in root.rglob(CONFIG_FILE) if "wandb" not in p.relative_to(root).parts)]
    return [run_dir for run_dir in sorted(set(candidates)) if is_run_dir(run_dir)]


def best_checkpoint(run_dir: Path) -> Path | None:
    """A run's best checkpoint, else its last.ckpt, else None."""
    checkpoints = run_dir / "checkpoints"
    best = sorted(checkpoints.glob("best-*.ckpt"))
    if best:
        return best[-1]
    last = checkpoints / "last.ckpt"
    return last if last.is_file() else None


def _new_dir(cfg: DictConfig) -> Path:
    root = Path(os.path.expanduser(cfg.runs_dir))
    if cfg.name:
        path = root / cfg.name
        if path.exists():
            raise ConfigError(
                f"The run directory {path} already exists. Choose another name=..., "
                f"or continue that run with resume={path}/checkpoints/last.ckpt."
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
    existing = run_dir_of_checkpoint(cfg.resume) if cfg.resume else None
    if existing is not None:
        return existing
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
        existing = run_dir_of_checkpoint(cfg.resume)
        if existing is not None:
            run = Run(existing)
            atomic_write_text(
                existing / f"config.resume-{time.strftime('%Y%m%d-%H%M%S')}.yaml", OmegaConf.to_yaml(cfg, resolve=True)
            )
            os.environ[RUN_DIR_ENV] = str(run.dir)
            return run
    run = Run(_new_dir(cfg))
    run.dir.mkdir(parents=True, exist_ok=False)
    atomic_write_text(run.config_path, OmegaConf.to_yaml(cfg, resolve=True))
    os.environ[RUN_DIR_ENV] = str(run.dir)
    return run
