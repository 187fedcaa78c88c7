"""The measurements. Each runs in a forked child process (:func:`isolated`), so that its peak memory is its own.

Every function returns a plain dict for the JSON report; times are wall-clock seconds from
``time.perf_counter``, after warm-up, and on a GPU after ``torch.cuda.synchronize``.
"""

from __future__ import annotations

import gc
import multiprocessing
import resource
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import fields
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.pix2pix import pix2pix_loader
from colorize.config import load_config
from colorize.data.datamodule import ColorizationDataModule
from colorize.inference.loading import load_colorizer
from colorize.inference.photos import colorize_file
from colorize.inference.planning import PredictJob
from colorize.models import FAMILIES
from colorize.models.modules import build_module
from colorize.models.modules.base import encode_batch
from colorize.networks.bodies import BODIES
from colorize.spaces import get_space
from colorize.training.fit import train
from colorize.training.trainer import speed_up, trainer_kwargs

# ---------------------------------------------------------------- processes and memory


def reset_peak_rss() -> None:
    """Start this process's peak-RSS count afresh (Linux); elsewhere a forked child's peak includes its parent's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mb() -> float:
    """The largest peak RSS of this process's finished children (loader workers), pages shared with it included."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def isolated(fn: Callable[..., dict], *args: Any, **kwargs: Any) -> dict:
    """``fn(*args, **kwargs)`` in a forked child; its dict gains ``peak_rss_mb``, or is ``{"error": ...}``.

    The parent never runs torch code itself, so each child starts with fresh thread pools and no CUDA context.
    """
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)

    def child() -> None:
        reset_peak_rss()
        try:
            result = fn(*args, **kwargs)
            result["peak_rss_mb"] = round(peak_rss_mb(), 1)
            if torch.cuda.is_initialized():
                result["cuda_peak_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        except BaseException:  # reported, not raised: one failed measurement must not lose the others
            result = {"error": traceback.format_exc(limit=-4)}
        sender.send(result)
        sender.close()

    process = context.Process(target=child)
    process.start()
    sender.close()
    try:
        result = receiver.recv()
    except EOFError:
        result = {"error": "the measuring process died"}
    process.join()
    if process.exitcode and "error" not in result:
        result["error"] = f"the measuring process exited with code {process.exitcode}"
    return result


def device_info() -> dict:
    info: dict[str, Any] = {"cuda": torch.cuda.is_available(), "cpu_threads": torch.get_num_threads()}
    if info["cuda"]:
        props = torch.cuda.get_device_properties(0)
        info |= {"gpu": props.name, "gpu_memory_gb": round(props.total_memory / 2**30, 1), "bf16": torch.cuda.is_bf16_supported()}
    return info


# ---------------------------------------------------------------- data pipeline


def forever(loader: DataLoader) -> Iterator[Any]:
    while True:
        yield from loader


def project_datamodule(root: Path, batch_size: int, crop_size: int, *overrides: str) -> ColorizationDataModule:
    cfg = load_config(
        ["data=folder", f"data.root={root}", f"data.batch_size={batch_size}", f"data.crop_size={crop_size}", *overrides]
    )
    datamodule = ColorizationDataModule(cfg.data)
    datamodule.setup("fit")
    return datamodule


def loader_throughput(
    pipeline: str,
    root: Path,
    *,
    batch_size: int,
    crop_size: int,
    workers: int,
    warmup: int,
    batches: int,
    load_size: int = 286,
    data_overrides: tuple[str, ...] = (),
    conversions: tuple[str, ...] = ("none", "eager"),
) -> dict:
    """Images/s delivered as training batches, after ``warmup`` batches, for each way of converting them.

    ``pix2pix``: the baseline, whose batches come converted, over the files of the source's training photos.
    ``colorize``: the project's loader (uint8 RGB crops), then, as in training, the conversion to (L, chroma)
    of the whole batch on the device (here the CPU): ``none`` (what a GPU receives), ``eager`` or ``compiled``
    (``trainer.compile=true``).
    """
    datamodule = project_datamodule(root, batch_size, crop_size, f"data.num_workers={workers}", *data_overrides)
    if pipeline == "pix2pix":
        train_photos, _ = datamodule.source.photos(datamodule.cfg)
        loader = pix2pix_loader([Path(name) for name in train_photos.names], batch_size, workers, load_size, crop_size)
        conversions = ("none",)
        prepare = lambda batch: batch  # noqa: E731
    else:
        loader = datamodule.train_dataloader()
        prepare = partial(datamodule.on_before_batch_transfer, dataloader_idx=0)
    encode = partial(encode_batch, get_space("lab"))
    converters: dict[str, Callable] = {"none": lambda batch: batch, "eager": encode}
    result: dict[str, Any] = {"images_per_s": {}}
    batches_iter = forever(loader)
    for conversion in conversions:
        convert = converters.get(conversion) or torch.compile(encode)
        started = time.perf_counter()
        for _ in range(warmup):
            convert(prepare(next(batches_iter)))
        if conversion == "compiled":
            result["compile_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        for _ in range(batches):
            convert(prepare(next(batches_iter)))
        result["images_per_s"][conversion] = round(batches * batch_size / (time.perf_counter() - started), 1)
    del batches_iter, loader
    gc.collect()  # shuts the loader's workers down, so that their peak memory is counted
    result["workers"] = workers
    result["worker_peak_rss_mb"] = round(children_peak_rss_mb(), 1) if workers else None
    return result


# ---------------------------------------------------------------- the device's peak


def matmul_peak(size: int = 8192, repeats: int = 50) -> dict:
    """TFLOP/s of a dense bf16 ``size``³ matmul on the GPU (or, to check this code runs, the CPU): the peak that
    MFU is measured against, measured in the same run rather than taken from a data sheet."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    a, b = (torch.randn(size, size, device=device, dtype=torch.bfloat16) for _ in range(2))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(max(1, repeats // 10)):
        a @ b
    sync()
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync()
    seconds = time.perf_counter() - started
    return {
        "device": device.type,
        "size": size,
        "repeats": repeats,
        "tflops": float(f"{2 * size**3 * repeats / seconds / 1e12:.4g}"),
    }


def is_out_of_memory(result: dict) -> bool:
    """Whether a measurement failed because the batch did not fit on the GPU."""
    return "OutOfMemoryError" in result.get("error", "") or "out of memory" in result.get("error", "")


# ---------------------------------------------------------------- training


class StepTimes(L.Callback):
    """The time at the end of every training batch, across epochs. On a GPU it waits for the GPU only at the end of
    the warm-up and of the last batch, so that the timed batches keep the CPU running ahead of the GPU as in training."""

    def __init__(self, warmup: int, batches: int) -> None:
        self.synchronised = {warmup - 1, batches - 1}
        self.ends: list[float] = []

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, index: int) -> None:
        if len(self.ends) in self.synchronised and trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()
        self.ends.append(time.perf_counter())


class StopAfter(L.Callback):
    def __init__(self, batches: int) -> None:
        self.batches, self.done = batches, 0

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, index: int) -> None:
        self.done += 1
        trainer.should_stop = self.done >= self.batches


class Resident(Dataset):
    """The same batch, ``length`` times: a batch already where the model is, with no loading at all."""

    def __init__(self, batch: torch.Tensor, length: int) -> None:
        self.batch, self.length = batch, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.batch


def no_download(model: str) -> list[str]:
    """Random init for a family whose (default) body could fetch pretrained weights: a benchmark never downloads."""
    body = next(f.default for f in fields(FAMILIES[model].options) if f.name == "body")
    return ["model.pretrained=false"] if any(f.name == "pretrained" for f in fields(BODIES[body].options)) else []


def training_config(model: str, space: str, accelerator: str, batch_size: int, crop_size: int, *overrides: str):
    network = no_download(model)
    return load_config(
        [
            f"model={model}",
            f"space={space}",
            *network,
            "logger=none",
            f"trainer.accelerator={accelerator}",
            "trainer.devices=1",
            f"data.batch_size={batch_size}",
            f"data.crop_size={crop_size}",
            *overrides,
        ]
    )


def fit_steps(cfg, batches: int, callbacks: list[L.Callback], datamodule: ColorizationDataModule | None = None) -> Any:
    """Train ``batches`` batches as ``colorize.train`` would, without validation, checkpoints or logs; from the
    ``datamodule``'s loader, over as many epochs as that takes, or from one batch already on the device."""
    module = build_module(cfg)
    speed_up(module, cfg.trainer)
    kwargs = trainer_kwargs(cfg, module) | {
        "max_epochs": 1 if datamodule is None else batches,  # finite: the modules' schedules read the length
        "max_steps": -1,
        "limit_train_batches": batches if datamodule is None else 1.0,
        "limit_val_batches": 0,
        "num_sanity_val_steps": 0,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "callbacks": [*callbacks, StopAfter(batches)],
        "default_root_dir": tempfile.mkdtemp(prefix="colorize-bench-"),
    }
    trainer = L.Trainer(**kwargs)
    if datamodule is not None:
        trainer.fit(module, datamodule=datamodule)
    else:
        device = trainer.strategy.root_device
        size = cfg.data.crop_size
        batch = torch.randint(0, 256, (cfg.data.batch_size, 3, size, size), dtype=torch.uint8, device=device)
        trainer.fit(module, train_dataloaders=DataLoader(Resident(batch, batches), batch_size=None))
    return trainer


def training_throughput(
    model: str,
    space: str,
    *,
    accelerator: str,
    batch_size: int,
    crop_size: int,
    warmup: int,
    steps: int,
    overrides: tuple[str, ...] = (),
    photos: Path | None = None,
    data_overrides: tuple[str, ...] = (),
) -> dict:
    """Training images/s over ``steps`` batches after ``warmup`` (at least 1) batches: on a batch already on the
    device, or, with ``photos``, from the project's loader over that folder."""
    cfg = training_config(model, space, accelerator, batch_size, crop_size, *overrides)
    datamodule = None
    if photos is not None:
        datamodule = project_datamodule(photos, batch_size, crop_size, *data_overrides)
    timer = StepTimes(warmup, warmup + steps)
    started = time.perf_counter()
    trainer = fit_steps(cfg, warmup + steps, [timer], datamodule)
    intervals = torch.tensor(timer.ends[warmup - 1 :], dtype=torch.float64).diff()
    if len(intervals) != steps:
        raise RuntimeError(f"timed {len(intervals)} steps, expected {steps}")
    step_s = float(intervals.mean())
    result = {
        "precision": str(trainer.precision),
        "step_s": round(step_s, 4),
        "images_per_s": round(batch_size / step_s, 2),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    if accelerator == "cpu":  # on a GPU single steps are not timed, only their mean
        result |= {"step_s_min": round(float(intervals.min()), 4), "step_s_max": round(float(intervals.max()), 4)}
    return result


def flops_per_image(model: str, space: str, crop_size: int, batch_size: int = 2) -> dict:
    """The FLOPs of one training batch (forward, backward; for gan both players' steps), per image,
    counted by ``torch.utils.flop_counter`` on the CPU (the count does not depend on the device)."""
    cfg = training_config(model, space, "cpu", batch_size, crop_size, "trainer.channels_last=false", "trainer.precision=32-true")
    with FlopCounterMode(display=False) as counter:
        fit_steps(cfg, 1, [])
    return {"flops_per_image": counter.get_total_flops() / batch_size}


# ---------------------------------------------------------------- inference


def make_checkpoint(model: str, work: Path) -> Path:
    """A real colorize checkpoint of ``model`` (one tiny training step; the weights are as good as random)."""
    network = no_download(model)
    cfg = load_config(
        [
            f"model={model}",
            *network,
            "logger=none",
            "trainer.accelerator=cpu",
            "trainer.max_steps=1",
            "trainer.limit_val_batches=1",
            "trainer.num_sanity_val_steps=0",
            "data.crop_size=64",
            "data.batch_size=2",
            "data.num_workers=0",
            "grid_images=1",
            f"runs_dir={work}",
            f"name={model}",
        ]
    )
    result = train(cfg)
    return result.run.checkpoints / "last.ckpt"


def predict_latency(model: str, photo: Path, work: Path, size: int, repeats: int) -> dict:
    """Seconds to colorize ``photo`` (read, predict at ``size``, write a PNG) with the checkpoint loaded, as
    ``colorize.predict`` does for each photo (the whole command in a fresh process: :mod:`benchmarks.startup`)."""
    checkpoint = make_checkpoint(model, work / "checkpoints")
    module = load_colorizer(checkpoint, torch.device("cpu"))
    job = PredictJob(photo, work / "out" / f"{model}.png")
    colorize_file(module, job, size)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        colorize_file(module, job, size)
        times.append(time.perf_counter() - started)
    times.sort()
    return {"median_s": round(times[len(times) // 2], 3), "min_s": round(times[0], 3), "repeats": repeats}


def checkpoint_made(model: str, work: Path) -> dict:
    """:func:`make_checkpoint` as a measurement's dict, for a forked child."""
    return {"checkpoint": str(make_checkpoint(model, work))}
