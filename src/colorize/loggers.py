"""Experiment loggers: W&B (online, or offline when no API key is configured) and a CSV file.

If W&B cannot start a run (unreachable server, bad key, wrong entity...), training goes on
with the CSV log alone and says so once; it never waits longer than ``logger.init_timeout``.
"""

from __future__ import annotations

import csv
import io
import logging
import netrc
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig

from colorize.config import LoggerConfig, to_dict
from colorize.files import NO_SPACE, atomic_write_text, disk_full_error
from colorize.runs import Run, is_launcher_process

log = logging.getLogger(__name__)


def wandb_api_key_configured() -> bool:
    """Whether wandb will find credentials: $WANDB_API_KEY, or a `wandb login` entry in ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def wandb_mode(logger_cfg: Any) -> str:
    """online | offline | disabled: the config's choice, else $WANDB_MODE, else by whether a key exists."""
    if logger_cfg.mode:
        return logger_cfg.mode
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    return "online" if wandb_api_key_configured() else "offline"


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing metrics.csv, and rewrites it in place when a new column
    appears (a kill then loses the history). This one appends across resumes, rewrites atomically, and
    on a failed append (a full disk) cuts the file back to its last complete row."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r") as f:
                header = f.readline().strip()
            self.metrics_keys = header.split(",") if header else []

    def save(self) -> None:
        if not self.metrics:
            return
        path = Path(self.metrics_file_path)
        if self._record_new_keys() or not path.is_file():
            rows = []
            if path.is_file():
                with open(path, newline="") as f:
                    rows = list(csv.DictReader(f))
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=self.metrics_keys)
            writer.writeheader()
            writer.writerows([*rows, *self.metrics])
            atomic_write_text(path, text.getvalue())
        else:
            size = path.stat().st_size
            try:
                with open(path, "a", newline="") as f:
                    csv.DictWriter(f, fieldnames=self.metrics_keys).writerows(self.metrics)
            except OSError as e:
                os.truncate(path, size)
                if e.errno in NO_SPACE:
                    raise disk_full_error(path, e) from e
                raise
        self.metrics = []


class RunCSVLogger(CSVLogger):
    """Writes ``metrics.csv`` straight into the run directory, appending across resumes."""

    def __init__(self, run_dir: str | Path) -> None:
        super().__init__(save_dir=str(run_dir), name="", version="")

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


def run_tags(cfg: DictConfig) -> list[str]:
    init = f"init:{cfg.model.init.partition(':')[0]}" if cfg.model.init else None  # random | hub | file
    return [t for t in (cfg.model.name, cfg.space.name, f"data:{cfg.data.source}", init) if t] + list(cfg.logger.tags)


def wandb_settings(logger_cfg: Any) -> Any:
    import wandb

    # A saved config from before logger.init_timeout existed has no such key.
    return wandb.Settings(init_timeout=logger_cfg.get("init_timeout") or LoggerConfig.init_timeout)


def wandb_problem(error: Exception) -> str:
    """Why W&B could not start a run, in one line, and what to check."""
    reason = (str(error).strip().splitlines() or [""])[0]
    return (
        f"W&B could not start a run ({type(error).__name__}: {reason}). Check WANDB_API_KEY, WANDB_BASE_URL and "
        "logger.entity, or use logger.mode=offline or logger=csv."
    )


def build_wandb_logger(cfg: DictConfig, run: Run) -> WandbLogger | None:
    """The W&B logger with its run started, or None (and one warning) if W&B cannot start one."""
    mode = wandb_mode(cfg.logger)
    id_file = run.dir / "wandb_id"
    if id_file.is_file():
        run_id = id_file.read_text().strip()
    else:
        run_id = uuid.uuid4().hex[:12]
        atomic_write_text(id_file, run_id)
    if mode == "offline":
        rank_zero_info(
            "W&B: no API key configured, so this run logs offline to "
            f"{run.dir / 'wandb'}. Upload it later with: wandb sync {run.dir / 'wandb'}/offline-run-*"
        )
    logger = WandbLogger(
        project=cfg.logger.project,
        entity=cfg.logger.entity,
        group=f"{cfg.model.name}-{cfg.space.name}",
        name=run.name,
        id=run_id,
        resume="allow",
        tags=run_tags(cfg),
        config=to_dict(cfg),
        job_type="train",
        save_dir=str(run.dir),
        mode=mode,
        settings=wandb_settings(cfg.logger),
    )
    try:
        _ = logger.experiment  # start the run now, so that a failure is handled here rather than mid-training
    except Exception as e:  # wandb raises its own errors, timeouts, OS errors...
        log.warning("%s Training goes on without it; metrics are still written to %s.", wandb_problem(e), run.dir / "metrics.csv")
        return None
    return logger


def build_loggers(cfg: DictConfig, run: Run) -> list[Logger]:
    if cfg.logger.kind == "none":
        return []
    loggers: list[Logger] = [RunCSVLogger(run.dir)]
    # Only the first process of node 0 starts the W&B run: before the Trainer sets it up, Lightning takes the
    # first process of another node for rank 0 (it reads RANK and LOCAL_RANK, not NODE_RANK).
    if cfg.logger.kind == "wandb" and is_launcher_process() and (wandb_logger := build_wandb_logger(cfg, run)) is not None:
        loggers.append(wandb_logger)
    return loggers
