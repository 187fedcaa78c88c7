"""The benchmark's report: Markdown for people, JSON beside it with every number measured."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import median
from typing import Any

from benchmarks.startup import GOAL_PREDICT_OVER_TORCH_S, HEAVY
from colorize.files import atomic_write_text
from colorize.networks.bodies import ResNetOptions

PIPELINES = {
    "pix2pix": "pix2pix's ColorizationDataset: PIL decode, resize to {load}², random crop, rgb2lab, per image",
    "full": "colorize, photos at full size (torchvision decode)",
    "reduced": "colorize, `data.prepare_size={prepare}` resized on load (reduced-size JPEG decode)",
    "cached": "colorize, `data.prepare_size={prepare}` + `data.cache_dir` (read from the `make prepare` cache)",
}
STREAMING = "colorize, `data=streaming`: LitData chunks of the photos at `data.prepare_size={prepare}`, {encoding}"
CONVERSIONS = {"none": "loader alone", "eager": "+ conversion, eager", "compiled": "+ conversion, compiled"}
GOAL_DATA_RATIO = 5.0
GOAL_MFU = 0.30
GOAL_LATENCY_S = 1.0


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def fmt(value: Any, digits: int = 1, suffix: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{suffix}"
    return f"{value}{suffix}"


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines + [""]


def verdict(met: bool | None) -> str:
    return {True: "**met**", False: "**not met**", None: "not measured"}[met]


# ---------------------------------------------------------------- summaries


def data_summary(data: dict) -> dict:
    """Median images/s over the rounds for each pipeline and conversion, and the median of the per-round
    ratios to pix2pix's pipeline (both sides of each ratio come from the same round)."""
    summary: dict[str, dict] = {}
    for name in data["rounds"][0]:
        speeds: dict[str, list[float]] = {}
        ratios: dict[str, list[float]] = {}
        for round_ in data["rounds"]:
            baseline = round_["pix2pix"].get("images_per_s", {}).get("none")
            for conversion, speed in round_[name].get("images_per_s", {}).items():
                speeds.setdefault(conversion, []).append(speed)
                if baseline:
                    ratios.setdefault(conversion, []).append(speed / baseline)
        summary[name] = {
            "images_per_s": {c: round(median(v), 1) for c, v in speeds.items()},
            "ratio_to_pix2pix": {c: round(median(v), 2) for c, v in ratios.items()},
        }
    return summary


def lever_summary(rounds: list[dict]) -> dict:
    """For each CPU lever: median images/s and step time over the rounds, and the median of the per-round
    ratios to the default measured in the same round."""
    summary = {}
    for setting in rounds[0]:
        rows = [round_[setting] for round_ in rounds if "images_per_s" in round_[setting]]
        ratios = [
            round_[setting]["images_per_s"] / round_["default"]["images_per_s"]
            for round_ in rounds
            if "images_per_s" in round_[setting] and "images_per_s" in round_["default"]
        ]
        summary[setting] = {
            "images_per_s": round(median(r["images_per_s"] for r in rows), 2) if rows else None,
            "step_s": round(median(r["step_s"] for r in rows), 2) if rows else None,
            "ratio_to_default": round(median(ratios), 2) if ratios else None,
        }
    return summary


def best_data_ratio(summary: dict) -> tuple[float | None, str | None]:
    """The best ratio of a colorize pipeline to pix2pix's with the conversion included."""
    best = (None, None)
    for name, row in summary.items():
        for conversion in ("eager", "compiled"):
            value = row["ratio_to_pix2pix"].get(conversion)
            if name != "pix2pix" and value is not None and (best[0] is None or value > best[0]):
                best = (value, f"{name}, {CONVERSIONS[conversion]}")
    return best


# ---------------------------------------------------------------- sections


def header_section(results: dict) -> list[str]:
    meta = results["meta"]
    device = meta["device"]
    gpu = device.get("gpu") or "none"
    versions = ", ".join(f"{name} {v}" for name, v in meta["versions"].items())
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{meta['command']}` ({meta['mode']} run) on {meta['date']}, commit {meta['commit'] or 'unknown'}.",
        f"It took {fmt(meta.get('minutes'), 0)} minutes. Regenerate with `make bench`; `make bench-quick` checks that it runs.",
        "",
        f"- **CPU:** {meta['cpu']}, {meta['cpu_cores']} cores, {meta['torch_threads']} torch threads.",
        f"- **GPU:** {gpu}.",
        f"- **Load average** (1, 5, 15 min) at the start {meta['load_average_start']}, at the end {meta['load_average_end']}; "
        "each measurement records its own in the JSON. The machine is shared, so each comparison is measured "
        "side by side in the same run and reported as a ratio.",
        f"- **Versions:** Python {meta['python']}, {versions}.",
        "",
    ]
    if meta["mode"] == "quick":
        lines += ["**This is a `--quick` run at toy sizes: it checks that the benchmark works; its numbers mean nothing.**", ""]
    return lines


def goals_section(results: dict, summary: dict) -> list[str]:
    best, where = best_data_ratio(summary)
    data = "" if results["data"] is None else f" ({results['data']['workers']} loader worker(s))"
    gpu = (results["training"] or {}).get("gpu")
    mfu = None
    if gpu:
        values = [r["mfu"] for r in gpu["rows"] if r["model"] == "resnet" and "mfu" in r and "with data" not in r["setting"]]
        mfu = max(values) if values else None
    latency = {r["model"]: r.get("median_s") for r in (results["inference"] or {"rows": []})["rows"]}
    fast_enough = [latency.get(m) for m in ("cnn", "resnet")]
    rows = [
        [
            f"Data pipeline ≥ {GOAL_DATA_RATIO:g}× pix2pix's{data}",
            f"{fmt(best, 2, '×')} ({where})" if best else "–",
            verdict(None if best is None else best >= GOAL_DATA_RATIO),
        ],
        [
            f"resnet ≥ {GOAL_MFU:.0%} MFU on the GPU",
            fmt(mfu * 100 if mfu else None, 1, "%"),
            verdict(None if mfu is None else mfu >= GOAL_MFU),
        ],
        [
            f"predict < {GOAL_LATENCY_S:g} s for cnn and resnet (2 CPU cores)",
            ", ".join(f"{m} {fmt(v, 2, ' s')}" for m, v in zip(("cnn", "resnet"), fast_enough)),
            verdict(None if None in fast_enough else all(v < GOAL_LATENCY_S for v in fast_enough)),
        ],
        *startup_goals(results["startup"]),
    ]
    return ["## Goals", "", *table(["goal", "measured", "verdict"], rows)]


def startup_goals(startup: dict | None) -> list[list[str]]:
    """predict's cold start within ``import torch`` + the goal's seconds; no command imports what it must not."""
    commands = (startup or {}).get("commands", {})
    goal = (startup or {}).get("goal_predict_over_torch_s", GOAL_PREDICT_OVER_TORCH_S)
    predict = next((row for row in commands.values() if row.get("goal_over_baseline_s") is not None), None)
    over = predict.get("over_baseline_s") if predict else None
    timm = commands.get("import torch, timm", {}).get("over_baseline_s")
    checked = [(name, row) for name, row in commands.items() if row["must_not_import"]]
    bad = [f"{name} imports {', '.join(row['imported_against_goal'])}" for name, row in checked if row["imported_against_goal"]]
    return [
        [
            f"predict's cold start on one photo ≤ `import torch` + {goal:g} s",
            f"+{fmt(over, 2, ' s')} ({fmt(predict['median_s'], 2)} s against {fmt(commands['import torch']['median_s'], 2)} s)"
            + (f"; timm's import alone +{fmt(timm, 2, ' s')}" if timm is not None else "")
            if over is not None
            else "–",
            verdict(None if over is None else over <= goal),
        ],
        [
            "predict imports no Lightning; `train --help`, a config error and a missing data folder import none of torch, "
            "Lightning, timm",
            "; ".join(bad) or ("as required" if checked else "–"),
            verdict(None if not checked else not bad),
        ],
    ]


def data_section(results: dict, summary: dict) -> list[str]:
    plan = results["meta"]["plan"]
    photos = results["photos"]
    data = results["data"]
    names = {k: v.format(load=plan["pix2pix_load_size"], prepare=plan["prepare_size"]) for k, v in PIPELINES.items()}
    streams = photos.get("streams", {})
    for encoding, stream in streams.items():
        encoded = stream_encoding(encoding, stream)
        names[f"streaming {encoding}"] = STREAMING.format(prepare=plan["prepare_size"], encoding=encoded)
    conversions = [c for c in CONVERSIONS if any(c in row["images_per_s"] for row in summary.values())]
    header = ["pipeline"]
    for conversion in conversions:
        header += [f"{CONVERSIONS[conversion]} (img/s)", "× pix2pix"]
    rows = []
    for name, row in summary.items():
        cells: list[Any] = [names[name]]
        for conversion in conversions:
            speed = row["images_per_s"].get(conversion)
            if name == "pix2pix" and conversion != "none":
                cells += ["", ""]
                continue
            cells += [fmt(speed), fmt(row["ratio_to_pix2pix"].get(conversion), 2, "×")]
        rows.append(cells)
    compile_s = [r["cached"].get("compile_s") for r in data["rounds"] if r["cached"].get("compile_s") is not None]
    lines = [
        "## 1. Data pipeline",
        "",
        f"Training batches of {plan['batch_size']} random {plan['crop_size']}² crops (with flips) from "
        f"{photos['count']} JPEG photos of {', '.join(photos['sizes'])} (every third one portrait; quality "
        f"{photos['jpeg_quality']}, {photos['bits_per_pixel']} bits per pixel, {photos['mean_file_kb']} KB on average), "
        f"in images/s; median of {plan['rounds']} rounds, each of which measures every pipeline in turn; each "
        f"measurement times {plan['loader_batches']} batches after {plan['loader_warmup']} of warm-up. "
        f"Both sides use the project's default number of loader workers here, {data['workers']}; the files are in the "
        "OS page cache, as after a first epoch.",
        "",
        *table(header, rows),
        "- **pix2pix** is a faithful copy of `ColorizationDataset.__getitem__` from pytorch-CycleGAN-and-pix2pix "
        f"with its default training preprocessing (`resize_and_crop`, `load_size` {plan['pix2pix_load_size']}, "
        f"`crop_size` {plan['crop_size']}, flips): PIL decodes the whole photo and resizes it to a square (aspect not "
        "kept), then `skimage.color.rgb2lab` converts the crop and L and ab are normalised, all inside the worker. "
        "Its batches arrive converted, so its one column is comparable with every colorize column.",
        "- **colorize** loaders yield uint8 RGB crops; the conversion to (L, chroma) of the whole batch happens on the "
        "device after transfer (`on_after_batch_transfer`). *Loader alone* is what a GPU receives (the conversion then "
        "runs on the GPU, a few elementwise kernels over the batch); the conversion columns include it on this CPU, "
        "as CPU training does, eager (kornia) or compiled (`trainer.compile=true`, the same kornia code through `torch.compile`"
        + (f", compiled in {fmt(median(compile_s))} s, outside the timing" if compile_s else "")
        + ").",
        f"- **What differs:** with `data.prepare_size={plan['prepare_size']}` crops come from the photo resized so that "
        f"its shorter side is {plan['prepare_size']} px (as pix2pix's resize to {plan['pix2pix_load_size']}, but keeping "
        "the aspect ratio); at full size they come from the photo itself. The cache holds exactly what resizing on load "
        "gives (tested), so the `reduced` and `cached` rows deliver the same crops.",
        "- **The cache** packs the resized photos into a few large files that every loader worker memory-maps: a "
        "worker draws each crop with a per-item splitmix64, copies it (flipped in the same copy) straight into a "
        "batch in shared memory, and hands over whole batches (`__getitems__`). "
        f"`make prepare` wrote {photos['prepare_written']} photos in {photos['prepare_s']} s "
        f"({photos['cache_mb']} MB of uint8 arrays for {photos['photos_mb']} MB of JPEGs).",
        "",
    ]
    if streams:
        lines += streaming_lines(streams, summary, photos["stream_repeats"])
    return lines


def stream_encoding(encoding: str, stream: dict) -> str:
    return f"JPEG quality {stream['quality']}" if stream.get("quality") else f"{encoding} uint8"


def streaming_lines(streams: dict, summary: dict, repeats: int) -> list[str]:
    """How each encoding of a streaming data set compares: what ``make prepare`` took to write it, its size, and
    what its loader delivers beside the cache's (median over the rounds, as in the table above)."""
    cached = summary.get("cached", {}).get("images_per_s", {}).get("none")
    rows, delivered = [], {}
    for encoding, stream in streams.items():
        delivered[encoding] = summary.get(f"streaming {encoding}", {}).get("images_per_s", {}).get("none")
        rows.append(
            [
                stream_encoding(encoding, stream),
                fmt(stream.get("prepare_s")),
                fmt(stream.get("prepare_images_per_s")),
                fmt(stream.get("kb_per_image")),
                fmt(stream.get("mb")),
                fmt(delivered[encoding]),
                fmt(ratio(delivered[encoding], cached), 2, "×"),
            ]
        )
    lines = [
        "**Streaming data sets** (`make prepare ... data.stream_to=...`, then `data=streaming`; see "
        "`colorize.data.sources.streaming`): "
        f"the same resized photos as the cache, each {repeats} times under other names, so that an epoch (one random crop, "
        "with its flip, per image) outlasts each measurement as on a data set of real size; written in each encoding, "
        "read back from a local folder by LitData's loader:",
        "",
        *table(["encoding", "prepare s", "prepare img/s", "KB per image", "MB", "loader alone (img/s)", "× cache"], rows),
    ]
    jpeg, raw = streams.get("jpeg"), streams.get("raw")
    if jpeg and raw and jpeg.get("kb_per_image") and raw.get("kb_per_image"):
        speed = ratio(delivered.get("jpeg"), delivered.get("raw"))
        lines += [
            f"- **JPEG is the default** because it stores {fmt(raw['kb_per_image'] / jpeg['kb_per_image'], 1)}× less "
            "than raw uint8: a data set bigger than a disk is read over the network, where the bytes, more than the "
            "decode, limit what arrives."
            + (f" Read from a local folder, as here, its loader delivers {fmt(speed, 2)}× raw's images/s." if speed else ""),
            "",
        ]
    return lines


def training_section(results: dict) -> list[str]:
    training = results["training"]
    flops = training["flops"]
    batch, size = training["batch_size"], training["crop_size"]

    def gflops_per_s(model: str, speed: float | None) -> str:
        return fmt((flops.get(model) or 0) / 1e9 * speed if speed and flops.get(model) else None, 0)

    cells = [
        [
            r["model"],
            r["space"],
            fmt(r.get("images_per_s"), 2),
            f"{fmt(r.get('step_s'), 2)} ({fmt(r.get('step_s_min'), 2)}–{fmt(r.get('step_s_max'), 2)})",
            gflops_per_s(r["model"], r.get("images_per_s")),
        ]
        for r in training["cpu"]
    ]
    levers = lever_summary(training["lever_rounds"]) if training["lever_rounds"] else {}
    training["lever_summary"] = levers
    lever_rows = [
        [
            setting,
            fmt(row["images_per_s"], 2),
            fmt(row["step_s"], 2),
            fmt(row["ratio_to_default"], 2, "×"),
            gflops_per_s("cnn", row["images_per_s"]),
        ]
        for setting, row in levers.items()
    ]
    flop_rows = [[m, fmt(f / 1e9 if f else None, 1)] for m, f in flops.items()]
    lines = [
        "## 2. Training throughput",
        "",
        f"Training batches of {batch} crops of {size}², through Lightning's `fit` exactly as `colorize.train` runs them "
        "(optimiser steps, schedulers, the GAN's two players), on a batch already on the device unless the setting says "
        f"*with data*. Random weights (resnet: {ResNetOptions.encoder}, `model.pretrained=false`).",
        "",
        "**FLOPs per training image** (forward and backward; for gan both players' steps), counted with "
        f"`torch.utils.flop_counter.FlopCounterMode` at {size}²:",
        "",
        *table(["model", "GFLOP per image"], flop_rows),
        f"**On this CPU** ({results['meta']['cpu_cores']} cores), with the default settings: fp32, "
        f"`trainer.channels_last=true`; the mean of {results['meta']['plan']['train_steps']} timed step(s) after "
        f"{results['meta']['plan']['train_warmup']} of warm-up:",
        "",
        *table(["model", "space", "img/s", "s per step (min–max)", "GFLOP/s"], cells),
        f"**The levers on this CPU**, for cnn lab, side by side: each of {len(training['lever_rounds'])} rounds measures "
        "the default and each lever in turn; × is the median of the per-round ratios to the default. (Absolute numbers "
        "drift between measurements taken minutes apart on a shared machine: compare the default here with cnn lab "
        "above. The ratios, measured side by side, are the figures to rely on.)",
        "",
        *(
            table(["setting", "img/s", "s per step", "× default", "GFLOP/s"], lever_rows)
            if lever_rows
            else ["(Not measured: the CPU sections are cut short when there is a GPU.)", ""]
        ),
        "- *contiguous*: `trainer.channels_last=false`, the memory layout before this change. *bf16*: "
        "`trainer.precision=bf16-mixed` (with channels_last); it pays on CPUs with AMX or AVX512-BF16 and is slow on "
        f"those without ({bf16_units(results['meta'])}), so it is not the CPU default. *with data (cached)*: batches from the "
        "loader over the photos above with `data.cache_dir`, instead of a batch already in memory; on 2 cores the "
        "loader's worker competes with the step for the CPU. *with data (streaming ...)*: the same from the streaming "
        "data set in the default encoding (section 1).",
        "",
    ]
    gpu = training.get("gpu")
    if not gpu:
        lines += [
            "**On a GPU: not measured.** No GPU was lent to the session that wrote this report. On a machine with CUDA, "
            "`make bench` measures, side by side, every model × space in bf16-mixed with channels_last on a batch "
            "already on the GPU; for each model eager against each `trainer.compile_mode` (default, reduce-overhead, "
            "max-autotune-no-cudagraphs), `trainer.benchmark=false`, batch 32 against the largest batch that fits, "
            "and the resident batch against each loader (cached, resized on load, full size, streaming), which shows "
            "whether the GPU waits on the loader; and the model FLOPs utilisation against a bf16 matmul peak measured "
            "in the same run.",
            "",
        ]
    else:
        lines += gpu_lines(gpu, flops)
    return lines


def bf16_units(meta: dict) -> str:
    units = meta.get("cpu_bf16_units")
    if units is None:
        return "this CPU's were not recorded"
    return f"this CPU has {' and '.join(units)}" if units else "this CPU has neither"


def gpu_lines(gpu: dict, flops: dict) -> list[str]:
    resident = {(r["model"], r["space"]): r for r in gpu["rows"] if r["setting"] == "bf16 + channels_last"}
    rows = []
    for r in gpu["rows"]:
        base = resident.get((r["model"], r["space"]))
        rows.append(
            [
                r["model"],
                r["space"],
                r["setting"],
                r.get("batch_size", "–"),
                fmt(r.get("images_per_s"), 0),
                fmt(r.get("step_s", 0) * 1000 if r.get("step_s") else None, 1),
                fmt(ratio(r.get("images_per_s"), base.get("images_per_s") if base else None), 2, "×"),
                fmt(r["mfu"] * 100 if r.get("mfu") is not None else None, 1, "%"),
                fmt(r.get("cuda_peak_allocated_mb"), 0),
            ]
        )
    peak = gpu.get("peak_bf16_tflops")
    matmul = gpu.get("matmul") or {}
    source = gpu.get("peak_source", "data sheet")
    how = f"a bf16 {matmul.get('size')}³ matmul measured in this run" if source == "measured" else source
    return [
        f"**On the GPU** (bf16 peak {fmt(peak, 0)} TFLOP/s, from {how}{'' if peak else ': unknown, so no MFU'}); "
        "eager unless the setting says compile; × is against eager bf16 + channels_last at the same model and space "
        "on a batch already on the GPU, so the *with data* rows show how much longer a step takes when the batch comes "
        "from the loader:",
        "",
        *table(["model", "space", "setting", "batch", "img/s", "ms per step", "×", "MFU", "CUDA peak MB"], rows),
    ]


def inference_section(results: dict) -> list[str]:
    inference = results["inference"]
    rows = [[r["model"], fmt(r.get("median_s"), 3), fmt(r.get("min_s"), 3)] for r in inference["rows"]]
    return [
        "## 3. Inference latency",
        "",
        f"`colorize.predict`'s path for one {inference['photo']} JPEG on the CPU: read it, predict chroma with the "
        f"shorter side at {inference['size']} px, join it with the full-resolution L (out-of-gamut colours mapped), write "
        f"a PNG; the checkpoint already loaded, median of {inference['rows'][0].get('repeats', '–')} runs after a warm-up. "
        "The whole command in a fresh process is section 4.",
        "",
        *table(["model", "median s", "min s"], rows),
    ]


def row_goal(row: dict) -> str:
    """A cold-start row's goal beside its measurement: time over its baseline, or the packages it must not import."""
    goal = row.get("goal_over_baseline_s")
    if goal is not None:
        over = row.get("over_baseline_s")
        return f"≤ `{row['baseline']}` + {goal:g} s: {verdict(None if over is None else over <= goal)}"
    if row["must_not_import"]:
        return f"imports none of {', '.join(row['must_not_import'])}: {verdict(not row['imported_against_goal'])}"
    return ""


def startup_section(results: dict) -> list[str]:
    startup = results["startup"]
    commands = startup.get("commands", {})
    if not commands:
        return ["## 4. Cold start", "", "Not measured: making its checkpoint failed (see Errors).", ""]
    rows = [
        [
            f"`{row['command']}`",
            fmt(row["median_s"], 2),
            f"{fmt(row['min_s'], 2)}–{fmt(row['max_s'], 2)}",
            f"+{fmt(row['over_baseline_s'], 2)} s, {fmt(row['times_baseline'], 2)}× `{row['baseline']}`"
            if row["baseline"]
            else "",
            ", ".join(row["imports"]) or "none of them",
            row_goal(row),
        ]
        for row in commands.values()
    ]
    messages = [f"`{row['command']}` answers `{row['message']}`." for row in commands.values() if row["message"]]
    written_off = startup.get("bytecode_writes_off_in_environment")
    return [
        "## 4. Cold start",
        "",
        f"Each command launched as a fresh process, as a user types it, timed from launch to exit: predict colours one "
        f"{startup['photo']} JPEG with a {startup['model']} checkpoint (the config's default model), both already on "
        "disk, at the checkpoint's crop size, on the default device. Beside each, a bare Python doing the least it "
        f"must. {startup['rounds']} rounds, each launching every command in turn; the median and the range over the "
        "rounds, and the median of the per-round differences to the baseline (both from the same round). Each command "
        "ran once before, untimed, under `python -X importtime`: that launch filled the OS page cache, wrote the "
        "compiled bytecode"
        + (" (`PYTHONDONTWRITEBYTECODE`, set here, is dropped for these launches, as on a usual install)" if written_off else "")
        + f", and tells which of {', '.join(HEAVY)} the command imports.",
        "",
        *table(["command", "median s", "min–max s", "over its baseline (median per round)", "imports", "goal"], rows),
        *([" ".join(messages), ""] if messages else []),
    ]


def memory_section(results: dict) -> list[str]:
    rows = []
    for index, round_ in enumerate((results["data"] or {"rounds": []})["rounds"]):
        for name, r in round_.items():
            rows.append(
                [
                    f"data pipeline: {name} (round {index + 1})",
                    fmt(r.get("peak_rss_mb"), 0),
                    fmt(r.get("worker_peak_rss_mb"), 0),
                    "–",
                ]
            )
    training = results["training"] or {"cpu": [], "lever_rounds": []}
    for r in training["cpu"]:
        rows.append([f"CPU training: {r['model']} {r['space']}", fmt(r.get("peak_rss_mb"), 0), "–", "–"])
    for index, round_ in enumerate(training["lever_rounds"]):
        for setting, r in round_.items():
            rows.append([f"CPU training: cnn lab, {setting} (round {index + 1})", fmt(r.get("peak_rss_mb"), 0), "–", "–"])
    for r in (training.get("gpu") or {}).get("rows", []):
        rows.append(
            [
                f"GPU training: {r['model']} {r['space']}, {r['setting']}",
                fmt(r.get("peak_rss_mb"), 0),
                "–",
                fmt(r.get("cuda_peak_allocated_mb"), 0),
            ]
        )
    for r in (results["inference"] or {"rows": []})["rows"]:
        rows.append([f"predict: {r['model']}", fmt(r.get("peak_rss_mb"), 0), "–", "–"])
    if not rows:
        return ["## 5. Peak memory", "", "Nothing measured in this run of a process of its own.", ""]
    return [
        "## 5. Peak memory",
        "",
        "Peak resident memory (VmHWM) of the process that made each measurement, in MB: imports (torch, Lightning) "
        "included, counted afresh in each measurement. A loader worker's peak counts the pages it shares with that "
        "process. On a GPU, `torch.cuda.max_memory_allocated`.",
        "",
        *table(["measurement", "process peak RSS", "loader worker peak RSS", "CUDA peak allocated"], rows),
    ]


def errors_section(results: dict) -> list[str]:
    if not results["errors"]:
        return []
    return ["## Errors", "", *[f"- {error.strip().splitlines()[-1]}" for error in results["errors"]], ""]


def not_run(heading: str) -> list[str]:
    return [f"## {heading}", "", "Not measured in this run (`--sections` left it out).", ""]


def render(results: dict) -> str:
    summary = data_summary(results["data"]) if results["data"] else {}
    if results["data"]:
        results["data"]["summary"] = summary
    sections = [
        header_section(results),
        goals_section(results, summary),
        data_section(results, summary) if results["data"] else not_run("1. Data pipeline"),
        training_section(results) if results["training"] else not_run("2. Training throughput"),
        inference_section(results) if results["inference"] else not_run("3. Inference latency"),
        startup_section(results) if results["startup"] else not_run("4. Cold start"),
        memory_section(results),
        errors_section(results),
    ]
    return "\n".join(line for section in sections for line in section).rstrip() + "\n"


def write_report(results: dict, out: Path) -> None:
    text = render(results)
    atomic_write_text(out, text)
    atomic_write_text(out.with_suffix(".json"), json.dumps(results, indent=2) + "\n")
