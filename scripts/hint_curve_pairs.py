"""Two folders of runs trained with hints, compared at each hint count of their evaluations' hint curves: for each space
and metric, A − B paired by seed and photo, with its 95% interval (colorize.reports.statistics). Where compare states
what hints add to one model, this says which model is ahead at each count, e.g. whether a smaller gain from hints is a
weaker hint path or a better start. Runs pair by space and seed; both evaluated on the same photos.
Usage: python scripts/hint_curve_pairs.py RUNS_A RUNS_B [COUNT ...]   (default counts: 0 10 100)
"""

from __future__ import annotations

import sys

from colorize.metrics import METRIC_GOALS, METRIC_LABELS
from colorize.reports.hint_curves import hint_evaluation
from colorize.reports.statistics import paired_bootstrap
from colorize.reports.tables import interval_text, row_name
from colorize.runs import find_runs

METRICS = ("psnr", "delta_e")


def curves(root: str) -> dict[tuple[str, int], dict]:
    """(space, seed) -> its newest evaluation's photo scores, for each run of ``root`` with a hint curve."""
    found = {}
    for run in find_runs(root):
        report = hint_evaluation(run, [])
        if report is not None and "photo_scores" in report:
            found[run.space, run.seed] = report["photo_scores"]
    return found


def main(root_a: str, root_b: str, counts: list[int]) -> None:
    a, b = curves(root_a), curves(root_b)
    print(f"A: {root_a}; B: {root_b}. A − B, paired by seed and photo.\n")
    print(f"| space | seeds × photos | hints | {' | '.join(METRIC_LABELS[m] for m in METRICS)} |")
    print("|" + "---|" * (3 + len(METRICS)))
    for space in sorted({space for space, _ in a}):
        seeds = sorted(seed for s, seed in a if s == space and (s, seed) in b)
        if not seeds or any(a[space, s]["ids"] != b[space, s]["ids"] for s in seeds):
            print(f"| {space} | – | – | not paired: no common seed, or other photos |")
            continue
        for count in counts:
            rows = [(a[space, s]["rows"][row_name(count)], b[space, s]["rows"][row_name(count)]) for s in seeds]
            shown = []
            for metric in METRICS:
                c = paired_bootstrap(
                    [x[metric] for x, _ in rows], [y[metric] for _, y in rows], goal=METRIC_GOALS[metric], metric=metric
                )
                shown.append(interval_text(c))
                size = f"{c.seeds} × {c.photos}"
            print(f"| {space} | {size} | {count} | {' | '.join(shown)} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], [int(n) for n in sys.argv[3:]] or [0, 10, 100])
