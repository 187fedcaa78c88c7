"""The baseline data pipeline: pix2pix's colorization dataset, as a researcher would otherwise use it.

A faithful copy of ``ColorizationDataset.__getitem__`` from junyanz/pytorch-CycleGAN-and-pix2pix
(data/colorization_dataset.py) with that repository's default preprocessing for training
(``--preprocess resize_and_crop --load_size 286 --crop_size 256``, horizontal flips on): PIL decodes
the whole photo and converts it to RGB, resizes it to 286 x 286 (bicubic, aspect ratio not kept), takes
a random 256 x 256 crop, flips it half the time, converts it with ``skimage.color.rgb2lab`` and
normalises L to [-1, 1] and ab by 1/110, all per image inside ``__getitem__``. Its loader is a plain
``DataLoader(shuffle=True)``, as pix2pix's ``CustomDatasetDataLoader``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import color
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms


class Pix2PixColorization(Dataset):
    def __init__(self, paths: Sequence[Path], load_size: int = 286, crop_size: int = 256) -> None:
        self.paths = list(paths)
        self.transform = transforms.Compose(
            [
                transforms.Resize([load_size, load_size], transforms.InterpolationMode.BICUBIC),
                transforms.RandomCrop(crop_size),
                transforms.RandomHorizontalFlip(),
            ]
        )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        path = self.paths[index]
        im = Image.open(path).convert("RGB")
        im = self.transform(im)
        im = np.array(im)
        lab = color.rgb2lab(im).astype(np.float32)
        lab_t = transforms.ToTensor()(lab)
        A = lab_t[[0], ...] / 50.0 - 1.0
        B = lab_t[[1, 2], ...] / 110.0
        return {"A": A, "B": B, "A_paths": str(path), "B_paths": str(path)}


def pix2pix_loader(paths: Sequence[Path], batch_size: int, workers: int, load_size: int, crop_size: int) -> DataLoader:
    return DataLoader(Pix2PixColorization(paths, load_size, crop_size), batch_size=batch_size, shuffle=True, num_workers=workers)
