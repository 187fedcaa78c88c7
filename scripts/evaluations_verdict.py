"""compare's verdict and hint gains over a folder of runs, from the runs' own evaluations alone (judge and
cell_hint_gains, as compare computes them), without compare's pass over the validation crops, its figures and sheets:
seconds instead of minutes. Usage: python scripts/evaluations_verdict.py RUNS_DIR > verdict.md
"""

from __future__ import annotations

import sys

from colorize.reports.tables import cell_hint_gains, group_cells, hint_gain_markdown
from colorize.reports.verdict import evaluated_scores, judge, verdict_markdown
from colorize.runs import find_runs


def main(root: str) -> None:
    records, notes = find_runs(root), []
    cells = group_cells(records)
    print(f"# Verdict over the runs' evaluations: {root}\n")
    print("Cells: " + "; ".join(f"{c.name} (seeds {', '.join(map(str, c.seeds))})" for c in cells) + "\n")
    print("\n".join(verdict_markdown(judge(cells, evaluated_scores(records, notes)))))
    gains = cell_hint_gains(cells, notes)
    if gains:
        print("\n## What 10 hints change against none\n\n" + hint_gain_markdown(gains) + "\n")
    for note in notes:
        print(f"- note: {note}")


if __name__ == "__main__":
    main(sys.argv[1])
