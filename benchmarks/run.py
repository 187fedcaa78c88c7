"""Benchmark colorize on this machine: ``python -m benchmarks [--quick] [--sections ...] [--out FILE.md]``.

Each comparison is measured side by side in one run and reported as a ratio or a difference (machines are noisy):
the data pipeline against pix2pix's, with a streaming data set (LitData) in each encoding beside them; training
throughput of every model x space (and, when there is a GPU: eager against each torch.compile mode, cudnn.benchmark
off, batch 32 against the largest batch that fits, MFU against a bf16 matmul peak measured in the same run, and a
resident batch against each loader; the CPU rows are then cut to one); the latency of ``predict`` on a 1024x768 photo;
the cold start of commands as fresh processes beside a bare ``import torch`` or ``pass``; and the peak memory of each
measurement. ``--quick`` runs every section at toy sizes, to check that the benchmark works, not to measure. Writes a
Markdown report and the same numbers as JSON beside it, under runs/ unless ``--out`` says where.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

from benchmarks import measure, startup
from benchmarks.photos import QUICK_SIZES, SIZES, make_photos
from benchmarks.report import write_report
from colorize.config import load_config
from colorize.data.crops import loader_workers
from colorize.data.prepare import prepare
from colorize.data.registry import DataOptions
from colorize.models import FAMILIES
from colorize.spaces import SPACES as COLOR_SPACES

MODELS = tuple(FAMILIES)
SECTIONS = ("data", "training", "inference", "startup")
# The model whose checkpoint the cold start of predict loads: the config's default.
DEFAULT_MODEL = load_config([]).model.name
# The GPU's baseline setting: eager, bf16-mixed, channels_last, on a batch already on the device.
RESIDENT = "bf16 + channels_last"
SPACES = tuple(COLOR_SPACES)
PACKAGES = ("torch", "torchvision", "lightning", "timm", "kornia", "scikit-image", "pillow", "numpy", "litdata")
# Every way make prepare can write a streaming data set (data.stream_encoding), each measured beside the others.
STREAM_ENCODINGS = next(f for f in fields(DataOptions) if f.name == "stream_encoding").metadata["choices"]
DEFAULT_STREAM = f"streaming {DataOptions.stream_encoding}"


@dataclass(frozen=True)
class Plan:
    photos: int = 128
    photo_sizes: tuple = SIZES
    batch_size: int = 32
    crop_size: int = 256
    prepare_size: int = 288  # a little above the crop, as pix2pix's 286 for 256
    pix2pix_load_size: int = 286
    loader_warmup: int = 2
    loader_batches: int = 6
    rounds: int = 3
    compiled_conversion: bool = True
    train_size: int = 256
    train_batch_size: int = 32
    train_warmup: int = 1
    train_steps: int = 2
    lever_rounds: int = 2
    gpu_warmup: int = 5
    gpu_steps: int = 20
    compile_modes: tuple = ("default", "reduce-overhead", "max-autotune-no-cudagraphs")
    max_batch: int = 1024  # the largest batch tried when looking for the largest that fits on the GPU
    matmul_size: int = 8192
    matmul_repeats: int = 50
    inference_photo: tuple = (1024, 768)
    inference_size: int = 256
    inference_repeats: int = 5
    cold_rounds: int = 5  # fresh processes of each command, round by round


FULL = Plan()
QUICK = Plan(
    photos=12,
    photo_sizes=QUICK_SIZES,
    batch_size=4,
    crop_size=64,
    prepare_size=72,
    pix2pix_load_size=72,
    loader_warmup=1,
    loader_batches=2,
    rounds=1,
    compiled_conversion=False,
    train_size=64,
    train_batch_size=4,
    train_steps=1,
    lever_rounds=1,
    gpu_warmup=2,
    gpu_steps=3,
    compile_modes=("default",),
    max_batch=16,
    matmul_size=1024,
    matmul_repeats=5,
    inference_photo=(640, 480),
    inference_size=64,
    inference_repeats=1,
    cold_rounds=2,
)

# Dense bf16 tensor-core peaks (TFLOP/s) from the vendors' data sheets; the first name found in the device's name wins.
BF16_PEAK_TFLOPS = {
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "H100": 989.4,
    "GH200": 989.4,
    "H200": 989.4,
    "B200": 2250.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L40": 181.0,
    "L4": 121.0,
    "A10G": 70.0,
    "A10": 125.0,
}


def bf16_peak_tflops(gpu_name: str) -> float | None:
    return next((peak for name, peak in BF16_PEAK_TFLOPS.items() if name in gpu_name), None)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def cpuinfo(field: str) -> str | None:
    """The value of ``field`` for the first CPU in /proc/cpuinfo (Linux), or None."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(field)), None)


def cpu_model() -> str:
    return cpuinfo("model name") or platform.processor() or platform.machine()


def cpu_bf16_units() -> list[str]:
    """The CPU's bf16 matrix units, from the flags Linux lists: bf16 training on the CPU pays only with one."""
    flags = (cpuinfo("flags") or "").split()
    return [flag for flag in ("amx_bf16", "avx512_bf16") if flag in flags]


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Bench:
    """Runs each measurement in its own forked process; this process itself never runs torch code (a child
    forked after OpenMP has run can hang in its first parallel region)."""

    def __init__(
        self, plan: Plan, work: Path, quick: bool, peak_tflops: float | None, sections: tuple[str, ...] = SECTIONS
    ) -> None:
        self.plan = plan
        self.sections = sections
        self.work = work
        self.quick = quick
        self.peak_tflops = peak_tflops
        self.errors: list[str] = []
        self.photos = work / "photos"
        self.cache = work / "cache"
        self.streams = {encoding: work / f"stream-{encoding}" for encoding in STREAM_ENCODINGS}
        self.streaming_loaders = tuple(f"streaming {encoding}" for encoding in STREAM_ENCODINGS)
        self.data_overrides = {
            "full": (),
            "reduced": (f"data.prepare_size={plan.prepare_size}",),
            "cached": (f"data.prepare_size={plan.prepare_size}", f"data.cache_dir={self.cache}"),
            **{
                name: ("data=streaming", f"data.root={stream}")
                for name, stream in zip(self.streaming_loaders, self.streams.values())
            },
        }

    def measure(self, what: str, fn, *args, **kwargs) -> dict:
        say(what)
        result = measure.isolated(fn, *args, **kwargs)
        if "error" in result:
            self.errors.append(f"{what}: {result['error']}")
            say(f"  failed: {result['error'].strip().splitlines()[-1]}")
        result["load_average"] = load_average()
        return result

    # ------------------------------------------------------------ sections

    def meta(self, device: dict) -> dict:
        return {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "mode": "quick" if self.quick else "full",
            "command": " ".join(["python -m benchmarks", *sys.argv[1:]]),
            "commit": git_commit(),
            "cpu": cpu_model(),
            "cpu_bf16_units": cpu_bf16_units(),
            "cpu_cores": os.cpu_count(),
            "torch_threads": device.get("cpu_threads"),
            "python": platform.python_version(),
            "versions": {name: version(name) for name in PACKAGES},
            "device": device,
            "plan": asdict(self.plan),
        }

    def stream_repeats(self) -> int:
        """How many times each photo goes into the streamed data sets (linked under other names), so that an epoch,
        one crop per image, outlasts every measurement as it would on a data set of real size: a measurement that
        spans epochs would time the loader's restarts (with the 90% training split and drop_last, 0.8 is safe)."""
        plan = self.plan
        needed = max(
            (plan.loader_warmup + plan.loader_batches) * plan.batch_size,
            (plan.train_warmup + plan.train_steps) * plan.train_batch_size,
            (plan.gpu_warmup + plan.gpu_steps) * plan.train_batch_size,
        )
        return math.ceil(needed / (0.8 * plan.photos))

    def make_data(self) -> dict:
        plan = self.plan
        say(f"making {plan.photos} JPEG photos")
        photos = measure.isolated(make_photos, self.photos, plan.photos, plan.photo_sizes)
        photos.pop("peak_rss_mb", None)
        folder = [
            "data=folder",
            f"data.root={self.photos}",
            f"data.crop_size={plan.crop_size}",
            f"data.batch_size={plan.batch_size}",
        ]
        cfg = load_config([*folder, *self.data_overrides["cached"]])
        started = time.perf_counter()
        report = measure.isolated(lambda: {"written": prepare(cfg.data).written})
        photos["prepare_s"] = round(time.perf_counter() - started, 1)
        photos["prepare_written"] = report.get("written")
        photos["cache_mb"] = round(sum(p.stat().st_size for p in self.cache.glob("*.pack")) / 2**20, 1)
        photos["photos_mb"] = round(sum(p.stat().st_size for p in self.photos.glob("*.jpg")) / 2**20, 1)
        repeats = self.stream_repeats()
        linked = self.work / "photos-repeated"
        linked.mkdir(exist_ok=True)
        for photo in sorted(self.photos.glob("*.jpg")):
            for copy in range(repeats):
                (linked / f"{photo.stem}-{copy}.jpg").symlink_to(photo.resolve())
        photos["stream_repeats"] = repeats
        photos["streams"] = {
            encoding: self.measure_stream_writing(
                load_config(
                    [
                        *folder,
                        f"data.root={linked}",
                        f"data.prepare_size={plan.prepare_size}",
                        f"data.stream_to={self.streams[encoding]}",
                        f"data.stream_encoding={encoding}",
                    ]
                )
            )
            for encoding in STREAM_ENCODINGS
        }
        return photos

    def measure_stream_writing(self, cfg) -> dict:
        """``make prepare`` with ``data.stream_to``: the photos the cache holds, as LitData chunks; its time and size."""
        data = cfg.data
        say(f"writing the photos as a streaming data set, {data.stream_encoding}")
        started = time.perf_counter()
        report = measure.isolated(lambda: {"written": prepare(cfg.data, progress=False).written})
        seconds = time.perf_counter() - started
        images = sum((report.get("written") or {}).values())
        stored = sum(p.stat().st_size for p in Path(data.stream_to).rglob("*") if p.is_file())
        return {
            "quality": data.stream_quality if data.stream_encoding == "jpeg" else None,
            "written": report.get("written"),
            "prepare_s": round(seconds, 1),
            "prepare_images_per_s": round(images / seconds, 1) if images else None,
            "kb_per_image": round(stored / images / 1024, 1) if images else None,
            "mb": round(stored / 2**20, 1),
        }

    def data_pipeline(self) -> dict:
        plan = self.plan
        workers = loader_workers()
        common = dict(
            batch_size=plan.batch_size,
            crop_size=plan.crop_size,
            workers=workers,
            warmup=plan.loader_warmup,
            batches=plan.loader_batches,
        )
        pipelines = {
            "pix2pix": dict(load_size=plan.pix2pix_load_size),
            "full": dict(data_overrides=self.data_overrides["full"]),
            "reduced": dict(data_overrides=self.data_overrides["reduced"]),
            "cached": dict(
                data_overrides=self.data_overrides["cached"],
                conversions=("none", "eager", "compiled") if plan.compiled_conversion else ("none", "eager"),
            ),
            **{name: dict(data_overrides=self.data_overrides[name]) for name in self.streaming_loaders},
        }
        rounds = []
        for round_index in range(plan.rounds):
            rounds.append(
                {
                    name: self.measure(
                        f"data pipeline, round {round_index + 1}/{plan.rounds}: {name}",
                        measure.loader_throughput,
                        "pix2pix" if name == "pix2pix" else "colorize",
                        self.photos,
                        **common,
                        **options,
                    )
                    for name, options in pipelines.items()
                }
            )
        return {"workers": workers, "rounds": rounds}

    def training(self, device: dict) -> dict:
        plan = self.plan
        size, batch = plan.train_size, plan.train_batch_size
        steps = dict(batch_size=batch, crop_size=size, warmup=plan.train_warmup, steps=plan.train_steps)
        result: dict[str, Any] = {"batch_size": batch, "crop_size": size, "flops": {}, "cpu": [], "gpu": None}
        for model in MODELS:
            counted = self.measure(f"FLOPs of a {model} training step", measure.flops_per_image, model, "lab", size)
            result["flops"][model] = counted.get("flops_per_image")
        # With a GPU the CPU rows are only a check that CPU training runs: one model, one space, no levers.
        cpu_runs = [("cnn", "lab")] if device.get("cuda") else [(m, s) for m in MODELS for s in SPACES]
        for model, space in cpu_runs:
            row = self.measure(
                f"CPU training {model} {space}", measure.training_throughput, model, space, accelerator="cpu", **steps
            )
            result["cpu"].append({"model": model, "space": space, **row})
        # The levers on the CPU, for cnn lab: each round measures the default and every lever in turn.
        levers: dict[str, dict] = {
            "default": {},
            "contiguous": {"overrides": ("trainer.channels_last=false",)},
            "bf16": {"overrides": ("trainer.precision=bf16-mixed",)},
            "with data (cached)": {
                "photos": self.photos,
                "data_overrides": (*self.data_overrides["cached"], "data.train_crops_per_image=4"),
            },
            f"with data ({DEFAULT_STREAM})": {"photos": self.photos, "data_overrides": self.data_overrides[DEFAULT_STREAM]},
        }
        result["lever_rounds"] = [
            {
                setting: self.measure(
                    f"CPU training cnn lab, round {index + 1}/{plan.lever_rounds}: {setting}",
                    measure.training_throughput,
                    "cnn",
                    "lab",
                    accelerator="cpu",
                    **options,
                    **steps,
                )
                for setting, options in levers.items()
            }
            for index in range(0 if device.get("cuda") else plan.lever_rounds)
        ]
        if device.get("cuda"):
            result["gpu"] = self.gpu_training(device, result["flops"])
        return result

    def gpu_training(self, device: dict, flops: dict) -> dict:
        """Side by side on the GPU, for each model: eager on a resident batch (the baseline) in each space, each
        compile mode, cudnn.benchmark off, the largest batch that fits, and batches from each loader."""
        plan = self.plan
        matmul = self.measure("bf16 matmul peak", measure.matmul_peak, plan.matmul_size, plan.matmul_repeats)
        peak = matmul.get("tflops") or self.peak_tflops or bf16_peak_tflops(device["gpu"])
        peak_source = "measured" if matmul.get("tflops") else ("--peak-tflops" if self.peak_tflops else "data sheet")
        common = dict(accelerator="gpu", crop_size=plan.train_size, warmup=plan.gpu_warmup, steps=plan.gpu_steps)
        eager = ("trainer.precision=bf16-mixed", "trainer.channels_last=true", "trainer.compile=false")
        rows = []

        def add(model: str, space: str, setting: str, batch: int = plan.train_batch_size, **options: Any) -> dict:
            row = self.measure(
                f"GPU training {model} {space}, {setting}",
                measure.training_throughput,
                model,
                space,
                batch_size=batch,
                **common,
                **options,
            )
            if peak and flops.get(model) and "images_per_s" in row:
                row["mfu"] = round(flops[model] * row["images_per_s"] / (peak * 1e12), 4)
            rows.append({"model": model, "space": space, "setting": setting, "batch_size": batch, **row})
            return row

        for model in MODELS:
            for space in SPACES:
                add(model, space, RESIDENT, overrides=eager)
            for mode in plan.compile_modes:
                add(
                    model,
                    "lab",
                    f"compile {mode}",
                    overrides=(*eager[:2], "trainer.compile=true", f"trainer.compile_mode={mode}"),
                )
            add(model, "lab", "cudnn.benchmark off", overrides=(*eager, "trainer.benchmark=false"))
            largest = self.largest_batch(model, eager)
            if largest > plan.train_batch_size:
                add(model, "lab", f"batch {largest}, the largest that fits", batch=largest, overrides=eager)
            for loader in ("cached", "reduced", "full"):
                add(
                    model,
                    "lab",
                    f"with data ({loader})",
                    overrides=eager,
                    photos=self.photos,
                    data_overrides=(*self.data_overrides[loader], "data.train_crops_per_image=8"),
                )
            # a streamed data set is drawn once per image and epoch: its epochs are 8x shorter than the rows above
            add(
                model,
                "lab",
                f"with data ({DEFAULT_STREAM})",
                overrides=eager,
                photos=self.photos,
                data_overrides=self.data_overrides[DEFAULT_STREAM],
            )
        return {"peak_bf16_tflops": peak, "peak_source": peak_source, "matmul": matmul, "rows": rows}

    def largest_batch(self, model: str, overrides: tuple[str, ...]) -> int:
        """The largest power-of-two multiple of the batch size, up to ``max_batch``, that trains without running out
        of GPU memory (two steps each, in a fresh process)."""
        plan = self.plan
        fits, batch = plan.train_batch_size, plan.train_batch_size * 2
        while batch <= plan.max_batch:
            trial = self.measure(
                f"GPU training {model}: does batch {batch} fit?",
                measure.training_throughput,
                model,
                "lab",
                accelerator="gpu",
                batch_size=batch,
                crop_size=plan.train_size,
                warmup=1,
                steps=1,
                overrides=overrides,
            )
            if "error" in trial:
                if measure.is_out_of_memory(trial):
                    self.errors.pop()  # running out of memory is the answer looked for, not a failure
                break
            fits, batch = batch, batch * 2
        return fits

    def inference(self) -> dict:
        plan = self.plan
        width, height = plan.inference_photo
        folder = self.work / "inference"
        measure.isolated(make_photos, folder, 1, ((width, height),), seed=1)
        photo = folder / "photo0000.jpg"
        rows = []
        for model in MODELS:
            row = self.measure(
                f"predict latency, {model}",
                measure.predict_latency,
                model,
                photo,
                self.work / "predict",
                plan.inference_size,
                plan.inference_repeats,
            )
            rows.append({"model": model, **row})
        return {"photo": f"{width}x{height}", "size": plan.inference_size, "rows": rows}

    def startup(self) -> dict:
        """The cold start of predict on one photo (a checkpoint of the default model and the photo already on disk),
        of ``train --help``, a config error and a missing data folder, each a fresh process, beside a bare Python."""
        plan = self.plan
        width, height = plan.inference_photo
        folder = self.work / "startup"
        measure.isolated(make_photos, folder, 1, ((width, height),), seed=1)
        result: dict[str, Any] = {"model": DEFAULT_MODEL, "photo": f"{width}x{height}", "commands": {}}
        made = self.measure(f"a {DEFAULT_MODEL} checkpoint for the cold start", measure.checkpoint_made, DEFAULT_MODEL, folder)
        if "error" in made:
            return result
        photo, output, missing = folder / "photo0000.jpg", folder / "colour.png", folder / "no-such-folder"
        commands = startup.launches(Path(made["checkpoint"]), photo, output, missing)
        measured = self.measure(f"cold start, {plan.cold_rounds} rounds", startup.cold_start, commands, plan.cold_rounds)
        measured.pop("peak_rss_mb", None)  # the launching process's, not the commands'
        return result | measured

    def run(self) -> dict:
        started = time.monotonic()
        say("probing the device")
        device = measure.isolated(measure.device_info)
        results: dict[str, Any] = {"meta": self.meta(device)}
        results["meta"]["load_average_start"] = load_average()
        # the photos and streams of the data section, which training's "with data" rows read too
        results["photos"] = self.make_data() if {"data", "training"} & set(self.sections) else None
        results["data"] = self.data_pipeline() if "data" in self.sections else None
        results["training"] = self.training(device) if "training" in self.sections else None
        results["inference"] = self.inference() if "inference" in self.sections else None
        results["startup"] = self.startup() if "startup" in self.sections else None
        results["meta"]["load_average_end"] = load_average()
        results["meta"]["minutes"] = round((time.monotonic() - started) / 60, 1)
        results["errors"] = self.errors
        return results


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="toy sizes: checks that the benchmark runs (about a minute)")
    parser.add_argument(
        "--out",
        type=Path,
        help="the Markdown report, its JSON beside it (default runs/bench-DATE-TIME/benchmarks.md; --quick: runs/bench-quick/)",
    )
    parser.add_argument("--work", type=Path, help="where to make the photos and cache (default: a temporary folder)")
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        default=SECTIONS,
        help="measure only these (training also makes the data section's photos, which it reads)",
    )
    parser.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak, if it is not in the built-in table")
    return parser.parse_args(argv)


def default_out(quick: bool) -> Path:
    """A report of its own under runs/, dated, so that no run replaces another's (a quick run is a check: it does).
    Nothing under docs/ is written: a dated page there (docs/results/) copies from a report."""
    if quick:
        return Path("runs/bench-quick/benchmarks.md")
    return Path(time.strftime("runs/bench-%Y%m%d-%H%M%S/benchmarks.md"))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    out = args.out or default_out(args.quick)
    warnings.filterwarnings("ignore")
    os.environ["TQDM_DISABLE"] = "1"  # the progress bars of the tiny trainings that make checkpoints
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="colorize-bench-") as scratch:
        work = args.work or Path(scratch)
        results = Bench(QUICK if args.quick else FULL, work, args.quick, args.peak_tflops, tuple(args.sections)).run()
    write_report(results, out)
    say(f"wrote {out} and {out.with_suffix('.json')}")
    for error in results["errors"]:
        print(f"error: {error}", file=sys.stderr)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
