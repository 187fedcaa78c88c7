"""A folder of JPEG photos at realistic sizes and file sizes, made from scikit-image's sample photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from colorize.data.sources.sample import SampleImages

SOURCES = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "immunohistochemistry")
# Landscape (width, height); every third photo is turned to portrait.
SIZES = ((1024, 768), (1600, 1200), (2048, 1536))
QUICK_SIZES = ((640, 480), (800, 600))


def make_photos(folder: Path, count: int, sizes=SIZES, seed: int = 0, quality: int = 90) -> dict:
    """``count`` JPEGs in ``folder``: a sample photo cropped, scaled up, with mild sensor noise.

    The noise gives the files the entropy of real photos (1.5 to 2 bits per pixel at quality 90; a
    smooth upscaled image would compress, and decode, unrealistically well).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sources = SampleImages(SOURCES)
    total_bytes = total_pixels = 0
    for i in range(count):
        width, height = sizes[i % len(sizes)]
        if i % 3 == 2:
            width, height = height, width
        source = sources.load(i % len(sources)).permute(1, 2, 0).numpy()
        h, w = source.shape[:2]
        top, left = rng.integers(0, h // 8 + 1), rng.integers(0, w // 8 + 1)
        crop = Image.fromarray(source[top : top + h - h // 8, left : left + w - w // 8])
        photo = np.asarray(crop.resize((width, height), Image.BICUBIC), dtype=np.float32)
        photo = np.clip(photo + rng.normal(0, 3.0, photo.shape), 0, 255).astype(np.uint8)
        path = folder / f"photo{i:04d}.jpg"
        Image.fromarray(photo).save(path, quality=quality)
        total_bytes += path.stat().st_size
        total_pixels += width * height
    return {
        "count": count,
        "sizes": [f"{w}x{h}" for w, h in sizes],
        "jpeg_quality": quality,
        "mean_file_kb": round(total_bytes / count / 1024, 1),
        "bits_per_pixel": round(8 * total_bytes / total_pixels, 2),
    }
