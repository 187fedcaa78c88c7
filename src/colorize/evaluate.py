"""Evaluate a checkpoint on a test set: ``python -m colorize.evaluate CKPT [--data FOLDER] [--fid-weights PATH]``.

Test set: every photo in FOLDER (searched recursively), or by default the sample photos that the
run held out for validation. Each photo is scaled so that its shorter side is ``--eval-size``
pixels (never enlarged) and colorized as ``colorize.predict`` does it: chroma at the working size,
joined with the photo's L. Every row is scored by the same rules, in one common space, whatever
space the model works in: PSNR and SSIM on RGB, mean CIEDE2000 ΔE over pixels, colourfulness CF
and ΔCF (see :func:`colorize.metrics.colourfulness`), and FID when Inception weights are given.

Reference rows, without which the numbers cannot be read:
  * ``grey``: the photo's L with zero chroma, the floor any colorizer must beat;
  * ``<space> round trip``: the true chroma through the same pipeline (encoded, normalised,
    scaled to the working size and back, decoded), the ceiling of a model in that space.

Writes ``metrics.json`` (default: ``<run>/evaluation/<checkpoint>-<test set>/``) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from colorize.config import load_config
from colorize.data import FolderImages, SampleImages, list_images
from colorize.errors import UserError
from colorize.files import atomic_write_text
from colorize.inference import colorize_lightness, colorize_rgb, network_predictor, resize, working_shape
from colorize.metrics import METRIC_LABELS, EvaluationMetrics
from colorize.models import ColorizerModule
from colorize.predict import load_for_inference, progress_interval, resolve_device, working_size
from colorize.runs import run_dir_of_checkpoint, saved_config
from colorize.spaces import SPACES, ColorSpace

DEFAULT_EVAL_SIZE = 256
Row = Callable[[Tensor], Tensor]  # RGB batch in [0, 1] -> its colorization, RGB in [0, 1]


class EvaluationError(UserError, ValueError):
    """A test set or output that cannot be used; the message says what to change."""


def model_row(module: ColorizerModule, size: int) -> Row:
    predict = network_predictor(module)
    return lambda rgb: colorize_rgb(module.space, rgb, predict, size)


def grey_row(space: ColorSpace) -> Row:
    def grey(rgb: Tensor) -> Tensor:
        lightness, _ = space.encode(rgb)
        return space.decode_grey(lightness)

    return grey


def round_trip_row(space: ColorSpace, size: int) -> Row:
    def round_trip(rgb: Tensor) -> Tensor:
        lightness, chroma = space.encode(rgb)
        return colorize_lightness(space, lightness, lambda small: resize(chroma, small.shape[-2:]), size)

    return round_trip


def reference_rows(space: ColorSpace, size: int) -> dict[str, Row]:
    """The grey baseline and the round trip through every colour space."""
    rows = {"grey": grey_row(space)}
    rows.update({f"{name} round trip": round_trip_row(other, size) for name, other in SPACES.items()})
    return rows


@torch.no_grad()
def score_rows(
    images: Iterable[Tensor], rows: dict[str, Row], eval_size: int, device: torch.device, fid_weights: str | None = None
) -> dict[str, dict[str, float]]:
    """Every row's metrics over ``images`` (uint8 RGB, (3, H, W) each), image by image."""
    scores = {name: EvaluationMetrics(fid_weights).to(device) for name in rows}
    for image in images:
        photo = image.to(device).unsqueeze(0).float() / 255.0
        rgb = resize(photo, working_shape(*photo.shape[-2:], eval_size)).clamp(0, 1)
        for name, row in rows.items():
            scores[name].update(row(rgb), rgb)
    return {name: metrics.compute() for name, metrics in scores.items()}


def load_test_set(checkpoint: str | Path, data: str | None) -> tuple[Any, dict[str, Any]]:
    """The test photos and a description of them: a folder, or the sample photos the run held out."""
    if data:
        root = Path(data).expanduser()
        paths = list_images(root) if root.is_dir() else []
        if not paths:
            raise EvaluationError(f"--data {data}: not a folder of photos (jpg, png, webp, bmp, tiff).")
        return FolderImages(paths), {"source": "folder", "path": str(root), "images": len(paths)}
    cfg = saved_config(checkpoint)
    if cfg is None or cfg.data.source != "sample":
        cfg = load_config([])  # the default sample data
    names = list(cfg.data.sample_val_images)
    return SampleImages(names), {"source": "sample", "names": names, "images": len(names)}


def default_output_dir(checkpoint: str | Path, test_set: dict[str, Any]) -> Path:
    label = Path(test_set["path"]).name if test_set["source"] == "folder" else "sample"
    run_dir = run_dir_of_checkpoint(checkpoint)
    return (run_dir / "evaluation" if run_dir else Path("evaluation")) / f"{Path(checkpoint).stem}-{label}"


def format_table(rows: dict[str, dict[str, float]]) -> str:
    metrics = [m for m in METRIC_LABELS if any(m in r for r in rows.values())]
    width = max(len(name) for name in rows) + 2
    lines = ["".ljust(width) + "".join(f"{METRIC_LABELS[m]:>11}" for m in metrics)]
    for name, values in rows.items():
        lines.append(name.ljust(width) + "".join(f"{values[m]:>11.4f}" if m in values else f"{'-':>11}" for m in metrics))
    return "\n".join(lines)


def evaluate(
    checkpoint: str | Path,
    data: str | None = None,
    out: str | Path | None = None,
    size: int | None = None,
    eval_size: int = DEFAULT_EVAL_SIZE,
    fid_weights: str | None = None,
    device: str = "auto",
) -> tuple[dict[str, Any], Path]:
    """Score a checkpoint and the reference rows on a test set; write the report (metrics.json), return it and its path."""
    torch_device = resolve_device(device)
    module = load_for_inference(checkpoint, torch_device)
    size = working_size(checkpoint, size)
    images, test_set = load_test_set(checkpoint, data)
    model_name = f"{module.model_cfg.name}-{module.space.name}"
    rows = {model_name: model_row(module, size), **reference_rows(module.space, size)}
    notes = []
    if not fid_weights:
        notes.append("FID skipped: no Inception weights given (--fid-weights PATH, with the fid extra installed).")
    elif len(images) < 2:
        notes.append("FID skipped: it needs at least 2 test images.")
    photos = tqdm((images.load(i) for i in range(len(images))), total=len(images), unit="photo", mininterval=progress_interval())
    report = {
        "checkpoint": str(checkpoint),
        "model": module.model_cfg.name,
        "space": module.space.name,
        "init": module.model_cfg.get("init"),
        "test_set": test_set,
        "protocol": {
            "eval_size": eval_size,
            "working_size": size,
            "delta_e": "CIEDE2000 on CIE Lab of the RGB images, mean over all pixels",
            "cf": "Hasler & Süsstrunk on uint8 RGB with |rg| and |yb| (as DDColor), mean over images",
            "delta_cf": "|mean CF of the colorizations - mean CF of the ground truths|",
        },
        "rows": score_rows(photos, rows, eval_size, torch_device, fid_weights),
        "notes": notes,
    }
    out_dir = Path(out).expanduser() if out else default_output_dir(checkpoint, test_set)
    path = out_dir / "metrics.json"
    atomic_write_text(path, json.dumps(report, indent=2) + "\n")
    return report, path


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m colorize.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="a colorize checkpoint, e.g. runs/<run>/checkpoints/best-*.ckpt")
    parser.add_argument("--data", help="a folder of test photos (default: the sample photos the run held out)")
    parser.add_argument("--out", help="folder for metrics.json (default: <run>/evaluation/<checkpoint>-<test set>)")
    parser.add_argument("--size", type=int, help="shorter side at which chroma is predicted (default: the run's crop size)")
    parser.add_argument(
        "--eval-size", type=int, default=DEFAULT_EVAL_SIZE, help="shorter side each test photo is scaled to; 0: native"
    )
    parser.add_argument(
        "--fid-weights", help="a local Inception weights file (pt_inception-2015-12-05); FID is skipped without it"
    )
    parser.add_argument("--device", default="auto", help="auto (a GPU if there is one), cpu, cuda, ...")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        report, path = evaluate(args.checkpoint, args.data, args.out, args.size, args.eval_size, args.fid_weights, args.device)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    images, size = report["test_set"]["images"], report["protocol"]["working_size"]
    print(f"{report['model']}-{report['space']} on {images} test image(s), chroma predicted at {size} px")
    print(format_table(report["rows"]))
    for note in report["notes"]:
        print(f"note: {note}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
