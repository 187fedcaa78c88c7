"""Write scikit-image's sample photos into a folder, to try colorize's folder-based tools without photos of your own.

python scripts/export_sample_photos.py photos/
make predict CKPT=runs/<run>/checkpoints/last.ckpt INPUT=photos/ OUTPUT=colorized/
make train ARGS="data=folder data.root=photos/"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from colorize.data.sources.sample import SAMPLE_IMAGES, sample_photo


def export(out_dir: Path, names: list[str]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        path = out_dir / f"{name}.png"
        if path.exists():
            print(f"{path} exists; left as it is")
            continue
        Image.fromarray(sample_photo(name)).convert("RGB").save(path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--names", nargs="+", default=SAMPLE_IMAGES, help="which photos (default: the training sample)")
    args = parser.parse_args(argv)
    for path in export(args.out_dir, args.names):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
