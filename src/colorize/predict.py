"""Colorize your own photos and videos: ``python -m colorize.predict CKPT INPUT OUTPUT [--side-by-side]``.

INPUT is a photo, a video or a folder of them (searched recursively). OUTPUT is a file when it has an image suffix
(a video suffix, for a video) and INPUT is one photo (video): ``colour.png``; otherwise a folder, where each result
keeps the input's relative path, as PNG (or in the input's own format with ``--format same``). Photos of any size and
format, colour or grayscale, are read upright (EXIF orientation applied); only their lightness is used. Videos are
made temporally stable (``colorize.inference.temporal``). Inputs are never written to; existing outputs are skipped,
and said so, unless ``--overwrite`` is given. ``--hints hints.json`` gives colour hints at points of one photo, and
``--reference photo.jpg`` a photo whose colours the results should have (``docs/inference.md``), to a model trained to
take them (``model.hints``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from colorize import cli


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser("colorize.predict", __doc__.split("\n")[0])
    parser.add_argument("input", help="a photo, a video, or a folder of them (searched recursively)")
    parser.add_argument("output", help="a file (for one photo or video: colour.png) or a folder to write the results to")
    parser.add_argument(
        "--size", type=int, help="shorter side, in pixels, at which chroma is predicted (default: the run's crop size, else 256)"
    )
    parser.add_argument(
        "--side-by-side", action="store_true", help="also write the grey and colour versions of photos side by side"
    )
    parser.add_argument(
        "--format", choices=("png", "same"), default="png", help="photos in a folder: png, or the input's own format"
    )
    parser.add_argument(
        "--no-stabilize",
        dest="stabilize",
        action="store_false",
        help="videos: colorize each frame on its own, without temporal stabilisation (flickers)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that already exist (never inputs)")
    parser.add_argument(
        "--hints", type=Path, help="a hints file: colours at points of the one INPUT photo (for a model trained with hints)"
    )
    parser.add_argument(
        "--reference", type=Path, help="a photo whose colours every result should take on (a model trained with global hints)"
    )
    cli.add_temperature(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    def command() -> int:
        from colorize.inference.planning import job_hints, plan_jobs

        # Paths and the hints file first: a problem with either is reported before torch is imported.
        jobs = plan_jobs(Path(args.input).expanduser(), Path(args.output).expanduser(), args.format, args.side_by_side)
        hints = job_hints(jobs, args.hints, args.reference)

        from colorize.inference.hinting import with_model
        from colorize.inference.loading import load_colorizer, resolve_device, working_size
        from colorize.inference.photos import predict

        colorizer = load_colorizer(args.checkpoint, resolve_device(args.device), args.temperature)
        size = working_size(args.checkpoint, args.size)
        hints = with_model(colorizer, hints, args.reference, size) if hints is not None else None
        report = predict(colorizer, jobs, size, overwrite=args.overwrite, stabilize=args.stabilize, hints=hints)
        done = len(jobs) - len(report.skipped) - len(report.failed)
        print(f"colorized {done} file(s) into {args.output} (chroma at {size} px)")
        if report.skipped:
            print(f"skipped {len(report.skipped)} file(s) whose outputs already exist (--overwrite replaces them)")
        for reason in report.failed:
            print(f"failed: {reason}", file=sys.stderr)
        return 1 if report.failed else 0

    return cli.run(command)


if __name__ == "__main__":
    sys.exit(main())
