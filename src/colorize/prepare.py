"""Fill the cache of resized photos ahead of training (see :mod:`colorize.resized`).

``python -m colorize.prepare data=folder data.root=~/photos data.prepare_size=288 data.cache_dir=~/photos-cache``

Give it the same ``data.*`` settings as the runs that will use the cache. Photos already cached are
skipped, so running it again after adding photos does only the new ones. The photos are only read.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from colorize.config import cli_config
from colorize.data import ColorizationDataModule, loader_workers
from colorize.errors import UserError
from colorize.images import ImageReadError
from colorize.resized import ResizedImages


@dataclass
class PrepareReport:
    written: int = 0
    cached: int = 0  # already in the cache
    unreadable: list[str] = field(default_factory=list)


class _CacheFiller(Dataset):
    """Item i: photo i put into the cache; yields "written", "cached" or why the photo cannot be read."""

    def __init__(self, resized: ResizedImages, photos: list[Path]) -> None:
        self.resized = resized
        self.photos = photos

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, index: int) -> str:
        try:
            _, made = self.resized.load_cached(self.photos[index])
        except ImageReadError as e:
            return str(e)
        return "written" if made else "cached"


def prepare(cfg: DictConfig, progress: bool = True) -> PrepareReport:
    data = cfg.data
    if data.source != "folder" or not data.prepare_size or not data.cache_dir:
        raise UserError(
            "prepare fills the cache of a photo folder: give data=folder data.root=PATH data.prepare_size=SIZE "
            "data.cache_dir=PATH, the same as for the runs that will use it."
        )
    datamodule = ColorizationDataModule(data)
    datamodule.setup("fit")
    sources = [datamodule.train_set.source, datamodule.val_set.source]
    photos = [photo for source in sources for photo in source.paths]
    workers = loader_workers(data.num_workers)
    loader = DataLoader(_CacheFiller(sources[0], photos), batch_size=None, num_workers=workers)
    report = PrepareReport()
    for outcome in tqdm(loader, total=len(photos), unit="photo", disable=not progress):
        if outcome == "written":
            report.written += 1
        elif outcome == "cached":
            report.cached += 1
        else:
            report.unreadable.append(outcome)
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
