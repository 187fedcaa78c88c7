"""Each model x space (and variant) of a folder of runs against grey, on the photos of the runs' own evaluations: the
paired difference over seeds and photos, with its 95% interval (colorize.reports.statistics), on ΔE2000 and PSNR.

Grey (L with zero chroma) is the floor a colorizer must beat; an evaluation scores it on the same photos as the run.
Usage: python scripts/against_grey.py RUNS_DIR
"""

from __future__ import annotations

import sys

import numpy as np

from colorize.metrics import METRIC_GOALS, METRIC_LABELS
from colorize.reports.evaluation import model_row_name, photo_evaluations
from colorize.reports.statistics import paired_bootstrap
from colorize.reports.tables import group_cells, interval_text
from colorize.runs import find_runs

METRICS = ("delta_e", "psnr")


def main(root: str) -> None:
    notes: list[str] = []
    print(f"| model | space | seeds × photos | {' | '.join(f'{METRIC_LABELS[m]}: model − grey' for m in METRICS)} |")
    print("|" + "---|" * (3 + len(METRICS)))
    for cell in group_cells(find_runs(root)):
        reports = [found[0][1] for found in (photo_evaluations(run, notes) for run in cell.runs) if found]
        if len(reports) < len(cell.runs) or len({tuple(r["photo_scores"]["ids"]) for r in reports}) != 1:
            notes.append(f"{cell.name}: not every run is evaluated on the same photos; left out.")
            continue
        rows = [r["photo_scores"]["rows"] for r in reports]
        shown = []
        for metric in METRICS:
            model = [row[model_row_name(r["model"], r["space"])][metric] for row, r in zip(rows, reports, strict=True)]
            grey = [row["grey"][metric] for row in rows]
            c = paired_bootstrap(np.array(model), np.array(grey), goal=METRIC_GOALS[metric], metric=metric)
            shown.append(f"{interval_text(c)}, P(better) {c.p_better:.2f}")
            size = f"{c.seeds} × {c.photos}"
        print(f"| {cell.family} | {cell.space} | {size} | {' | '.join(shown)} |")
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main(sys.argv[1])
