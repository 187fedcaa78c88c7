"""``torchvision``: a torchvision data set by class name, with its own train and validation splits (labels dropped)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from colorize.data.photo_source import PhotoSource
from colorize.data.registry import DataError, DataOptions, register
from colorize.options import option

if TYPE_CHECKING:
    from torch import Tensor
    from torch.utils.data import Dataset

# torchvision datasets whose constructors take a split, and the arguments for each side.
TORCHVISION_SPLITS: dict[str, tuple[dict, dict]] = {
    "CIFAR10": ({"train": True}, {"train": False}),
    "CIFAR100": ({"train": True}, {"train": False}),
    "STL10": ({"split": "train+unlabeled"}, {"split": "test"}),
    "Flowers102": ({"split": "train"}, {"split": "val"}),
    "Places365": ({"split": "train-standard", "small": True}, {"split": "val", "small": True}),
    "Food101": ({"split": "train"}, {"split": "test"}),
    "OxfordIIITPet": ({"split": "trainval"}, {"split": "test"}),
    "ImageNet": ({"split": "train"}, {"split": "val"}),
}


@dataclass
class TorchvisionOptions(DataOptions):
    """A torchvision data set by class name (data.dataset), with its own splits; data.download=true fetches it."""

    root: str = "data"  # where the data set lives
    dataset: str | None = option(None, choices=TORCHVISION_SPLITS)  # its class name (required)
    download: bool = False  # allow downloading (needs internet)


class TorchvisionImages:
    """The images of a torchvision data set (labels are dropped)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.names = [f"{type(dataset).__name__}[{i}]" for i in range(len(dataset))]  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.names)

    def load(self, index: int) -> Tensor:
        import torch
        from torchvision.transforms.v2 import functional as TF

        item = self.dataset[index]
        image = item[0] if isinstance(item, (tuple, list)) else item
        return TF.pil_to_tensor(image.convert("RGB")) if hasattr(image, "convert") else torch.as_tensor(image)


class Torchvision(PhotoSource):
    name = "torchvision"
    options = TorchvisionOptions

    def identity(self, cfg: Any) -> str:
        return f"torchvision:{cfg.dataset}:{cfg.root}"

    def photos(self, cfg: Any) -> tuple[TorchvisionImages, TorchvisionImages]:
        import torchvision.datasets

        name, root = cfg.dataset, os.path.expanduser(cfg.root)
        if name is None:
            raise DataError(f"data=torchvision needs data.dataset=NAME, one of: {', '.join(TORCHVISION_SPLITS)}.")
        cls = getattr(torchvision.datasets, name)
        train_kwargs, val_kwargs = TORCHVISION_SPLITS[name]
        extra = {} if name == "ImageNet" else {"download": cfg.download}
        try:
            return TorchvisionImages(cls(root, **train_kwargs, **extra)), TorchvisionImages(cls(root, **val_kwargs, **extra))
        except (RuntimeError, FileNotFoundError) as e:
            hint = "" if cfg.download else " Set data.download=true to fetch it (needs internet), or point data.root at a copy."
            raise DataError(f"torchvision dataset {name} is not available under {root!r}: {e}.{hint}") from None


register(Torchvision())
