"""Evaluate a checkpoint on a test set: ``python -m colorize.evaluate CKPT [--data FOLDER]``.

Test set: every photo in FOLDER (searched recursively), or by default the photos that the run held out for
validation. Each photo is scaled so that its shorter side is ``--eval-size`` pixels (never enlarged) and colorized as
``colorize.predict`` does it. Every row is scored by the same rules, in one common space, whatever space the model
works in: PSNR and SSIM on RGB, mean CIEDE2000 ΔE over pixels, colourfulness CF and ΔCF, LPIPS, and FID with the
number of images it compared (biased upwards below a few thousand; left out below two images, its cost said first on a
CPU); beside the reference rows ``grey`` (the floor) and each space's round trip (the ceiling; left out where it returns
every photo exactly). A model that takes local hints also gets its hint curve: PSNR, ΔE2000 and ΔCF with 0 to 100 hints
(:mod:`colorize.reports.hint_curves`). See :mod:`colorize.reports.evaluation`. Writes
``metrics.json`` (the tables, and every row's score on each photo) and ``photo_scores.csv`` (those scores, a line per row
and photo), and prints a table.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from colorize import cli
from colorize.config import load_config
from colorize.reports import DEFAULT_EVAL_SIZE


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser("colorize.evaluate", __doc__.split("\n")[0])
    parser.add_argument("--data", help="a folder of test photos (default: the photos the run held out)")
    parser.add_argument(
        "--out", help="folder for metrics.json and photo_scores.csv (default: <run>/evaluation/<checkpoint>-<test set>)"
    )
    parser.add_argument("--size", type=int, help="shorter side at which chroma is predicted (default: the run's crop size)")
    parser.add_argument(
        "--eval-size", type=int, default=DEFAULT_EVAL_SIZE, help="shorter side each test photo is scaled to; 0: native"
    )
    parser.add_argument(
        "--fid-weights", help="FID's Inception network, a TorchScript file (default: the one make weights installs)"
    )
    parser.add_argument(
        "--no-fid", dest="fid", action="store_false", help="leave FID out (seconds an image and row on a CPU; it says first)"
    )
    parser.add_argument(
        "--no-hint-curve",
        dest="hint_curve",
        action="store_false",
        help="leave out the hint curve of a model that takes local hints (it colorizes every photo 8 more times)",
    )
    cli.add_temperature(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    def command() -> int:
        from colorize.reports.evaluation import PHOTO_SCORES_CSV, evaluate, format_table
        from colorize.reports.hint_curves import format_curve

        report, path = evaluate(
            args.checkpoint,
            args.data,
            args.out,
            args.size,
            args.eval_size,
            args.fid_weights,
            args.device,
            load_config([]).data,
            args.fid,
            args.hint_curve,
            say=print,
            temperature=args.temperature,
        )
        test_set, protocol = report["test_set"], report["protocol"]
        decoded = f" (decoded at temperature {args.temperature:g})" if args.temperature is not None else ""
        print(
            f"{report['model']}-{report['space']}{decoded} on {test_set['images']} test image(s) at {protocol['eval_size']} px, "
            f"chroma predicted at {protocol['working_size']} px: {protocol['pixels']}"
        )
        print(f"input: {report['input_convention']}")
        print(format_table(report["rows"]))
        if "hint_curve" in report:
            print(format_curve(report["hint_curve"]))
        for note in report["notes"]:
            print(f"note: {note}")
        print(f"wrote {path} and {path.parent / PHOTO_SCORES_CSV} (each photo's scores)")
        return 0

    return cli.run(command)


if __name__ == "__main__":
    sys.exit(main())
