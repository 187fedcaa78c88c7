"""Colorize a photo with an exported colorize model, using onnxruntime, numpy and Pillow only.

    python -m colorize.onnx_predict MODEL.onnx PHOTO OUTPUT.png [--size N] [--overwrite] [--hints H.json] [--reference R.jpg]
    python onnx_predict.py MODEL.onnx PHOTO OUTPUT.png          # the copy `make export` writes beside the model

It does what ``colorize.predict`` does, without PyTorch: the photo's lightness L, scaled so that its
shorter side is the working size, goes through the network; the predicted chroma is upsampled to
the photo's size and joined with its full-resolution L; colours outside the sRGB gamut lose chroma,
not lightness. The colour space, its normalisation and the working size are read from the model's
metadata (written by ``colorize.export``). A model trained with colour hints takes a hints file (``--hints``) and a
reference photo (``--reference``) as ``colorize.predict`` does. The output matches ``colorize.predict`` to within one
level of 8-bit RGB on nearly every pixel (``tests/test_export.py`` measures it).

This file imports nothing from colorize or torch, so it can be copied next to a model and run on a
machine that has neither: that is why the colour conversions below are written again in numpy (the
same formulas and constants as kornia's, which ``colorize.spaces`` uses).
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

METADATA_PREFIX = "colorize."
MAX_PIXELS = 2 * 89_478_485  # colorize.images.MAX_PIXELS: larger images are refused, not decoded

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


class OnnxPredictError(ValueError):
    """An input, output or model that cannot be used as given; the message says what to change."""


# --- colour conversion: images are float32 arrays shaped (..., 3) -------------------------------------------


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    return np.where(rgb > 0.04045, ((np.maximum(rgb, 0.0) + 0.055) / 1.055) ** 2.4, rgb / 12.92).astype(np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    return np.where(linear > 0.0031308, 1.055 * np.maximum(linear, 0.0031308) ** (1 / 2.4) - 0.055, 12.92 * linear).astype(
        np.float32
    )


def rgb_to_lightness(rgb: np.ndarray, space: str) -> np.ndarray:
    """CIE L* (0..100) of sRGB in [0, 1], as the space computes it (Lab and LUV differ by float rounding only)."""
    y = srgb_to_linear(rgb) @ RGB_TO_XYZ[1]
    if space == "lab":
        f = np.where(y > LAB_EPSILON, np.cbrt(np.maximum(y, LAB_EPSILON)), 7.787 * y + 4.0 / 29.0)
        return (116.0 * f - 16.0).astype(np.float32)
    return np.where(y > LAB_EPSILON, 116.0 * np.cbrt(np.maximum(y, LAB_EPSILON)) - 16.0, 903.3 * y).astype(np.float32)


def rgb_to_chroma(rgb: np.ndarray, space: str) -> np.ndarray:
    """Physical chroma (..., 2) of sRGB in [0, 1] (..., 3): Lab's a, b or LUV's u, v."""
    xyz = srgb_to_linear(rgb) @ RGB_TO_XYZ.T
    if space == "lab":
        t = xyz / WHITE
        f = np.where(t > LAB_EPSILON, np.cbrt(np.maximum(t, LAB_EPSILON)), 7.787 * t + 4.0 / 29.0)
        return np.stack([500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], axis=-1).astype(np.float32)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    denominator = x + 15 * y + 3 * z + 1e-12
    big_l = rgb_to_lightness(rgb, space)
    return np.stack([13 * big_l * (4 * x / denominator - WHITE_U), 13 * big_l * (9 * y / denominator - WHITE_V)], axis=-1)


def lab_to_linear_rgb(lab: np.ndarray) -> np.ndarray:
    fy = (lab[..., 0] + 16.0) / 116.0
    fx = lab[..., 1] / 500.0 + fy
    fz = np.maximum(fy - lab[..., 2] / 200.0, 0.0)
    f = np.stack([fx, fy, fz], axis=-1)
    xyz = np.where(f > 0.2068966, f**3, (f - 4.0 / 29.0) / 7.787) * WHITE
    return xyz.astype(np.float32) @ XYZ_TO_RGB.T


def luv_to_linear_rgb(luv: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    big_l, u, v = luv[..., 0], luv[..., 1], luv[..., 2]
    y = np.where(big_l > 7.999625, ((big_l + 16) / 116) ** 3, big_l / 903.3)
    a = WHITE_U + u / (13 * big_l + eps)
    d = WHITE_V + v / (13 * big_l + eps)
    c = 3 * y * (5 * d - 3)
    z = ((a - 4) * c - 15 * a * d * y) / (12 * d + eps)
    x = -(c / (d + eps) + 3.0 * z)
    return np.stack([x, y, z], axis=-1).astype(np.float32) @ XYZ_TO_RGB.T


def to_unclamped_rgb(lcc: np.ndarray, space: str) -> np.ndarray:
    """Physical (L, chroma1, chroma2) -> sRGB, not clamped (values outside [0, 1] are out of gamut)."""
    linear = lab_to_linear_rgb(lcc) if space == "lab" else luv_to_linear_rgb(lcc)
    return linear_to_srgb(linear)


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


# --- colour hints: the hints file of colorize.networks.hints (its docstring gives the format), read here ---------

USER_PATCH = 3  # a hint's default patch side, in pixels of the image the network sees


class HintFileError(OnnxPredictError):
    """A hints file that cannot be used; the message names the hint (numbered from 1) and the fix."""


def _suggest(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True)
class UserHint:
    number: int  # from 1, in file order
    x: float
    y: float
    rgb: tuple[int, int, int]
    patch: int


HINT_KEYS = ("x", "y", "color", "patch")
FILE_KEYS = ("hints", "patch")


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
            raise HintFileError(f"{where}: unknown key {key!r}; the keys are {', '.join(known)}.{_suggest(str(key), known)}")


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


def hint_maps(
    hints: Sequence[UserHint], photo_size: tuple[int, int], shape: tuple[int, int], colours: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The hint map (1, 2, h, w) and mask (1, 1, h, w) at ``shape`` (h, w) of hints on a photo of (width, height), as
    ``colorize.networks.hints.user_hint_maps`` paints them; ``colours``: each hint's normalised chroma (K, 2)."""
    (width, height), (h, w) = photo_size, shape
    hint, mask = np.zeros((1, 2, h, w), dtype=np.float32), np.zeros((1, 1, h, w), dtype=np.float32)
    for item, colour in zip(hints, colours, strict=True):
        side = min(item.patch, h, w)
        row, col = min(int(item.y * h / height), h - 1), min(int(item.x * w / width), w - 1)
        top, left = min(max(row - (side - 1) // 2, 0), h - side), min(max(col - (side - 1) // 2, 0), w - side)
        hint[0, :, top : top + side, left : left + side] = colour[:, None, None]
        mask[0, 0, top : top + side, left : left + side] = 1.0
    return hint, mask


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


def global_hint(reference: np.ndarray, size: int, space: str, metadata: dict[str, Any]) -> np.ndarray:
    """The global hint (1, Q + 3) of a reference photo, uint8 RGB (H, W, 3), seen with its shorter side at ``size``, as
    ``colorize.networks.hints.global_hints`` computes it: a histogram of its chroma averaged over blocks, in the bins of
    the model's ``metadata``, and its mean HSV saturation, each followed by a flag 1."""
    shape = working_shape(*reference.shape[:2], size)
    rgb = np.clip(np.stack([resize(c, shape) for c in np.moveaxis(reference.astype(np.float32) / 255, -1, 0)], -1), 0, 1)
    pool = metadata["hint_pool"]
    chroma = adaptive_mean(rgb_to_chroma(rgb, space), (-(-shape[0] // pool), -(-shape[1] // pool)))
    table = np.array(metadata["hint_bins_table"])
    cells = np.round(chroma / metadata["hint_grid"]).astype(np.int64) - np.array(metadata["hint_bins_low"])
    bins = table[np.clip(cells[..., 0], 0, table.shape[0] - 1), np.clip(cells[..., 1], 0, table.shape[1] - 1)]
    histogram = np.bincount(bins.ravel(), minlength=metadata["global_length"] - 3) / bins.size
    high, low = rgb.max(-1), rgb.min(-1)
    saturation = np.where(high > 0, (high - low) / np.maximum(high, 1e-12), 0.0).mean()
    return np.concatenate([histogram, [1.0, saturation, 1.0]]).astype(np.float32)[None]


# --- the model and its metadata -------------------------------------------------------------------------------


class OnnxColorizer:
    """An exported colorize model: normalised L (B, 1, H, W) -> normalised chroma (B, 2, H, W), any H and W."""

    def __init__(self, path: str | Path, providers: list[str] | None = None) -> None:
        path = Path(path)
        if not path.is_file():
            raise OnnxPredictError(f"{path}: no such model file (make export writes runs/<run>/export/<checkpoint>.onnx).")
        try:
            import onnxruntime
        except ModuleNotFoundError:
            raise OnnxPredictError("onnx_predict needs onnxruntime: pip install onnxruntime numpy pillow.") from None
        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=providers or onnxruntime.get_available_providers())
        except Exception as e:  # onnxruntime raises its own exception types for bad files
            raise OnnxPredictError(f"{path}: not an ONNX model onnxruntime can load ({e}).") from None
        stored = self.session.get_modelmeta().custom_metadata_map
        self.metadata = {
            k.removeprefix(METADATA_PREFIX): json.loads(v) for k, v in stored.items() if k.startswith(METADATA_PREFIX)
        }
        if "space" not in self.metadata:
            raise OnnxPredictError(f"{path}: an ONNX model without colorize's metadata. Export it with make export.")
        self.space = self.metadata["space"]
        self.working_size = int(self.metadata["working_size"])
        self.lightness_offset = float(self.metadata["lightness_offset"])
        self.lightness_scale = float(self.metadata["lightness_scale"])
        self.chroma_offset = np.array(self.metadata["chroma_offset"], dtype=np.float32)
        self.chroma_scale = np.array(self.metadata["chroma_scale"], dtype=np.float32)
        self.input_name = self.session.get_inputs()[0].name
        self.hint_inputs = [node.name for node in self.session.get_inputs()[1:]]  # of hint, mask, global_hint
        self.hints = self.metadata.get("hints", "none")  # model.hints it was trained with
        self.global_length = int(self.metadata.get("global_length", 0))

    def check_hints(self, local: bool, global_: bool) -> None:
        """Refuse hints the model was not trained to take (as ``colorize.networks.hints.check_hints_supported``)."""
        for given, kinds, option, what in (
            (local, ("local", "both"), "--hints", "local colour hints"),
            (global_, ("global", "both"), "--reference", "a global hint"),
        ):
            if given and self.hints not in kinds:
                raise OnnxPredictError(
                    f"This model was trained without {what} (model.hints={self.hints}), so it cannot take {option}. "
                    f"Use a model trained with model.hints={' or '.join(kinds)}, or leave out {option}."
                )

    def predict_chroma(
        self,
        lightness: np.ndarray,
        hint: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        global_hint: np.ndarray | None = None,
    ) -> np.ndarray:
        """Normalised L (B, 1, H, W) float32 -> normalised chroma (B, 2, H, W); the hints the model takes, zeros if not given."""
        batch, _, height, width = lightness.shape
        given = {"hint": hint, "mask": mask, "global_hint": global_hint}
        shapes = {
            "hint": (batch, 2, height, width),
            "mask": (batch, 1, height, width),
            "global_hint": (batch, self.global_length),
        }
        feed = {self.input_name: np.ascontiguousarray(lightness, dtype=np.float32)}
        for name in self.hint_inputs:
            value = given[name]
            feed[name] = (
                np.zeros(shapes[name], np.float32)
                if value is None
                else np.ascontiguousarray(np.broadcast_to(value, shapes[name]), dtype=np.float32)
            )
        return self.session.run(None, feed)[0]

    def colorize(
        self, rgb: np.ndarray, size: int | None = None, hints: Sequence[UserHint] = (), reference: np.ndarray | None = None
    ) -> np.ndarray:
        """uint8 RGB (H, W, 3) -> its colorization, uint8 RGB of the same size; chroma predicted at ``size``.

        ``hints``: colours at points of the photo (:func:`read_hints`); ``reference``: uint8 RGB of a photo whose colours
        it should take on. Each only for a model trained to take it.
        """
        self.check_hints(bool(hints), reference is not None)
        height, width = rgb.shape[:2]
        size = self.working_size if size is None else size
        big_l = rgb_to_lightness(rgb.astype(np.float32) / 255.0, self.space)
        lightness = (big_l - self.lightness_offset) / self.lightness_scale
        small = resize(lightness, working_shape(height, width, size))
        inputs = {}
        if hints:
            colours = rgb_to_chroma(np.array([h.rgb for h in hints], dtype=np.float32) / 255, self.space)
            colours = (colours - self.chroma_offset) / self.chroma_scale
            inputs["hint"], inputs["mask"] = hint_maps(hints, (width, height), small.shape, colours)
        if reference is not None:
            inputs["global_hint"] = global_hint(reference, size, self.space, self.metadata)
        chroma = self.predict_chroma(small[None, None], **inputs)[0]
        chroma = np.stack([resize(c, (height, width)) for c in chroma], axis=-1)
        lcc = np.concatenate(
            [
                (np.clip(lightness, -1, 1) * self.lightness_scale + self.lightness_offset)[..., None],
                np.clip(chroma, -1, 1) * self.chroma_scale + self.chroma_offset,
            ],
            axis=-1,
        ).astype(np.float32)
        return np.round(in_gamut_rgb(lcc, self.space) * 255).astype(np.uint8)


def working_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(height, width) scaled so that the shorter side is ``size``; unchanged when already smaller or size <= 0."""
    shorter = min(height, width)
    if size <= 0 or shorter <= size:
        return height, width
    scale = size / shorter
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(channel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of one float32 channel; antialiased when shrinking (Pillow's filter, which torch's
    ``interpolate(antialias=True)`` that colorize.predict uses follows)."""
    if channel.shape == tuple(shape):
        return channel
    image = Image.fromarray(np.ascontiguousarray(channel, dtype=np.float32), mode="F")
    return np.asarray(image.resize((shape[1], shape[0]), Image.Resampling.BILINEAR), dtype=np.float32)


# --- files ----------------------------------------------------------------------------------------------------


def read_rgb(path: str | Path) -> np.ndarray:
    """A photo as upright uint8 RGB (H, W, 3): EXIF orientation applied; grey, palette, RGBA and 16-bit converted."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise OnnxPredictError(f"{path}: {img.width}x{img.height} pixels is more than the limit of {MAX_PIXELS}.")
            img = ImageOps.exif_transpose(img)
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(img, dtype=np.float32)
                scale = 257.0 if array.max(initial=0) > 255 else 1.0
                return np.repeat(np.clip(np.round(array / scale), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
            if img.mode == "P" and "transparency" in img.info:
                img = img.convert("RGBA")
            return np.array(img.convert("RGB"), dtype=np.uint8)
    except OnnxPredictError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise OnnxPredictError(f"{path}: cannot read as an image ({e or type(e).__name__}).") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="the .onnx file written by make export")
    parser.add_argument("photo", help="the photo to colorize (any size; colour or grey: only its lightness is used)")
    parser.add_argument("output", help="where to write the colorized photo (PNG unless the suffix says otherwise)")
    parser.add_argument("--size", type=int, help="shorter side, in pixels, at which chroma is predicted (default: the model's)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    parser.add_argument("--hints", help="a hints file: colours at points of the photo (a model exported with local hints)")
    parser.add_argument("--reference", help="a photo whose colours the result should take on (a model with global hints)")
    args = parser.parse_args(argv)
    photo, output = Path(args.photo), Path(args.output)
    try:
        if output.exists() and output.resolve() == photo.resolve():
            raise OnnxPredictError(f"{output} is the input photo. Choose another OUTPUT.")
        if output.exists() and not args.overwrite:
            raise OnnxPredictError(f"{output} exists. Choose another OUTPUT, or pass --overwrite.")
        colorizer = OnnxColorizer(args.model)
        colorizer.check_hints(args.hints is not None, args.reference is not None)
        rgb = read_rgb(photo)
        hints = read_hints(args.hints, (rgb.shape[1], rgb.shape[0])) if args.hints is not None else ()
        reference = read_rgb(args.reference) if args.reference is not None else None
        colour = colorizer.colorize(rgb, args.size, hints, reference)
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(f".{output.name}.partial")  # never a half-written file under the final name
        fmt = Image.registered_extensions().get(output.suffix.lower(), "PNG")
        Image.fromarray(colour).save(partial, format=fmt)
        partial.replace(output)
    except OnnxPredictError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"colorized {photo} into {output} ({colorizer.space}, chroma at {args.size or colorizer.working_size} px)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
