"""Export a trained colorizer for use without PyTorch: ``python -m colorize.export CKPT [--format onnx]``.

Writes ``runs/<run>/export/<checkpoint>.onnx`` (or ``--out``), and beside it ``onnx_predict.py`` with the ``portable.py``
it imports, which colorize a photo with onnxruntime, numpy and Pillow only (see :mod:`colorize.inference.export`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from colorize import cli


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser("colorize.export", __doc__.split("\n")[0])
    parser.add_argument("--format", default="onnx", type=str.lower, help="onnx (the only format so far)")
    parser.add_argument("--out", help="the file to write (default: runs/<run>/export/<checkpoint>.onnx)")
    parser.add_argument("--size", type=int, help="working size recorded for onnx_predict (default: the run's crop size)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing export")
    cli.add_temperature(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    def command() -> int:
        from colorize.inference.export import export

        out = export(
            Path(args.checkpoint), Path(args.out) if args.out else None, args.format, args.size, args.overwrite, args.temperature
        )
        print(f"wrote {out}, and {out.parent / 'onnx_predict.py'} with the portable.py it imports")
        print(f"colorize a photo without PyTorch: python {out.parent / 'onnx_predict.py'} {out} photo.jpg colour.png")
        return 0

    return cli.run(command)


if __name__ == "__main__":
    sys.exit(main())
