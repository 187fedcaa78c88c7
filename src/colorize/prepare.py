"""Fill the cache of resized photos ahead of training (see :mod:`colorize.data.resized`), or write a streaming data set
(see :mod:`colorize.data.sources.streaming`).

``python -m colorize.prepare data=folder data.root=~/photos data.prepare_size=288 data.cache_dir=~/photos-cache``
``python -m colorize.prepare data=folder data.root=~/photos data.prepare_size=288 data.stream_to=s3://bucket/photos``

Give it the same ``data.*`` settings as the runs that will use the cache. Photos already cached are
skipped, so running it again after adding photos does only the new ones. The photos are only read.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from omegaconf import DictConfig

from colorize import cli
from colorize.config import cli_config
from colorize.data import get_source


def stream_summary(report, data: DictConfig) -> str:
    if report.up_to_date:
        return f"{report.root}: up to date (same images and settings); nothing written"
    counts = ", ".join(f"{n} {split}" for split, n in report.written.items())
    size = f"shorter side {data.prepare_size} px" if data.prepare_size else "full size"
    encoding = f"JPEG quality {data.stream_quality}" if data.stream_encoding == "jpeg" else "raw uint8"
    restarted = " (an interrupted prepare's leftovers were removed first)" if report.restarted else ""
    return (
        f"{report.root}: wrote {counts} image(s), {size}, {encoding}{restarted}; {len(report.unreadable)} unreadable "
        f"skipped. Train with: data=streaming data.root={report.root}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)

    def command() -> int:
        cfg = cli_config(argv, "colorize.prepare")
        get_source(cfg.data.source).check(cfg.data)  # a missing folder is told before torch is imported
        from colorize.data.prepare import prepare

        report = prepare(cfg.data)
        if cfg.data.stream_to:
            print(stream_summary(report, cfg.data))
        else:
            print(
                f"{cfg.data.cache_dir}: resized {report.written} photo(s) to a shorter side of {cfg.data.prepare_size} px; "
                f"{report.cached} were already cached"
            )
        for reason in report.unreadable:
            print(f"unreadable: {reason}", file=sys.stderr)
        return 0

    return cli.run(command)


if __name__ == "__main__":
    sys.exit(main())
