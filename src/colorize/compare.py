"""Compare runs: ``python -m colorize.compare RUNS_DIR [--out REPORT_DIR] [--wandb]``.

Reads every run directory below RUNS_DIR from disk (config.yaml, metrics.csv, checkpoints; no W&B server needed) and
writes a report to REPORT_DIR: report.md (the table of every model x space with mean ± std over seeds beside the grey
and round-trip reference rows, the colour-space verdict, warnings, figures), table.csv, runs.csv, learning curves, bar
charts and an image sheet; for models that take local hints, their hint curves (from evaluate) and a hint sheet (the
first validation crop, or ``--hint-sheet PHOTO``, with 0, 1, 5 and 20 hints). See :mod:`colorize.reports.comparison`.
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
    parser.add_argument("--wandb", action="store_true", help="also log the table to W&B (offline without an API key)")
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
        for note in comparison.notes:
            print(f"note: {note}")
        print(f"wrote {comparison.out / 'report.md'}")
        return 0

    return cli.run(command)


if __name__ == "__main__":
    sys.exit(main())
