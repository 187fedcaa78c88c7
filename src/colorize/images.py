"""Photos: reading files as uint8 RGB tensors whatever their format or mode, finding them, and showing them.

Photos are decoded by PIL (:func:`colorize.portable.read_rgb`, whose arrays become tensors here); the data loaders ask
for ``torchvision.io`` instead for JPEG and WebP (libjpeg-turbo, libwebp: about 2-3x faster here on a 1024x768 JPEG),
which costs seconds to import, so a cold ``predict`` does without it. PNG always goes through PIL, because torchvision
0.29's PNG decoder crashes the whole process (segfault) on a corrupt PNG instead of raising an error. EXIF orientation
is applied either way, and grayscale, palette, RGBA and 16-bit images all come out as 8-bit RGB. torch is imported only
where a tensor is made, so that a command finds and checks photos before it imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from colorize import portable
from colorize.errors import UserError
from colorize.portable import MAX_PIXELS

if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
_TORCHVISION_FORMATS = frozenset({"JPEG", "WEBP"})


class ImageReadError(UserError, ValueError):
    """A file that cannot be read as an image; the message names the file and why."""


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _decode_fast(path: Path) -> Tensor | None:
    """A JPEG or WebP decoded by ``torchvision.io``, upright, as uint8 RGB (3, H, W); None where it cannot decode it."""
    import torch
    from torchvision.io import ImageReadMode, decode_image

    try:
        data = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
        return decode_image(data, mode=ImageReadMode.RGB, apply_exif_orientation=True).contiguous()
    except (OSError, RuntimeError):
        return None  # Pillow reads it, or says why it cannot


def read_rgb(path: str | Path, max_pixels: int = MAX_PIXELS, min_side: int = 0, fast_decoder: bool = False) -> Tensor:
    """Read an image file as a uint8 RGB tensor shaped (3, H, W): :func:`colorize.portable.read_rgb` (Pillow, and a
    JPEG shrunk while decoded where ``min_side`` allows), or with ``fast_decoder`` JPEG and WebP by ``torchvision.io``.

    Raises :class:`ImageReadError` for a file that is empty, truncated, not an image, or larger than ``max_pixels``.
    """
    import torch

    path = Path(path)
    try:
        if fast_decoder:
            with portable.open_image(path, max_pixels) as img:
                fmt = img.format
            if fmt in _TORCHVISION_FORMATS and not (min_side and fmt == "JPEG"):
                decoded = _decode_fast(path)
                if decoded is not None:
                    return decoded
        array = portable.read_rgb(path, max_pixels, min_side)
    except portable.ImageFileError as e:
        raise ImageReadError(str(e)) from None
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def upright_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file as :func:`read_rgb` gives it (EXIF orientation applied), from its header alone."""
    try:
        return portable.upright_size(path)
    except portable.ImageFileError as e:
        raise ImageReadError(str(e)) from None


def list_images(root: Path) -> list[Path]:
    """Every image file below ``root``, sorted by relative path."""
    return sorted((p for p in root.rglob("*") if p.is_file() and is_image_file(p)), key=lambda p: p.as_posix())


def to_uint8_image(rgb: Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8. wandb.Image needs uint8: it does not scale floats."""
    import torch

    return (rgb.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
