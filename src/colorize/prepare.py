"""Fill the cache of resized photos ahead of training (see :mod:`colorize.resized`), or write a streaming data set
(see :mod:`colorize.streaming`).

``python -m colorize.prepare data=folder data.root=~/photos data.prepare_size=288 data.cache_dir=~/photos-cache``
``python -m colorize.prepare data=folder data.root=~/photos data.prepare_size=288 data.stream_to=s3://bucket/photos``

Give it the same ``data.*`` settings as the runs that will use the cache. Photos already cached are
skipped, so running it again after adding photos does only the new ones. The photos are only read.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from omegaconf import DictConfig

from colorize.config import cli_config
from colorize.data import ColorizationDataModule
from colorize.errors import UserError
from colorize.resized import CacheReport
from colorize.streaming import StreamReport, write_stream


def prepare(cfg: DictConfig, progress: bool = True) -> CacheReport | StreamReport:
    """Fill the cache (a progress bar shows on a terminal), or with ``data.stream_to`` write a streaming data set;
    what was written, found, and could not be read."""
    data = cfg.data
    if data.stream_to:
        return prepare_stream(cfg, progress)
    if data.source != "folder" or not data.prepare_size or not data.cache_dir:
        raise UserError(
            "prepare fills the cache of a photo folder: give data=folder data.root=PATH data.prepare_size=SIZE "
            "data.cache_dir=PATH, the same as for the runs that will use it; or writes a streaming data set: "
            "give data.stream_to=PATH or URL."
        )
    datamodule = ColorizationDataModule(data)
    datamodule.setup("fit")  # resizes into the cache whatever photos it lacks
    report = CacheReport()
    for source in (datamodule.train_set.source, datamodule.val_set.source):
        report.written += source.report.written
        report.cached += source.report.cached
        report.unreadable += source.report.unreadable
    return report


def prepare_stream(cfg: DictConfig, progress: bool = True) -> StreamReport:
    """Write the configured source's train and val images, at ``data.prepare_size``, as a streaming data set."""
    if cfg.data.source == "streaming":
        raise UserError("data.stream_to writes a streaming data set from another source: data=folder, torchvision or sample.")
    datamodule = ColorizationDataModule(cfg.data)
    datamodule.setup("fit")
    return write_stream(cfg.data, (datamodule.train_set.source, datamodule.val_set.source), progress)


def stream_summary(report: StreamReport, data: DictConfig) -> str:
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
    cfg = cli_config(argv, "colorize.prepare")
    try:
        report = prepare(cfg)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if isinstance(report, StreamReport):
        print(stream_summary(report, cfg.data))
    else:
        print(
            f"{cfg.data.cache_dir}: resized {report.written} photo(s) to a shorter side of {cfg.data.prepare_size} px; "
            f"{report.cached} were already cached"
        )
    for reason in report.unreadable:
        print(f"unreadable: {reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
