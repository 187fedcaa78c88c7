"""Fill the cache of resized photos ahead of training (see :mod:`colorize.resized`).

``python -m colorize.prepare data=folder data.root=~/photos data.prepare_size=288 data.cache_dir=~/photos-cache``

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


def prepare(cfg: DictConfig) -> CacheReport:
    """Fill the cache (a progress bar shows on a terminal); what was written, found, and could not be read."""
    data = cfg.data
    if data.source != "folder" or not data.prepare_size or not data.cache_dir:
        raise UserError(
            "prepare fills the cache of a photo folder: give data=folder data.root=PATH data.prepare_size=SIZE "
            "data.cache_dir=PATH, the same as for the runs that will use it."
        )
    datamodule = ColorizationDataModule(data)
    datamodule.setup("fit")  # resizes into the cache whatever photos it lacks
    report = CacheReport()
    for source in (datamodule.train_set.source, datamodule.val_set.source):
        report.written += source.report.written
        report.cached += source.report.cached
        report.unreadable += source.report.unreadable
    return report


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cfg = cli_config(argv, "colorize.prepare")
    try:
        report = prepare(cfg)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"{cfg.data.cache_dir}: resized {report.written} photo(s) to a shorter side of {cfg.data.prepare_size} px; "
        f"{report.cached} were already cached"
    )
    for reason in report.unreadable:
        print(f"unreadable: {reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
