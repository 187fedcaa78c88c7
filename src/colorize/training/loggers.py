"""Experiment loggers: their options (``logger.*``) and the table of kinds: W&B (online, or offline when no API key is
configured) beside the run's metrics.csv, the CSV file alone, or none.

If W&B cannot start a run (unreachable server, bad key, wrong entity...), training goes on
with the CSV log alone and says so once; it never waits longer than ``logger.init_timeout``.
Lightning and wandb are imported only when a logger is built.
"""

from __future__ import annotations

import logging
import netrc
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from omegaconf import DictConfig, OmegaConf

from colorize.files import atomic_write_text
from colorize.options import POSITIVE, option
from colorize.runs import Run, is_launcher_process

if TYPE_CHECKING:
    from lightning.pytorch.loggers import Logger, WandbLogger

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


def run_tags(cfg: DictConfig) -> list[str]:
    init = f"init:{cfg.model.init.partition(':')[0]}" if cfg.model.init else None  # random | hub | file
    return [t for t in (cfg.model.name, cfg.space.name, f"data:{cfg.data.source}", init) if t] + list(cfg.logger.tags)


def wandb_settings(logger_cfg: Any) -> Any:
    import wandb

    # A saved config from before logger.init_timeout existed has no such key. quiet: no run history and summary
    # printed at the end (the run directory and the checkpoint line say what a user acts on).
    return wandb.Settings(init_timeout=logger_cfg.get("init_timeout") or LoggerConfig.init_timeout, quiet=True)


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
        from lightning.pytorch.utilities import rank_zero_info

        rank_zero_info(
            "W&B: no API key configured, so this run logs offline to "
            f"{run.dir / 'wandb'}. Upload it later with: wandb sync {run.dir / 'wandb'}/offline-run-*"
        )
    from lightning.pytorch.loggers import WandbLogger

    logger = WandbLogger(
        project=cfg.logger.project,
        entity=cfg.logger.entity,
        group=f"{cfg.model.name}-{cfg.space.name}",
        name=run.name,
        id=run_id,
        resume="allow",
        tags=run_tags(cfg),
        config=OmegaConf.to_container(cfg, resolve=True),
        job_type="train",
        save_dir=str(run.dir),
        mode=mode,
        settings=wandb_settings(cfg.logger),
    )
    logger._wandb_init.pop("anonymous", None)  # Lightning always passes it, and wandb warns that it has no effect
    try:
        _ = logger.experiment  # start the run now, so that a failure is handled here rather than mid-training
    except Exception as e:  # wandb raises its own errors, timeouts, OS errors...
        log.warning("%s Training goes on without it; metrics are still written to %s.", wandb_problem(e), run.dir / "metrics.csv")
        return None
    return logger


def csv_loggers(cfg: DictConfig, run: Run) -> list[Logger]:
    from colorize.training.csv_logger import RunCSVLogger

    return [RunCSVLogger(run.dir)]


def wandb_loggers(cfg: DictConfig, run: Run) -> list[Logger]:
    """W&B beside the CSV file. Only the first process of node 0 starts the W&B run: before the Trainer sets it up,
    Lightning takes the first process of another node for rank 0 (it reads RANK and LOCAL_RANK, not NODE_RANK)."""
    wandb_logger = build_wandb_logger(cfg, run) if is_launcher_process() else None
    return csv_loggers(cfg, run) + ([wandb_logger] if wandb_logger is not None else [])


# logger=<kind>: the loggers of a run.
LOGGERS: dict[str, Callable[[DictConfig, Run], list[Logger]]] = {
    "wandb": wandb_loggers,
    "csv": csv_loggers,
    "none": lambda cfg, run: [],
}


@dataclass
class LoggerConfig:
    kind: str = option("wandb", choices=LOGGERS)
    project: str = "colorize"
    entity: str | None = None
    # None: online when an API key is configured, else offline.
    mode: str | None = option(None, choices=("online", "offline", "disabled"))
    tags: list[str] = option(factory=list)
    init_timeout: float = option(30.0, POSITIVE)  # seconds to wait for W&B to start a run before training goes on without it


def build_loggers(cfg: DictConfig, run: Run) -> list[Logger]:
    return LOGGERS[cfg.logger.kind](cfg, run)
