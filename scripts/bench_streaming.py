"""Measure streaming data sets beside the folder and cache loaders, on this machine.

    python scripts/bench_streaming.py [--photos 96] [--workers 1] [--out runs/bench-streaming]

Makes a folder of JPEG photos (colorize.bench.photos, 1024x768 to 2048x1536), then:
  * writes it as a streaming data set (make prepare ... data.stream_to) with JPEG quality 90 and 95 and as raw
    uint8: time, images/s and bytes per image of each;
  * measures images/s delivered as uint8 training batches (what a GPU receives) by data=folder with
    data.prepare_size, the data.cache_dir cache, and data=streaming from each encoding.
Prints a Markdown table and writes results.json under --out.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from colorize.bench.measure import loader_throughput
from colorize.bench.photos import make_photos
from colorize.config import load_config
from colorize.prepare import prepare

PREPARE_SIZE, CROP, BATCH = 288, 256, 32
ENCODINGS = {"jpeg q90": ["data.stream_quality=90"], "jpeg q95": ["data.stream_quality=95"], "raw": ["data.stream_encoding=raw"]}


def stream_dir(out: Path, encoding: str) -> Path:
    return out / f"stream-{encoding.replace(' ', '-')}"


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=96)
    parser.add_argument("--workers", type=int, default=1, help="loader and prepare workers")
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--out", default="runs/bench-streaming")
    args = parser.parse_args()
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"{out} exists; give another --out")
    photos = out / "photos"
    results: dict = {"photos": make_photos(photos, args.photos), "prepare": {}, "loaders": {}}
    base = ["data=folder", f"data.root={photos}", f"data.prepare_size={PREPARE_SIZE}", f"data.num_workers={args.workers}"]
    base += ["data.val_fraction=0.05", f"data.batch_size={BATCH}", f"data.crop_size={CROP}"]

    for name, settings in ENCODINGS.items():
        stream = stream_dir(out, name)
        started = time.perf_counter()
        report = prepare(load_config([*base, f"data.stream_to={stream}", *settings]), progress=False)
        seconds = time.perf_counter() - started
        images = sum(report.written.values())
        results["prepare"][name] = {
            "seconds": round(seconds, 1),
            "images_per_s": round(images / seconds, 1),
            "kb_per_image": round(folder_size(stream) / images / 1024, 1),
        }
        print(name, results["prepare"][name], flush=True)

    cache = out / "cache"
    prepare(load_config([*base, f"data.cache_dir={cache}"]), progress=False)
    streaming = ["data=streaming", "data.train_crops_per_image=1", "data.val_crops_per_image=1"]
    pipelines = {
        "folder, prepare_size": (),
        "folder, cache_dir": (f"data.cache_dir={cache}",),
        **{f"streaming, {name}": (*streaming, f"data.root={stream_dir(out, name)}") for name in ENCODINGS},
    }
    common = dict(batch_size=BATCH, crop_size=CROP, workers=args.workers, warmup=2, batches=args.batches, conversions=("none",))
    for name, overrides in pipelines.items():
        overrides = (f"data.prepare_size={PREPARE_SIZE}", *overrides)
        measured = loader_throughput("colorize", photos, **common, data_overrides=overrides)
        results["loaders"][name] = measured["images_per_s"]["none"]
        print(name, results["loaders"][name], "img/s", flush=True)

    (out / "results.json").write_text(json.dumps(results, indent=1))
    kb = results["photos"]["mean_file_kb"]
    print(f"\n{args.photos} photos ({kb} KB each), prepare_size {PREPARE_SIZE}, {args.workers} worker(s)")
    print("| encoding | prepare images/s | KB per image |\n|---|---|---|")
    for name, row in results["prepare"].items():
        print(f"| {name} | {row['images_per_s']} | {row['kb_per_image']} |")
    print(f"\n| loader ({BATCH} x {CROP}² uint8 crops) | images/s |\n|---|---|")
    for name, rate in results["loaders"].items():
        print(f"| {name} | {rate} |")


if __name__ == "__main__":
    main()
