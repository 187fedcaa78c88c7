"""A browser demo: ``python -m colorize.demo CKPT [CKPT ...] [--runs runs/<sweep>]``.

Opens a local web page (Gradio) where you upload photos and see, side by side, the grey input, each
model's colorization (labelled with model, space and run) and the original, with ΔE2000 and colourfulness against a
colour photo, and full-resolution downloads (see :mod:`colorize.inference.demo`). Models trained with colour hints
recolour as you click the first photo to place a hint of a chosen colour, or give a reference photo. Each checkpoint
is loaded once, on the GPU if there is one. The server listens on 127.0.0.1 unless ``--host`` or ``--share`` says otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from colorize import cli


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser("colorize.demo", __doc__.split("\n")[0], checkpoint=False)
    parser.add_argument("checkpoints", nargs="*", help="colorize checkpoints, e.g. runs/<run>/checkpoints/best-*.ckpt")
    parser.add_argument("--runs", action="append", default=[], help="a sweep's folder (or a run): each run's best checkpoint")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="also publish a temporary public link through Gradio")
    parser.add_argument("--max-megapixels", type=float, default=50.0, help="larger uploads are refused (default 50)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    def command() -> int:
        from colorize.inference.demo import serve

        checkpoints = [Path(p) for p in args.checkpoints]
        serve(checkpoints, args.runs, args.host, args.port, args.share, args.device, int(args.max_megapixels * 1_000_000))
        return 0

    return cli.run(command)


if __name__ == "__main__":
    sys.exit(main())
