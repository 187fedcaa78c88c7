"""``sample``: colour photos that ship with scikit-image, held in memory (a few MB); no download needed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from colorize.data.photo_source import PhotoSource
from colorize.data.registry import DataError, DataOptions, register
from colorize.options import option

if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor

SAMPLE_IMAGES = [
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "motorcycle_left",
    "motorcycle_right",
    "immunohistochemistry",
    "hubble_deep_field",
]
# Every colour photo of skimage.data that loads offline; the default training sample is a subset.
SKIMAGE_PHOTOS = (*SAMPLE_IMAGES, "retina", "colorwheel", "logo")


@dataclass
class SampleOptions(DataOptions):
    """scikit-image's sample colour photos (no download); chelsea, the cat, held out for validation."""

    sample_images: list[str] = option(factory=lambda: list(SAMPLE_IMAGES))
    sample_val_images: list[str] = option(factory=lambda: ["chelsea"])


def sample_photo(name: str) -> np.ndarray:
    from skimage import data

    if name in ("motorcycle_left", "motorcycle_right"):
        left, right, _ = data.stereo_motorcycle()
        return left if name == "motorcycle_left" else right
    loader = getattr(data, name, None)
    if loader is None or name.startswith("_") or not callable(loader):
        raise DataError(f"data.sample_images: {name!r} is not a scikit-image sample photo. Try: {', '.join(SKIMAGE_PHOTOS)}.")
    return loader()


class SampleImages:
    """scikit-image's sample photos, held in memory."""

    def __init__(self, names: Sequence[str]) -> None:
        import numpy as np
        import torch

        self.names = list(names)
        self.images = []
        for name in self.names:
            array = sample_photo(name)
            if array.ndim == 2:
                array = np.stack([array] * 3, axis=-1)
            self.images.append(torch.from_numpy(np.ascontiguousarray(array[..., :3])).permute(2, 0, 1).contiguous())

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> Tensor:
        return self.images[index]


class Sample(PhotoSource):
    name = "sample"
    options = SampleOptions

    def photos(self, cfg: Any) -> tuple[SampleImages, SampleImages]:
        unknown = set(cfg.sample_val_images) - set(cfg.sample_images)
        if unknown:
            raise DataError(f"data.sample_val_images names {sorted(unknown)}, which are not in data.sample_images.")
        if not cfg.sample_val_images:
            raise DataError("data.sample_val_images is empty: name the photos to hold out for validation, e.g. [chelsea].")
        train = [n for n in cfg.sample_images if n not in cfg.sample_val_images]
        return SampleImages(train), SampleImages(cfg.sample_val_images)


register(Sample())
