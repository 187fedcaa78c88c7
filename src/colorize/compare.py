"""Compare runs: ``python -m colorize.compare RUNS_DIR [--out REPORT_DIR] [--wandb]``.

Reads every run directory below RUNS_DIR from disk (config.yaml, metrics.csv, checkpoints; no W&B server needed) and
writes a report to REPORT_DIR: report.md (the table of every model x space with mean ± std over seeds beside the grey
and round-trip reference rows; the verdict, which space for each family and which family in each space, as paired
differences over seeds and photos with 95% intervals, the probability of improvement and Holm's correction, from the
runs' evaluations on held-out photos where every run has one, else from the validation crops; warnings; figures),
table.csv, runs.csv, verdict.csv and verdict.json, photo_scores.csv, learning curves, bar charts and an image sheet;
for models that take local hints, their hint curves (from evaluate) and a hint sheet (the first validation crop, or
``--hint-sheet PHOTO``, with 0, 1, 5 and 20 hints). See :mod:`colorize.reports.comparison`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from colorize import cli


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser("colorize.compare", __doc__.split("\n")[0], checkpoint=False)
    parser.add_argument("runs", help="a folder of run directories, e.g. runs/ or runs/<sweep>")
    parser.add_argument("--out", default="report", help="where to write the report (default: report/)")
    parser.add_argument("--sheet-images", type=int, default=6, help="validation crops in the image sheet")
    parser.add_argument(
        "--wandb", action="store_true", help="also log the table and the verdict to W&B (offline without an API key)"
    )
    parser.add_argument(
        "--no-fid", dest="fid", action="store_false", help="leave FID out (seconds a crop and run on a CPU; it says first)"
    )
    parser.add_argument(
        "--hint-sheet",
        metavar="PHOTO",
        help="draw hint_sheet.png on this photo (scaled as evaluate scales it) rather than on the first validation crop",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    def command() -> int:
        from colorize.metrics import METRIC_LABELS
        from colorize.reports.comparison import compare
        from colorize.reports.tables import format_value, metric_title

        comparison = compare(
            args.runs, args.out, args.sheet_images, args.device, args.wandb, args.fid, args.hint_sheet, say=print
        )
        for row in comparison.rows:
            values = "  ".join(
                f"{metric_title(m)} {format_value(m, row[f'{m}_mean'])}"
                for m in comparison.metrics
                if row[f"{m}_mean"] is not None
            )
            print(f"{row['model']:>16} {row['space']:<4} {values}")
        verdict = comparison.verdict
        if verdict is not None and verdict.table is not None and verdict.scores is not None:
            detected = [v.sentence(METRIC_LABELS.get(v.comparison.metric)) for v in verdict.table.verdicts if v.rejected]
            print(
                f"verdict, from scores per photo of the {verdict.scores.source}: {len(detected)} of "
                f"{len(verdict.table.verdicts)} comparisons detect a difference (Holm, α = {verdict.table.alpha:g})"
                + "".join(f"\n  {sentence}" for sentence in detected)
            )
        for note in comparison.notes:
            print(f"note: {note}")
        print(f"wrote {comparison.out / 'report.md'}")
        return 0

    return cli.run(command)


if __name__ == "__main__":
    sys.exit(main())
