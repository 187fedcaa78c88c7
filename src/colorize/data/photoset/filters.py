"""What the photo set keeps: measures of each image, the reasons to drop one (small, cut-out, grey, flat, smooth, a
copy of another), and the JPEG each kept photo is saved as.

Colourfulness is colorize's own (:func:`colorize.metrics.colourfulness`, as evaluate and compare report it).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MIN_SIDE = 256  # shorter side, in the package; the measures are taken on a thumbnail of this shorter side
CUTOUT_MIN = 0.01  # share of transparent pixels from which an image is a cut-out object, not a photo of a scene
GREY_MAX = 5.0  # colourfulness (colorize.metrics.colourfulness, on 0-255 RGB) below which a photo is black-and-white
FLAT_MIN = 0.32  # share of pixels exactly equal to both neighbours from which an image is flat (a drawing, plain)
SMOOTH_MIN = 0.85  # share of pixels within 1/255 of both neighbours from which an image is smooth (a gradient)
DUPLICATE_MAX = 4.0  # mean absolute difference of 32x32 thumbnails (0-255) at or below which two images are copies


def thumbnail(image: Image.Image, side: int) -> np.ndarray:
    """RGB uint8, shorter side ``side``, by a box filter (each pixel the mean of those it covers)."""
    w, h = image.size
    scale = side / min(w, h)
    return np.asarray(image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX))


def still_share(rgb: np.ndarray, tolerance: int) -> float:
    """Share of pixels within ``tolerance`` (of 255, in every channel) of both their right and lower neighbours.

    With tolerance 0 this is high for a drawing or a plain image (even areas of one exact colour); with 1, also
    for a smooth gradient. A photo has noise and texture: here, photos with a large clear sky reach about 0.3
    with tolerance 0 and 0.6 with tolerance 1, and blurred backgrounds up to 0.83."""
    x = rgb.astype(np.int16)
    right = np.abs(x[:-1, 1:] - x[:-1, :-1]).max(axis=-1) <= tolerance
    down = np.abs(x[1:, :-1] - x[:-1, :-1]).max(axis=-1) <= tolerance
    return float((right & down).mean())


MEASURES = ("transparent", "colourfulness", "flatness", "smoothness")


def measure(image: Image.Image, transparent: float) -> dict[str, float]:
    import torch

    from colorize.metrics import colourfulness  # imports torch: only once images are measured

    rgb = thumbnail(image, MIN_SIDE)
    return {
        "transparent": round(transparent, 3),
        "colourfulness": round(float(colourfulness(torch.tensor(rgb).permute(2, 0, 1) / 255.0)), 2),
        "flatness": round(still_share(rgb, 0), 3),
        "smoothness": round(still_share(rgb, 1), 3),
    }


# Each reason to drop an image that measure() gives, in the order they are tried.
CRITERIA = (
    ("cutout", lambda m: m["transparent"] >= CUTOUT_MIN),
    ("grey", lambda m: m["colourfulness"] < GREY_MAX),
    ("flat", lambda m: m["flatness"] >= FLAT_MIN),
    ("smooth", lambda m: m["smoothness"] >= SMOOTH_MIN),
)
REASONS = ("unreadable", "small", *(name for name, _ in CRITERIA), "duplicate")


def open_rgb(data: bytes) -> tuple[Image.Image, float]:
    """An image as RGB the right way up (transparent parts over white), and its share of transparent pixels."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        transparent = float((np.asarray(image.getchannel("A")) < 250).mean())
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image).convert("RGB"), transparent
    return image.convert("RGB"), 0.0


def encode(image: Image.Image, max_side: int, quality: int) -> tuple[bytes, list[int]]:
    w, h = image.size
    if min(w, h) > max_side:
        scale = max_side / min(w, h)
        image = image.resize((round(w * scale), round(h * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, subsampling=0)
    return buffer.getvalue(), list(image.size)


def judge(candidates: list[dict], package: str, max_side: int, quality: int) -> tuple[list[dict], list[dict]]:
    """One package's candidates as kept photos (encoded for output) and dropped images, with measures and reason."""
    kept, dropped = [], []
    for c in candidates:
        record = {"package": package, "path": c["path"]}
        try:
            image, transparent = open_rgb(c["data"])
        except (UnidentifiedImageError, OSError, ValueError) as error:
            detail = "not an image format that Pillow reads" if isinstance(error, UnidentifiedImageError) else str(error)[:160]
            dropped.append({**record, "reason": "unreadable", "detail": detail})
            continue
        record["size"] = list(image.size)
        if min(image.size) < MIN_SIDE:
            dropped.append({**record, "reason": "small"})
            continue
        record.update(measure(image, transparent))
        reason = next((name for name, failed in CRITERIA if failed(record)), None)
        if reason:
            dropped.append({**record, "reason": reason})
            continue
        data, saved = encode(image, max_side, quality)
        thumb = np.asarray(image.resize((32, 32), Image.Resampling.BOX), dtype=np.float32)
        kept.append(
            {
                **record,
                "licence": c["licence"],
                "attribution": c["attribution"],
                "note": c["note"],
                "saved_size": saved,
                "jpeg": data,
                "thumb": thumb,
            }
        )
    return kept, dropped


def drop_duplicates(kept: list[dict]) -> tuple[list[dict], list[dict]]:
    """Keep the largest of images that are copies of one another (one picture at several sizes)."""
    unique: list[dict] = []
    copies = []
    for k in sorted(kept, key=lambda k: (-k["size"][0] * k["size"][1], k["package"], k["path"])):
        aspect = k["size"][0] / k["size"][1]
        original = next(
            (
                u
                for u in unique
                if abs(u["size"][0] / u["size"][1] / aspect - 1) < 0.03
                and np.abs(k["thumb"] - u["thumb"]).mean() <= DUPLICATE_MAX
            ),
            None,
        )
        if original is None:
            unique.append(k)
        else:
            copies.append(
                {
                    **{f: k[f] for f in ("package", "path", "size", *MEASURES)},
                    "reason": "duplicate",
                    "detail": f"copy of {original['package']}:{original['path']}",
                }
            )
    return unique, copies
