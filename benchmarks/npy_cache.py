"""The cache of resized photos as it was before it was packed (up to commit 398bea2), kept as the baseline that
``benchmarks`` measures the packed cache against, side by side in one run.

A faithful copy of that path's work per crop: the entry's name from a hash of the photo's resolved path, size and
modification time (one ``stat``), ``np.load`` of the whole resized photo from its own ``.npy`` file, a
``torch.Generator`` seeded for the item, the crop and flip as copies, then the DataLoader stacks the items.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from colorize.data.crops import EpochSampler, collate_crops
from colorize.data.resized import ResizedImages


def entry_path(folder: Path, photo: Path, size: int) -> Path:
    stat = photo.stat()
    key = f"1|{photo.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{size}"
    digest = hashlib.sha1(key.encode()).hexdigest()
    return folder / digest[:2] / f"{digest}.npy"


def write_npy_cache(resized: ResizedImages, folder: Path) -> None:
    """One ``.npy`` per photo of ``resized`` (a folder source), as the old cache held them."""
    assert resized.paths is not None
    for index, photo in enumerate(resized.paths):
        entry = entry_path(folder, photo, resized.size)
        entry.parent.mkdir(parents=True, exist_ok=True)
        np.save(entry, resized.load(index).numpy(), allow_pickle=False)


class NpyCrops(Dataset):
    def __init__(self, photos: list[Path], folder: Path, size: int, crop_size: int, seed: int = 0) -> None:
        self.photos, self.folder, self.size, self.crop_size, self.seed = photos, folder, size, crop_size, seed

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, item: tuple[int, int]) -> tuple[Tensor, list[str]]:
        index, epoch = item
        generator = torch.Generator().manual_seed(((self.seed * 1_000_003 + epoch) * 1_000_003 + index) % 2**63)
        image = torch.from_numpy(np.load(entry_path(self.folder, self.photos[index], self.size)))
        size = self.crop_size
        height, width = image.shape[-2:]
        top = int(torch.randint(0, height - size + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - size + 1, (1,), generator=generator))
        crop = image[..., top : top + size, left : left + size]
        if torch.rand((), generator=generator) < 0.5:
            crop = crop.flip(-1)
        return crop.contiguous(), []


def npy_loader(resized: ResizedImages, folder: Path, batch_size: int, crop_size: int, workers: int) -> DataLoader:
    """The old cache's training loader, with the project loader's settings."""
    assert resized.paths is not None
    dataset = NpyCrops(resized.paths, folder, resized.size, crop_size)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochSampler(dataset),
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        collate_fn=collate_crops,
    )
