"""What finished runs left on disk, read back without a W&B server: config, metric history, final metrics.

A run directory (see :mod:`colorize.runs`) holds ``config.yaml`` and, unless it ran with
``logger=none``, ``metrics.csv``. A resumed run appends to metrics.csv and may log a step
again; the last value logged for a metric at a step wins.

Final metrics of a run: the validation metrics of the evaluation at which its best checkpoint
was chosen, i.e. where ``cfg.monitor`` is best (the first such evaluation on a tie, as
``ModelCheckpoint`` keeps the first).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from colorize.checkpoints import upgrade_model_options
from colorize.runs import CONFIG_FILE, METRICS_FILE, best_checkpoint, find_run_dirs


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


@dataclass
class RunRecord:
    dir: Path
    config: DictConfig
    history: dict[int, dict[str, float]] = field(default_factory=dict)
    # Metrics of the best checkpoint that a report computed itself (e.g. LPIPS and FID, which training does not log).
    scored: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def model(self) -> str:
        return str(self.config.model.name)

    @property
    def space(self) -> str:
        return str(self.config.space.name)

    @property
    def cell(self) -> str:
        """The W&B group of the run: ``{model}-{space}``."""
        return f"{self.model}-{self.space}"

    @property
    def seed(self) -> int:
        return int(self.config.seed)

    @property
    def init(self) -> str:
        return str(self.config.model.get("init") or "unknown")

    def series(self, metric: str) -> list[tuple[int, float]]:
        return [(step, values[metric]) for step, values in self.history.items() if metric in values]

    def best_step(self) -> int | None:
        """The step of the evaluation whose ``cfg.monitor`` is best; None if the run never validated."""
        points = [(step, value) for step, value in self.series(self.config.monitor) if math.isfinite(value)]
        if not points:
            return None
        pick = min if self.config.monitor_mode == "min" else max
        best = pick(value for _, value in points)
        return next(step for step, value in points if value == best)

    def final_metrics(self) -> dict[str, float]:
        """The validation metrics (``val/...``) at :meth:`best_step`; empty if the run never validated."""
        step = self.best_step()
        if step is None:
            return {}
        logged = {k: v for k, v in self.history[step].items() if k.startswith("val/")}
        return logged | {f"val/{k}": v for k, v in self.scored.items()}

    def best_checkpoint(self) -> Path | None:
        return best_checkpoint(self.dir)


def find_runs(root: str | Path) -> list[RunRecord]:
    """Every run directory at or below ``root`` (W&B's own folders are not searched), sorted by path."""
    records = []
    for run_dir in find_run_dirs(root):
        config = OmegaConf.load(run_dir / CONFIG_FILE)
        if not isinstance(config, DictConfig) or "model" not in config or "space" not in config:
            continue
        config.model = OmegaConf.create(upgrade_model_options(OmegaConf.to_container(config.model)))
        metrics = run_dir / METRICS_FILE
        records.append(RunRecord(run_dir, config, read_history(metrics) if metrics.is_file() else {}))
    return records
