"""The run's metrics.csv: Lightning's CSV logger, appending across resumes and safe against a full disk."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from colorize.files import NO_SPACE, atomic_write_text, disk_full_error


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
