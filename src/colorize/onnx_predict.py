"""Colorize a photo with an exported colorize model, using onnxruntime, numpy and Pillow only.

    python -m colorize.onnx_predict MODEL.onnx PHOTO OUTPUT.png [--size N] [--overwrite]
    python onnx_predict.py MODEL.onnx PHOTO OUTPUT.png          # the copy `make export` writes beside the model

It does what ``colorize.predict`` does, without PyTorch: the photo's lightness L, scaled so that its
shorter side is the working size, goes through the network; the predicted chroma is upsampled to
the photo's size and joined with its full-resolution L; colours outside the sRGB gamut lose chroma,
not lightness. The colour space, its normalisation and the working size are read from the model's
metadata (written by ``colorize.export``). The output matches ``colorize.predict`` to within one
level of 8-bit RGB on nearly every pixel (``tests/test_export.py`` measures it).

This file imports nothing from colorize or torch, so it can be copied next to a model and run on a
machine that has neither: that is why the colour conversions below are written again in numpy (the
same formulas and constants as kornia's, which ``colorize.spaces`` uses).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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

    def predict_chroma(self, lightness: np.ndarray) -> np.ndarray:
        """Normalised L (B, 1, H, W) float32 -> normalised chroma (B, 2, H, W)."""
        return self.session.run(None, {self.input_name: np.ascontiguousarray(lightness, dtype=np.float32)})[0]

    def colorize(self, rgb: np.ndarray, size: int | None = None) -> np.ndarray:
        """uint8 RGB (H, W, 3) -> its colorization, uint8 RGB of the same size; chroma predicted at ``size``."""
        height, width = rgb.shape[:2]
        big_l = rgb_to_lightness(rgb.astype(np.float32) / 255.0, self.space)
        lightness = (big_l - self.lightness_offset) / self.lightness_scale
        small = resize(lightness, working_shape(height, width, self.working_size if size is None else size))
        chroma = self.predict_chroma(small[None, None])[0]
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
    args = parser.parse_args(argv)
    photo, output = Path(args.photo), Path(args.output)
    try:
        if output.exists() and output.resolve() == photo.resolve():
            raise OnnxPredictError(f"{output} is the input photo. Choose another OUTPUT.")
        if output.exists() and not args.overwrite:
            raise OnnxPredictError(f"{output} exists. Choose another OUTPUT, or pass --overwrite.")
        colorizer = OnnxColorizer(args.model)
        colour = colorizer.colorize(read_rgb(photo), args.size)
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
