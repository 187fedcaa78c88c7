"""What the library and the exported ``onnx_predict.py`` share, in numpy and Pillow alone.

``make export`` copies this file beside the model with ``onnx_predict.py``, so it imports nothing from colorize or
torch. The library wraps its arrays as tensors and raises its errors again as its own (:class:`ImageFileError` as
:class:`colorize.images.ImageReadError`, :class:`HintFileError` as :class:`colorize.inference.hinting.HintError`).

* the working size (:func:`working_shape`) and resizing one channel as ``colorize.inference.colorizing.resize`` does;
* reading an image file into uint8 RGB (:func:`read_rgb`, :data:`MAX_PIXELS`), upright, whatever its mode;
* the colour conversions: numpy twins of the kornia conversions of :mod:`colorize.spaces`, one pair per space
  (:data:`FROM_RGB`, :data:`TO_RGB`), and decoding that keeps L (:func:`in_gamut_rgb`);
* colour hints a person gives: the hints file (:func:`read_hints`, below), the hint map a model sees
  (:func:`hint_maps`), a reference photo's global vector (:func:`global_hint`), and the check that a model takes them.

**Hints file** (``--hints hints.json``), UTF-8 JSON::

    {
      "patch": 3,
      "hints": [
        {"x": 412, "y": 230, "color": "#3a7bd5"},
        {"x": 80.5, "y": 1010, "color": [200, 40, 40], "patch": 5}
      ]
    }

* ``x``, ``y``: a point in the full-size photo, in pixels from its top-left corner (x to the right,
  y down; fractions allowed); it must lie inside the photo: 0 <= x < width, 0 <= y < height.
* ``color``: the colour it should have, sRGB, as ``"#rrggbb"`` or ``[r, g, b]`` with integers 0..255.
* ``patch`` (optional, per hint or for all): the side of the square the colour covers, in pixels of
  the image the network sees (its working size), centred on the point; default 3. Training used 1..9.

Hints are numbered from 1 in file order in every error message; where patches overlap, the later hint wins.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

METADATA_PREFIX = "colorize."  # the exported model's metadata keys
# Above this many pixels an image is refused rather than decoded (PIL's decompression-bomb limit).
MAX_PIXELS = 2 * 89_478_485
ORIENTATION = 0x0112  # the EXIF tag


class PortableError(ValueError):
    """An input that cannot be used as given; the message names it and says what to change."""


class ImageFileError(PortableError):
    """A file that cannot be read as an image; the message names the file and why."""


class HintFileError(PortableError):
    """Hints that cannot be used: a malformed hints file, a hint outside the photo, or a kind of hint the model was not
    trained to take. The message names the hint (numbered from 1) and the fix."""


def suggest(word: str, options: Sequence[str]) -> str:
    """The option closest to ``word``, as ' Did you mean "x"?'; nothing when none is close."""
    close = difflib.get_close_matches(word, options, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


# --- the working size, and resizing ------------------------------------------------------------------------------


def working_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(height, width) scaled so that the shorter side is ``size``; unchanged when already smaller or size <= 0."""
    shorter = min(height, width)
    if size <= 0 or shorter <= size:
        return height, width
    scale = size / shorter
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(channel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of one float32 channel (H, W) to ``shape``; antialiased when shrinking (Pillow's filter, which
    torch's ``interpolate(antialias=True)`` in ``colorize.inference.colorizing.resize`` follows)."""
    if channel.shape == tuple(shape):
        return channel
    image = Image.fromarray(np.ascontiguousarray(channel, dtype=np.float32), mode="F")
    return np.asarray(image.resize((shape[1], shape[0]), Image.Resampling.BILINEAR), dtype=np.float32)


def resize_rgb(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> float32 RGB (h, w, 3) in [0, 1] at ``shape``, each channel by :func:`resize`."""
    channels = np.moveaxis(rgb.astype(np.float32) / 255, -1, 0)
    return np.clip(np.stack([resize(c, shape) for c in channels], axis=-1), 0, 1)


def adaptive_mean(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Means of (H, W, C) over the blocks of torch's ``adaptive_avg_pool2d`` to ``shape`` (n, m): block i of the rows
    runs from floor(i H / n) to ceil((i + 1) H / n), and so on for the columns."""
    sums = np.pad(image.astype(np.float64).cumsum(0).cumsum(1), ((1, 0), (1, 0), (0, 0)))
    edges = [
        (np.arange(n) * size // n, -(-(np.arange(n) + 1) * size // n)) for n, size in zip(shape, image.shape[:2], strict=True)
    ]
    (r0, r1), (c0, c1) = edges
    total = sums[r1][:, c1] - sums[r0][:, c1] - sums[r1][:, c0] + sums[r0][:, c0]
    return (total / ((r1 - r0)[:, None, None] * (c1 - c0)[None, :, None])).astype(np.float32)


# --- colour conversion: images are float32 arrays shaped (..., 3), RGB in [0, 1] -----------------------------------

# sRGB (D65) <-> CIE XYZ, and the D65 reference white: kornia.color's values.
RGB_TO_XYZ = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]], dtype=np.float32
)
XYZ_TO_RGB = np.array(
    [
        [3.2404813432005266, -1.5371515162713185, -0.4985363261688878],
        [-0.9692549499965682, 1.8759900014898907, 0.0415559265582928],
        [0.0556466391351772, -0.2040413383665112, 1.0573110696453443],
    ],
    dtype=np.float32,
)
WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
WHITE_U = 4 * WHITE[0] / (WHITE[0] + 15 * WHITE[1] + 3 * WHITE[2])
WHITE_V = 9 * WHITE[1] / (WHITE[0] + 15 * WHITE[1] + 3 * WHITE[2])
LAB_EPSILON = 0.008856
GAMUT_TOLERANCE = 1e-4  # as colorize.spaces.ColorSpace.decode_in_gamut
GAMUT_STEPS = 14


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    return np.where(rgb > 0.04045, ((np.maximum(rgb, 0.0) + 0.055) / 1.055) ** 2.4, rgb / 12.92).astype(np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    return np.where(linear > 0.0031308, 1.055 * np.maximum(linear, 0.0031308) ** (1 / 2.4) - 0.055, 12.92 * linear).astype(
        np.float32
    )


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB -> CIE Lab (L in 0..100), as ``kornia.color.rgb_to_lab``."""
    t = srgb_to_linear(rgb) @ RGB_TO_XYZ.T / WHITE
    f = np.where(t > LAB_EPSILON, np.cbrt(np.maximum(t, LAB_EPSILON)), 7.787 * t + 4.0 / 29.0)
    big_l = 116.0 * f[..., 1] - 16.0
    return np.stack([big_l, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], axis=-1).astype(np.float32)


def rgb_to_luv(rgb: np.ndarray) -> np.ndarray:
    """sRGB -> CIE LUV (L in 0..100), as ``kornia.color.rgb_to_luv``."""
    xyz = srgb_to_linear(rgb) @ RGB_TO_XYZ.T
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    big_l = np.where(y > LAB_EPSILON, 116.0 * np.cbrt(np.maximum(y, LAB_EPSILON)) - 16.0, 903.3 * y)
    denominator = x + 15 * y + 3 * z + 1e-12
    u, v = 13 * big_l * (4 * x / denominator - WHITE_U), 13 * big_l * (9 * y / denominator - WHITE_V)
    return np.stack([big_l, u, v], axis=-1).astype(np.float32)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    fy = (lab[..., 0] + 16.0) / 116.0
    fx = lab[..., 1] / 500.0 + fy
    fz = np.maximum(fy - lab[..., 2] / 200.0, 0.0)
    f = np.stack([fx, fy, fz], axis=-1)
    xyz = np.where(f > 0.2068966, f**3, (f - 4.0 / 29.0) / 7.787) * WHITE
    return linear_to_srgb(xyz.astype(np.float32) @ XYZ_TO_RGB.T)


def luv_to_rgb(luv: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    big_l, u, v = luv[..., 0], luv[..., 1], luv[..., 2]
    y = np.where(big_l > 7.999625, ((big_l + 16) / 116) ** 3, big_l / 903.3)
    a = WHITE_U + u / (13 * big_l + eps)
    d = WHITE_V + v / (13 * big_l + eps)
    c = 3 * y * (5 * d - 3)
    z = ((a - 4) * c - 15 * a * d * y) / (12 * d + eps)
    x = -(c / (d + eps) + 3.0 * z)
    return linear_to_srgb(np.stack([x, y, z], axis=-1).astype(np.float32) @ XYZ_TO_RGB.T)


# OKLab (colorize.spaces.oklab): Ottosson's matrices, and the cube root made linear below a knee as the space does.
RGB_TO_LMS = np.array(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ]
)
LMS_TO_OKLAB = np.array(
    [
        [0.2104542553, 0.7936177850, -0.0040720468],
        [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660],
    ]
)
OKLAB_TO_LMS = np.array(
    [[1.0, 0.3963377774, 0.2158037573], [1.0, -0.1055613458, -0.0638541728], [1.0, -0.0894841775, -1.2914855480]]
)
LMS_TO_RGB = np.array(
    [
        [4.0767416621, -3.3077115913, 0.2309699292],
        [-1.2684380046, 2.6097574011, -0.3413193965],
        [-0.0041960863, -0.7034186147, 1.7076147010],
    ]
)
CBRT_KNEE = 1e-6


def rgb_to_oklab(rgb: np.ndarray) -> np.ndarray:
    lms = srgb_to_linear(rgb).astype(np.float64) @ RGB_TO_LMS.T
    root = np.where(np.abs(lms) >= CBRT_KNEE, np.cbrt(lms), lms * CBRT_KNEE ** (-2 / 3))
    return (root @ LMS_TO_OKLAB.T).astype(np.float32)


def oklab_to_rgb(oklab: np.ndarray) -> np.ndarray:
    root = oklab.astype(np.float64) @ OKLAB_TO_LMS.T
    lms = np.where(np.abs(root) >= CBRT_KNEE ** (1 / 3), root**3, root * CBRT_KNEE ** (2 / 3))
    return linear_to_srgb((lms @ LMS_TO_RGB.T).astype(np.float32))


# Y'CbCr of BT.601 at full range (colorize.spaces.ycbcr): a linear map of gamma-encoded sRGB, chroma centred on 0.
KR, KB = 0.299, 0.114
KG = 1 - KR - KB
RGB_TO_YCBCR = np.array(
    [[KR, KG, KB], [-KR / (2 * (1 - KB)), -KG / (2 * (1 - KB)), 0.5], [0.5, -KG / (2 * (1 - KR)), -KB / (2 * (1 - KR))]]
)
YCBCR_TO_RGB = np.linalg.inv(RGB_TO_YCBCR)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.float64) @ RGB_TO_YCBCR.T).astype(np.float32)


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    return (ycbcr.astype(np.float64) @ YCBCR_TO_RGB.T).astype(np.float32)


# Each space of colorize.spaces.SPACES, by name: sRGB -> physical (L, chroma1, chroma2), and back to sRGB, unclamped.
FROM_RGB: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "lab": rgb_to_lab,
    "luv": rgb_to_luv,
    "oklab": rgb_to_oklab,
    "ycbcr": rgb_to_ycbcr,
}
TO_RGB: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "lab": lab_to_rgb,
    "luv": luv_to_rgb,
    "oklab": oklab_to_rgb,
    "ycbcr": ycbcr_to_rgb,
}


def rgb_to_space(rgb: np.ndarray, space: str) -> np.ndarray:
    """sRGB in [0, 1] (..., 3) -> physical (L, chroma1, chroma2) of ``space`` (..., 3)."""
    return FROM_RGB[space](rgb)


def to_unclamped_rgb(lcc: np.ndarray, space: str) -> np.ndarray:
    """Physical (L, chroma1, chroma2) -> sRGB, not clamped (values outside [0, 1] are out of gamut)."""
    return TO_RGB[space](lcc)


def in_gamut_rgb(lcc: np.ndarray, space: str) -> np.ndarray:
    """sRGB in [0, 1] keeping L: an out-of-gamut colour's chroma is scaled towards grey, by bisection, to the
    gamut's edge (``colorize.spaces.ColorSpace.decode_in_gamut``)."""
    rgb = to_unclamped_rgb(lcc, space)
    outside = ((rgb < -GAMUT_TOLERANCE) | (rgb > 1 + GAMUT_TOLERANCE)).any(axis=-1)
    if outside.any():
        lcc_out = lcc[outside]
        low = np.zeros(len(lcc_out), dtype=np.float32)
        high = np.ones_like(low)
        for _ in range(GAMUT_STEPS):
            mid = (low + high) / 2
            trial = to_unclamped_rgb(np.concatenate([lcc_out[:, :1], lcc_out[:, 1:] * mid[:, None]], axis=1), space)
            inside = ((trial >= -GAMUT_TOLERANCE) & (trial <= 1 + GAMUT_TOLERANCE)).all(axis=-1)
            low, high = np.where(inside, mid, low), np.where(inside, high, mid)
        rgb[outside] = to_unclamped_rgb(np.concatenate([lcc_out[:, :1], lcc_out[:, 1:] * low[:, None]], axis=1), space)
    return np.clip(rgb, 0.0, 1.0)


# --- image files ---------------------------------------------------------------------------------------------------


def _unreadable(path: Path, error: BaseException) -> ImageFileError:
    reason = "empty file" if path.exists() and path.stat().st_size == 0 else str(error) or type(error).__name__
    return ImageFileError(f"{path}: cannot read as an image ({reason}).")


@contextmanager
def open_image(path: str | Path, max_pixels: float = MAX_PIXELS) -> Iterator[Image.Image]:
    """An image file opened by Pillow, its header read but not its pixels; refused if larger than ``max_pixels``.
    Pillow's errors, in the ``with`` block too, come out as :class:`ImageFileError`."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            if img.width * img.height > max_pixels:
                raise ImageFileError(
                    f"{path}: {img.width}x{img.height} pixels is more than the limit of {max_pixels}; "
                    "refusing to decode it (resize it, or raise the limit if it is trusted)."
                )
            yield img
    except ImageFileError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise _unreadable(path, e) from None


def pil_to_rgb(img: Image.Image) -> np.ndarray:
    """An opened image as upright uint8 RGB (H, W, 3): EXIF orientation applied; grey, palette, RGBA, CMYK and 16-bit
    converted."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(img, dtype=np.float32)
        scale = 257.0 if array.max(initial=0) > 255 else 1.0
        return np.repeat(np.clip(np.round(array / scale), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return np.array(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8)


def read_rgb(path: str | Path, max_pixels: int = MAX_PIXELS, min_side: int = 0) -> np.ndarray:
    """An image file as upright uint8 RGB (H, W, 3); :class:`ImageFileError` for a file that is empty, truncated, not an
    image, or larger than ``max_pixels``.

    With ``min_side``, a JPEG is decoded straight at 1/2, 1/4 or 1/8 of its size (libjpeg's DCT scaling, through
    Pillow's ``draft``) when its shorter side stays at least ``min_side``: several times less work for a large photo
    that is to be shrunk anyway. Other formats come at full size.
    """
    with open_image(path, max_pixels) as img:
        if min_side and img.format == "JPEG":
            scale = min(1.0, min_side / min(img.size))
            img.draft(None, (math.ceil(img.width * scale), math.ceil(img.height * scale)))
        img.load()
        return pil_to_rgb(img)


def upright_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file as :func:`read_rgb` gives it (EXIF orientation applied), from its header alone."""
    with open_image(path, max_pixels=math.inf) as img:
        turned = img.getexif().get(ORIENTATION, 1) in (5, 6, 7, 8)  # a quarter turn, maybe mirrored
        return (img.height, img.width) if turned else img.size


# --- colour hints a person gives ----------------------------------------------------------------------------------

USER_PATCH = 3  # a hint's default patch side, in pixels of the image the network sees
HINT_KEYS = ("x", "y", "color", "patch")
FILE_KEYS = ("hints", "patch")


@dataclass(frozen=True)
class UserHint:
    number: int  # from 1, in file order
    x: float
    y: float
    rgb: tuple[int, int, int]
    patch: int


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _colour(value: Any, where: str) -> tuple[int, int, int]:
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 7 and text[0] == "#":
            try:
                return tuple(bytes.fromhex(text[1:]))  # type: ignore[return-value]
            except ValueError:
                pass
        raise HintFileError(f'{where}: color {value!r} is not "#rrggbb" (six hex digits) or [r, g, b].')
    if isinstance(value, list) and len(value) == 3 and all(_is_number(c) and float(c).is_integer() for c in value):
        if all(0 <= c <= 255 for c in value):
            return tuple(int(c) for c in value)  # type: ignore[return-value]
        raise HintFileError(f"{where}: color {value} is out of range: each of r, g, b must be an integer from 0 to 255.")
    raise HintFileError(f'{where}: color {value!r} is not [r, g, b] (three integers 0..255) or "#rrggbb".')


def _patch(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise HintFileError(f"{where}: patch {value!r} must be a whole number of pixels, at least 1.")
    return value


def _unknown_keys(given: dict, known: Sequence[str], where: str) -> None:
    for key in given:
        if key not in known:
            raise HintFileError(f"{where}: unknown key {key!r}; the keys are {', '.join(known)}.{suggest(str(key), known)}")


def parse_hints(text: str, photo_size: tuple[int, int], source: str = "hints file") -> list[UserHint]:
    """The hints of a hints file's text (see the module docstring), checked against the photo's (width, height)."""
    if not text.strip():
        raise HintFileError(f'{source} is empty. Write {{"hints": [{{"x": 10, "y": 20, "color": "#ff8800"}}]}}.')
    try:
        document = json.loads(text)
    except json.JSONDecodeError as e:
        raise HintFileError(f"{source} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}.") from None
    if not isinstance(document, dict) or not isinstance(document.get("hints"), list):
        raise HintFileError(
            f'{source} must be a JSON object with a list "hints", e.g. {{"hints": [{{"x": 10, "y": 20, "color": "#ff8800"}}]}}.'
        )
    _unknown_keys(document, FILE_KEYS, source)
    default_patch = _patch(document.get("patch", USER_PATCH), source)
    if not document["hints"]:
        raise HintFileError(f"{source} lists no hints: give at least one, or leave out the hints file.")
    width, height = photo_size
    hints = []
    for number, item in enumerate(document["hints"], start=1):
        where = f"{source}, hint {number}"
        if not isinstance(item, dict):
            raise HintFileError(f'{where}: a hint is an object like {{"x": 10, "y": 20, "color": "#ff8800"}}, not {item!r}.')
        _unknown_keys(item, HINT_KEYS, where)
        for key in ("x", "y", "color"):
            if key not in item:
                raise HintFileError(f"{where}: {key!r} is missing.")
        x, y = item["x"], item["y"]
        if not (_is_number(x) and _is_number(y)):
            raise HintFileError(f"{where}: x and y must be numbers (pixels), not {x!r} and {y!r}.")
        if not (0 <= x < width and 0 <= y < height):
            raise HintFileError(
                f"{where}: the point (x={x}, y={y}) is outside the {width}x{height} photo; "
                f"x must be in [0, {width}) and y in [0, {height})."
            )
        where_at = f"{where} (x={x}, y={y})"
        colour, patch = _colour(item["color"], where_at), _patch(item.get("patch", default_patch), where_at)
        hints.append(UserHint(number, float(x), float(y), colour, patch))
    return hints


def read_hints(path: str | Path, photo_size: tuple[int, int]) -> list[UserHint]:
    """Read and check a hints file against the photo's (width, height)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise HintFileError(f"Cannot read the hints file {path}: {e}.") from None
    return parse_hints(text, photo_size, str(path))


def check_hints_taken(trained: str, takes_local: bool, takes_global: bool, local: bool, global_: bool) -> None:
    """Refuse hints (``local``: a hints file, ``global_``: a reference photo) that a model trained with
    ``model.hints=trained``, taking the kinds ``takes_local`` and ``takes_global``, cannot take."""
    if local and not takes_local:
        raise HintFileError(
            f"This model was trained without local colour hints (model.hints={trained}), so it cannot take --hints. "
            "Use a model trained with model.hints=local or both, or leave out --hints."
        )
    if global_ and not takes_global:
        raise HintFileError(
            f"This model was trained without a global hint (model.hints={trained}), so it cannot take --reference. "
            "Use a model trained with model.hints=global or both, or leave out --reference."
        )


def hint_maps(
    hints: Sequence[UserHint], photo_size: tuple[int, int], shape: tuple[int, int], colours: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The hint map (1, 2, h, w) and mask (1, 1, h, w) at ``shape`` (h, w) of hints on a photo of (width, height):
    each hint's square of its patch side, centred on its point and kept inside, in its normalised chroma
    (``colours``, (K, 2)); a later hint over an earlier one."""
    (width, height), (h, w) = photo_size, shape
    hint, mask = np.zeros((1, 2, h, w), dtype=np.float32), np.zeros((1, 1, h, w), dtype=np.float32)
    for item, colour in zip(hints, colours, strict=True):
        side = min(item.patch, h, w)
        row, col = min(int(item.y * h / height), h - 1), min(int(item.x * w / width), w - 1)
        top, left = min(max(row - (side - 1) // 2, 0), h - side), min(max(col - (side - 1) // 2, 0), w - side)
        hint[0, :, top : top + side, left : left + side] = colour[:, None, None]
        mask[0, 0, top : top + side, left : left + side] = 1.0
    return hint, mask


def global_hint(reference: np.ndarray, size: int, space: str, layout: Mapping[str, Any]) -> np.ndarray:
    """The global hint (1, Q + 3) of a reference photo, uint8 RGB (H, W, 3), seen with its shorter side at ``size``: a
    histogram of its chroma averaged over pool x pool blocks, each block counted in its bin, then its mean HSV
    saturation, each followed by a flag 1 (``colorize.networks.hints.global_hints``, the vector training sees).

    ``layout``: the bins, as the exported model's metadata holds them (``HistogramBins.layout``): a block's cell is
    round(chroma / hint_grid) - hint_bins_low, clamped to hint_bins_table, whose entry is its bin.
    """
    rgb = resize_rgb(reference, working_shape(*reference.shape[:2], size))
    pool = layout["hint_pool"]
    chroma = adaptive_mean(rgb_to_space(rgb, space)[..., 1:], (-(-rgb.shape[0] // pool), -(-rgb.shape[1] // pool)))
    table = np.array(layout["hint_bins_table"])
    cells = np.round(chroma / layout["hint_grid"]).astype(np.int64) - np.array(layout["hint_bins_low"])
    bins = table[np.clip(cells[..., 0], 0, table.shape[0] - 1), np.clip(cells[..., 1], 0, table.shape[1] - 1)]
    histogram = np.bincount(bins.ravel(), minlength=layout["global_length"] - 3) / bins.size
    high, low = rgb.max(-1), rgb.min(-1)
    saturation = np.where(high > 0, (high - low) / np.maximum(high, 1e-12), 0.0).mean()
    return np.concatenate([histogram, [1.0, saturation, 1.0]]).astype(np.float32)[None]
