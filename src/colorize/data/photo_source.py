"""A source of photos: what every such source (sample, folder, torchvision, ...) makes from its photos alone.

A subclass implements :meth:`~colorize.data.registry.DataSource.photos`; its photos are resized to
``data.prepare_size`` (:mod:`colorize.data.resized`), cropped and flipped by the shared crop machinery
(:mod:`colorize.data.crops`), and batched in an order that resumes exactly. torch is imported when it is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from colorize.data.registry import DataError, DataSource, Photos

if TYPE_CHECKING:
    from torch.utils.data import DataLoader, Dataset


class PhotoSource(DataSource):
    def splits(self, cfg: Any) -> tuple[Photos, Photos]:
        from colorize.data.resized import ResizedImages, check_prepare_size

        train, val = self.photos(cfg)
        if not cfg.prepare_size:
            return train, val
        check_prepare_size(cfg)
        return ResizedImages(train, cfg.prepare_size), ResizedImages(val, cfg.prepare_size)

    def datasets(self, cfg: Any, seed: int) -> tuple[Dataset, Dataset]:
        from colorize.data.crops import CropDataset

        train, val = self.splits(cfg)
        bad = cfg.on_bad_file
        train_set = CropDataset(
            train, cfg.crop_size, cfg.train_crops_per_image, cfg.hflip, seed, bad, self.describe(cfg, "training", train)
        )
        val_set = CropDataset(
            val, cfg.crop_size, cfg.val_crops_per_image, False, cfg.split_seed, bad, self.describe(cfg, "validation", val)
        )
        if len(val_set) == 0:
            raise DataError(f"data={self.name} has no validation images.")
        if len(train_set) < cfg.batch_size:
            raise DataError(
                f"Only {len(train_set)} training crop(s), fewer than one batch (data.batch_size={cfg.batch_size}). "
                "Add images, lower data.batch_size, or raise data.train_crops_per_image."
            )
        return train_set, val_set

    def describe(self, cfg: Any, split: str, photos: Photos) -> str:
        """A split for a message: e.g. "the validation split (1 file, chosen by data.val_fraction)"."""
        count = f"{len(photos)} file{'' if len(photos) == 1 else 's'}"
        return f"the {split} split ({count}, chosen by {self.chosen_by(cfg, split)})"

    def chosen_by(self, cfg: Any, split: str) -> str:
        """What chose the photos of ``split`` ("training" or "validation"): the source, or the option that did."""
        return f"data={self.name}"

    def train_loader(self, dataset: Dataset, cfg: Any, replicas: int, rank: int, epoch: int, start: int) -> DataLoader:
        from colorize.data.crops import EpochSampler, crop_loader

        return crop_loader(dataset, cfg, EpochSampler(dataset, replicas, rank, dataset.seed, epoch, start))

    def val_loader(self, dataset: Dataset, cfg: Any) -> DataLoader:
        from colorize.data.crops import crop_loader

        return crop_loader(dataset, cfg)
