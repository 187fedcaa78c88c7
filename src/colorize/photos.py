"""Build a folder of real colour photos from Debian packages, with a fixed train/val split and a manifest.

make photos                      # data/photos/{train,val}/, manifest.json, copyright/ (the .deb files stay in data/debs/)
make photos-check                # data/photos-check/: photos from the reserved wallpaper packages, for evaluation only
python -m colorize.photos [--reserved] [--out DIR] [--debs DIR] [--max-side 384] [--quality 92]

Each package is fetched with `apt-get download` (nothing is installed; run `apt-get update` once if apt knows no such
package) and kept in the cache folder, so a second run needs no network. Its images are read straight from the
package's file tree, and from inside Qt .rcc archives. Dropped, and counted per package (thresholds in
colorize.data.photoset.filters): images that cannot be read; small ones (shorter side under 256 px); cut-outs
(transparent pixels: an object, not a scene); grey ones (black-and-white: low colourfulness); flat ones (drawings,
plain images: many pixels exactly equal to their neighbours); smooth ones (gradients: nearly all pixels within 1/255
of their neighbours); and copies of a larger image. Each kept photo is resized so that its shorter side is at most
--max-side and saved as a JPEG (4:4:4, so the chroma keeps full resolution).

A photo is in val/ when the hash in its name (of package and path) falls in the lowest tenth, so the split never
changes; a package with 5 or more photos and none so drawn gives val its photo of lowest hash. manifest.json lists
every photo (file, split, package and version, path inside it, licence, attribution, sizes, measures), every dropped
image and why, and per-package counts; copyright/ holds each package's copyright file. A file is written only when
its content changes; files that an earlier build wrote and that are no longer part of the set are removed; any
other file is left alone. See colorize.data.photoset.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from colorize import cli


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="python -m colorize.photos", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--reserved",
        action="store_true",
        help="build the independent-check set from the reserved wallpaper packages (out: data/photos-check)",
    )
    parser.add_argument("--out", type=Path, help="output folder (default: data/photos, or data/photos-check)")
    parser.add_argument("--debs", type=Path, help="cache of .deb files (default: debs/ beside the output folder)")
    parser.add_argument("--max-side", type=int, default=384, help="shorter side of a saved photo at most this (default 384)")
    parser.add_argument("--quality", type=int, default=92, help="JPEG quality, 1 to 100 (default 92)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.max_side < 32:
        parser.error(f"--max-side {args.max_side} is too small: give 32 or more")
    if not 1 <= args.quality <= 100:
        parser.error(f"--quality {args.quality} is out of range: give 1 to 100")
    out = args.out or Path("data/photos-check" if args.reserved else "data/photos")
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out} is a file, not a folder")

    from colorize.data.photoset.build import build, previous_manifest, summary
    from colorize.data.photoset.debian import PhotosError
    from colorize.data.photoset.packages import PACKAGES, RESERVED

    try:
        previous_manifest(out)
    except PhotosError as error:
        parser.error(str(error))

    def command() -> int:
        packages = RESERVED if args.reserved else PACKAGES
        result = build(packages, args.reserved, out, args.debs or out.parent / "debs", args.max_side, args.quality)
        print("\n".join(summary(result, args.reserved)))
        return 0

    return cli.run(command)


if __name__ == "__main__":
    sys.exit(main())
