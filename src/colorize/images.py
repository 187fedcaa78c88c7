"""Photos: reading files as uint8 RGB tensors whatever their format or mode, finding them, sizing and showing them.

Photos are decoded by PIL; the data loaders ask for ``torchvision.io`` instead for JPEG and WebP (libjpeg-turbo,
libwebp: about 2-3x faster here on a 1024x768 JPEG), which costs seconds to import, so a cold ``predict`` does without
it. PNG always goes through PIL, because torchvision 0.29's PNG decoder crashes the whole process (segfault) on a
corrupt PNG instead of raising an error. EXIF orientation is applied either way, and grayscale, palette, RGBA and
16-bit images all come out as 8-bit RGB.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from colorize.errors import UserError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
_TORCHVISION_FORMATS = frozenset({"JPEG", "WEBP"})
# Above this many pixels an image is refused rather than decoded (PIL's decompression-bomb limit).
MAX_PIXELS = 2 * 89_478_485
ORIENTATION = 0x0112  # the EXIF tag


class ImageReadError(UserError, ValueError):
    """A file that cannot be read as an image; the message names the file and why."""


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _pil_to_tensor(img: Image.Image) -> Tensor:
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(img, dtype=np.float32)
        scale = 257.0 if array.max(initial=0) > 255 else 1.0
        array = np.clip(np.round(array / scale), 0, 255).astype(np.uint8)
        return torch.from_numpy(array).unsqueeze(0).expand(3, -1, -1).contiguous()
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode != "RGB":
        img = img.convert("RGB")
    return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def _check_pixels(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageReadError(
            f"{path}: {width}x{height} pixels is more than the limit of {max_pixels}; "
            "refusing to decode it (resize it, or raise the limit if it is trusted)."
        )


def _unreadable(path: Path, error: BaseException) -> ImageReadError:
    reason = "empty file" if path.exists() and path.stat().st_size == 0 else str(error) or type(error).__name__
    return ImageReadError(f"{path}: cannot read as an image ({reason}).")


def read_rgb(path: str | Path, max_pixels: int = MAX_PIXELS, min_side: int = 0, fast_decoder: bool = False) -> Tensor:
    """Read an image file as a uint8 RGB tensor shaped (3, H, W); ``fast_decoder``: JPEG and WebP by ``torchvision.io``.

    With ``min_side``, a JPEG is decoded straight at 1/2, 1/4 or 1/8 of its size (libjpeg's DCT scaling,
    through PIL's ``draft``) when its shorter side stays at least ``min_side``: several times less work
    for a large photo that is to be shrunk anyway. Other formats come at full size.

    Raises :class:`ImageReadError` for a file that is empty, truncated, not an
    image, or larger than ``max_pixels``.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            width, height = img.size
            fmt = img.format
            _check_pixels(path, width, height, max_pixels)
            reduced = bool(min_side) and fmt == "JPEG"
            if reduced:
                scale = min(1.0, min_side / min(width, height))
                img.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
            if reduced or not fast_decoder or fmt not in _TORCHVISION_FORMATS:
                img.load()
                return _pil_to_tensor(img)
        from torchvision.io import ImageReadMode, decode_image

        data = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
        try:
            image = decode_image(data, mode=ImageReadMode.RGB, apply_exif_orientation=True)
        except RuntimeError:
            with Image.open(path) as img:
                img.load()
                return _pil_to_tensor(img)
        return image.contiguous()  # uint8: JPEG and WebP are 8-bit
    except ImageReadError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise _unreadable(path, e) from e


def upright_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file as :func:`read_rgb` gives it (EXIF orientation applied), from its header alone."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            width, height = img.size
            turned = img.getexif().get(ORIENTATION, 1) in (5, 6, 7, 8)  # a quarter turn, maybe mirrored
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise _unreadable(path, e) from e
    return (height, width) if turned else (width, height)


def list_images(root: Path) -> list[Path]:
    """Every image file below ``root``, sorted by relative path."""
    return sorted((p for p in root.rglob("*") if p.is_file() and is_image_file(p)), key=lambda p: p.as_posix())


def working_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(height, width) scaled so that the shorter side is ``size``; unchanged when already smaller or size <= 0."""
    shorter = min(height, width)
    if size <= 0 or shorter <= size:
        return height, width
    scale = size / shorter
    return max(1, round(height * scale)), max(1, round(width * scale))


def to_uint8_image(rgb: Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8. wandb.Image needs uint8: it does not scale floats."""
    return (rgb.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
