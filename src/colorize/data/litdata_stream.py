"""LitData chunks, written once by ``make prepare`` and streamed by ``data=streaming``.

See :mod:`colorize.data.sources.streaming`, the source that reads them.

``make prepare ARGS="data=folder data.root=~/photos data.prepare_size=288 data.stream_to=/data/photos-stream"``
writes any source (folder, torchvision, sample) with ``litdata.optimize``; ``data=streaming data.root=/data/photos-stream``
trains from it, from a folder or from cloud storage (``s3://``, ``gs://``, ...), each DDP process and loader worker
streaming its own share. The layout at ``stream_to``:

  train/, val/           LitData data sets (index.json, chunk-*.bin); an item is {"name": UTF-8 bytes (a file's path,
                         a sample photo's name), "image": JPEG bytes or a uint8 (3, H, W) tensor}
  colorize-stream.json   written last: the settings, a fingerprint of the input, the counts. Without it the data set
                         is incomplete and is never trained on; ``colorize-stream.partial`` marks a prepare under way,
                         whose leftovers the next prepare removes before it starts over.

Crops and flips are drawn as for the other sources, from (seed, epoch, item) alone, so that a resumed run draws what
an uninterrupted one would have. The training position is kept by the DataModule (see ``StreamingLoader``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from litdata import StreamingDataLoader, StreamingDataset, optimize
from litdata.utilities.env import _DistributedEnv
from torch import Tensor
from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg

from colorize.data.crops import CropDataset, collate_crops, flipped, loader_workers, worker_ignores_stop_signals
from colorize.data.registry import DataError, Photos
from colorize.files import atomic_write_text
from colorize.images import ImageReadError

log = logging.getLogger(__name__)

MANIFEST = "colorize-stream.json"
IN_PROGRESS = "colorize-stream.partial"
SPLITS = ("train", "val")
# Part of every fingerprint: changing what an item holds must change this.
FORMAT_VERSION = 1
CHUNK_BYTES = "64MB"
# A cloud location that has not answered within this many seconds is reported as unreachable.
CLOUD_TIMEOUT_S = 20.0

T = TypeVar("T")


class StreamError(DataError):
    """A streaming data set that cannot be written or read; the message says what to do."""


# ---------------------------------------------------------------- where the data set lives


def is_url(root: str) -> bool:
    return "://" in root


class StreamLocation:
    """The folder or cloud prefix of a streaming data set: its small files (manifest, marker) and its splits."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/") if is_url(root) else os.path.abspath(os.path.expanduser(root))

    def __str__(self) -> str:
        return self.root

    def split(self, name: str) -> str:
        return f"{self.root}/{name}"

    def _fs(self) -> Any:
        from litdata.streaming.fs_provider import _get_fs_provider

        options = {}
        if self.root.startswith("s3://"):  # LitData's own client retries 1000 times: for these small files, 2
            from botocore.config import Config

            options["config"] = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=10)
        return _get_fs_provider(self.root, options)

    def read_text(self, name: str) -> str | None:
        if not is_url(self.root):
            path = Path(self.root, name)
            return path.read_text() if path.is_file() else None
        fs = self._fs()
        if not fs.exists(self.split(name)):
            return None
        with tempfile.TemporaryDirectory() as tmp:
            fs.download_file(self.split(name), os.path.join(tmp, name))
            return Path(tmp, name).read_text()

    def write_text(self, name: str, text: str) -> None:
        if not is_url(self.root):
            atomic_write_text(Path(self.root, name), text)
            return
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, name).write_text(text)
            self._fs().upload_file(os.path.join(tmp, name), self.split(name))

    def remove(self, name: str) -> None:
        if not is_url(self.root):
            path = Path(self.root, name)
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
            return
        fs = self._fs()
        if fs.exists(self.split(name)):
            fs.delete_file_or_directory(self.split(name))

    def is_empty(self) -> bool:
        if not is_url(self.root):
            return not Path(self.root).exists() or not any(Path(self.root).iterdir())
        return self._fs().is_empty(self.root)


def within_deadline(what: str, root: str, call: Callable[[], T]) -> T:
    """``call()``, which reaches ``root``; for a cloud URL it is given up after ``CLOUD_TIMEOUT_S`` with a clear error
    (it runs in a daemon thread, since no socket timeout bounds a stalled DNS lookup or a client's own retries)."""
    if not is_url(root):
        return call()
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except Exception as e:  # reported below, in the caller's thread
            outcome.append((False, e))

    thread = threading.Thread(target=run, name="colorize-stream-probe", daemon=True)
    thread.start()
    thread.join(CLOUD_TIMEOUT_S)
    hint = (
        "Is this machine online, and are the storage credentials and endpoint (e.g. AWS_ENDPOINT_URL) right? "
        "Or copy the data set to a local folder and give that."
    )
    if not outcome:
        raise StreamError(f"{root} did not answer within {CLOUD_TIMEOUT_S:g} s while {what}. {hint}")
    ok, value = outcome[0]
    if not ok:
        reason = " ".join(str(value).split())
        raise StreamError(f"Cannot reach {root} while {what} ({type(value).__name__}: {reason}). {hint}") from None
    return value


# ---------------------------------------------------------------- writing (make prepare)


def _file_state(name: str) -> str:
    try:
        stat = os.stat(name)
    except OSError:
        return "-"
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def fingerprint(settings: dict[str, Any], names: dict[str, list[str]]) -> str:
    """Changes whenever the settings, the images of either split, or (for files) any file's size or time change."""
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode())
    for split, split_names in names.items():
        for name in split_names:
            state = _file_state(name) if os.path.isabs(name) else ""
            digest.update(f"{split}\0{name}\0{state}\n".encode())
    return digest.hexdigest()


def encode_item_image(image: Tensor, encoding: str, quality: int) -> bytes | Tensor:
    if encoding == "jpeg":
        return encode_jpeg(image.contiguous(), quality=quality).numpy().tobytes()
    return image.contiguous()


def decode_item_image(stored: bytes | memoryview | Tensor) -> Tensor:
    if isinstance(stored, Tensor):
        return stored
    return decode_jpeg(torch.frombuffer(bytearray(stored), dtype=torch.uint8), mode=ImageReadMode.RGB)


def decode_name(stored: bytes | memoryview) -> str:
    return bytes(stored).decode()


@dataclass
class _ItemWriter:
    """``litdata.optimize``'s function: image ``index`` of ``source`` as an item, or, if it cannot be read,
    no item and a line in ``unreadable_log`` (shared by the writer processes; appends of one line are atomic)."""

    source: Any
    encoding: str
    quality: int
    unreadable_log: str

    def __call__(self, item: tuple[int, str]) -> Iterator[dict[str, Any]]:
        # A forked writer must not enter the thread pool that its parent's torch may have started (it would wait
        # forever on a lock no thread holds); torch's own DataLoader workers do the same.
        torch.set_num_threads(1)
        index, name = item
        try:
            image = self.source.load(index)
        except ImageReadError as e:
            with open(self.unreadable_log, "a") as f:
                f.write(" ".join(str(e).split()) + "\n")
            return
        # The name as bytes: LitData would store a str that is the path of an image file as that file.
        yield {"name": name.encode(), "image": encode_item_image(image, self.encoding, self.quality)}


@dataclass
class StreamReport:
    root: str
    written: dict[str, int] = field(default_factory=dict)  # items per split; empty when the data set was up to date
    unreadable: list[str] = field(default_factory=list)
    up_to_date: bool = False
    restarted: bool = False  # an interrupted prepare's leftovers were removed first


def stream_settings(data: Any, identity: str) -> dict[str, Any]:
    """What decides the items' content, besides the images themselves; ``identity`` says what the photos are."""
    return {
        "format": FORMAT_VERSION,
        "source": identity,
        "prepare_size": data.prepare_size,
        "encoding": data.stream_encoding,
        "quality": data.stream_quality if data.stream_encoding == "jpeg" else None,
    }


def write_stream(data: Any, sources: tuple[Photos, Photos], identity: str, progress: bool = True) -> StreamReport:
    """Write the train and val ``sources`` (already at ``data.prepare_size``) as LitData chunks at ``data.stream_to``."""
    if data.stream_encoding == "jpeg" and not 1 <= data.stream_quality <= 100:
        raise StreamError(f"data.stream_quality={data.stream_quality}: a JPEG quality is 1 to 100 (90 is the default).")
    location = StreamLocation(data.stream_to)
    report = StreamReport(str(location))
    settings = stream_settings(data, identity)
    names = {split: list(source.names) for split, source in zip(SPLITS, sources)}
    expected = fingerprint(settings, names)

    manifest = within_deadline("looking for an existing data set", location.root, lambda: location.read_text(MANIFEST))
    if manifest is not None:
        if json.loads(manifest).get("fingerprint") == expected:
            report.up_to_date = True
            return report
        raise StreamError(
            f"{location} already holds a streaming data set made from other images or settings. It is left as it is: "
            "give another data.stream_to, or delete that one first to rebuild it."
        )
    if location.read_text(IN_PROGRESS) is not None:
        report.restarted = True
        for split in SPLITS:
            location.remove(split)
    elif not location.is_empty():
        raise StreamError(
            f"{location} is not empty and holds no colorize streaming data set; nothing was written. "
            "Give data.stream_to a new or empty location."
        )
    location.write_text(IN_PROGRESS, json.dumps({"settings": settings, "started": time.strftime("%Y-%m-%d %H:%M:%S")}))

    workers = max(1, loader_workers(data.num_workers))
    with tempfile.TemporaryDirectory(prefix="colorize-prepare-") as tmp:
        unreadable_log = os.path.join(tmp, "unreadable.txt")
        Path(unreadable_log).touch()
        for split, source in zip(SPLITS, sources):
            if progress:
                print(f"{split}: {len(source)} image(s) -> {location.split(split)}", flush=True)
            optimize(
                fn=_ItemWriter(source, data.stream_encoding, data.stream_quality, unreadable_log),
                inputs=list(enumerate(names[split])),
                output_dir=location.split(split),
                chunk_bytes=CHUNK_BYTES,
                num_workers=min(workers, len(source)),
                keep_data_ordered=True,  # the same input always makes the same chunks
                # litdata sets the process-wide start method: keep the platform's own (fork on Linux)
                start_method=multiprocessing.get_start_method(),
                verbose=progress,
            )
        report.unreadable = Path(unreadable_log).read_text().splitlines()
    unreadable = {line.partition(": ")[0] for line in report.unreadable}
    for split in SPLITS:
        report.written[split] = len([n for n in names[split] if n not in unreadable])
        if report.written[split] == 0:
            raise StreamError(f"No readable image in the {split} split: nothing to stream. Check the source.")
    record = {
        **settings,
        "fingerprint": expected,
        "items": report.written,
        "unreadable": report.unreadable,
        "written": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    location.write_text(MANIFEST, json.dumps(record, indent=1))  # last: the data set is complete from now on
    location.remove(IN_PROGRESS)
    return report


# ---------------------------------------------------------------- reading (data=streaming)


def read_manifest(root: str) -> dict[str, Any]:
    """The record of a complete data set at ``root``; a clear error for anything else."""
    location = StreamLocation(root)
    text = within_deadline("reading its manifest", location.root, lambda: location.read_text(MANIFEST))
    if text is None:
        partial = location.read_text(IN_PROGRESS) is not None
        why = "a make prepare that wrote it did not finish" if partial else "it is not one"
        raise StreamError(
            f"data.root={root} is not a complete streaming data set ({why}: no {MANIFEST}). Write it with "
            'make prepare ARGS="data=folder data.root=PHOTOS data.prepare_size=288 data.stream_to=...", or run that '
            "again to finish it."
        )
    return json.loads(text)


class StreamingCrops(StreamingDataset):
    """A split of a streaming data set, as ``(crop, unreadable)`` items like :class:`colorize.data.crops.CropDataset`'s.

    Training crops and flips are drawn from (seed, epoch, item index); validation crops (``fixed``) from
    (seed, 0, item index), so that every epoch validates on the same pixels.
    """

    def __init__(self, input_dir: str, crop_size: int, hflip: bool, seed: int, fixed: bool, shuffle: bool) -> None:
        super().__init__(input_dir, shuffle=shuffle, seed=seed)
        # LitData on several nodes (it counts them from $NNODES, or from the GPUs) keeps each node, from the second
        # epoch on, on the chunks it read in the first, and gives a chunk that straddled two nodes to both, whole: items
        # trained on twice in an epoch, others not at all (with one chunk, every node trains on all of it). Seen as one
        # node, every epoch shares the chunks out over all processes: disjoint shares that cover the data set.
        env = self.distributed_env
        self.distributed_env = _DistributedEnv(env.world_size, env.global_rank, num_nodes=1)
        self.crops = CropDataset(None, crop_size, hflip=hflip, seed=seed)
        self.fixed = fixed
        self._args = (input_dir, crop_size, hflip, seed, fixed, shuffle)

    def reopened(self) -> StreamingCrops:
        """The same split, opened anew: LitData shares it out by the DDP processes it finds when it is opened, and the
        DataModule opens it before the Trainer starts them."""
        return StreamingCrops(*self._args)

    def __getitem__(self, index: Any) -> tuple[Tensor, list[str]]:  # type: ignore[override]
        item = super().__getitem__(index)
        position = index if isinstance(index, int) else index.index
        epoch = 0 if self.fixed else self.current_epoch
        window, flip = self.crops.crop(decode_item_image(item["image"]), self.crops.item_random(position, epoch))
        return flipped(window, flip), []


def streaming_sets(data: Any, seed: int) -> tuple[StreamingCrops, StreamingCrops]:
    """The train and val splits of the data set at ``data.root``, checked."""
    if not data.root:
        raise StreamError("data=streaming needs data.root=PATH or URL: a data set written by make prepare (data.stream_to).")
    if data.train_crops_per_image != 1 or data.val_crops_per_image != 1:
        raise StreamError(
            "data=streaming draws one crop per image and epoch: set data.train_crops_per_image=1 and "
            "data.val_crops_per_image=1 (a streamed data set is large enough to need no more)."
        )
    manifest = read_manifest(data.root)
    size = manifest.get("prepare_size")
    if size and size < data.crop_size:
        raise StreamError(
            f"data.root={data.root} holds images resized to a shorter side of {size} px, smaller than "
            f"data.crop_size={data.crop_size}: lower the crop size, or prepare the data again at a larger data.prepare_size."
        )
    location = StreamLocation(data.root)
    make = lambda split, **kwargs: within_deadline(  # noqa: E731
        f"opening its {split} split", location.root, lambda: StreamingCrops(location.split(split), data.crop_size, **kwargs)
    )
    train = make("train", hflip=data.hflip, seed=seed, fixed=False, shuffle=True)
    val = make("val", hflip=False, seed=data.split_seed, fixed=True, shuffle=False)
    if len(train) < data.batch_size:
        raise StreamError(
            f"data.root={data.root} has {len(train)} training image(s), fewer than one batch "
            f"(data.batch_size={data.batch_size}). Lower data.batch_size, or prepare more images."
        )
    return train, val


class StreamingLoader(StreamingDataLoader):
    """LitData's loader, resumed from the DataModule's own record of the training position.

    Lightning keeps a stateful loader's state in the checkpoint too, but drops it on resume when ``configure_optimizers``
    reads ``trainer.estimated_stepping_batches`` (lightning#20550), as colorize's modules do; so this loader gives
    Lightning no state, and :meth:`resume` sets the position that the DataModule saved (epoch, samples trained on).
    """

    _resuming = False  # the next epoch continues where a checkpoint stopped

    def __iter__(self) -> Any:
        # LitData forgets a resumed position only when an epoch runs to its StopIteration, which Lightning, counting
        # the epoch's batches, never asks for: every epoch after the resumed one starts afresh.
        if not self._resuming:
            self.restore = False
        self._resuming = False
        return super().__iter__()

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, obj: dict[str, Any]) -> None:
        pass

    def resume(self, epoch: int, start: int) -> None:
        """Continue at trainer epoch ``epoch`` (0-based), after the first ``start`` samples of this process's share."""
        self.current_epoch = epoch  # litdata counts epochs from 1: its next __iter__ starts epoch + 1
        if start == 0:
            return
        dataset: StreamingCrops = self.dataset  # type: ignore[assignment]
        dataset.current_epoch = epoch + 1
        state = dataset.state_dict(start, self.num_workers, self.batch_size)
        batches = start // self.batch_size
        self._resuming = True
        super().load_state_dict(
            {
                "dataset": state,
                "current_epoch": epoch + 1,
                "num_samples_yielded": start,
                "latest_worker_idx": (batches - 1) % max(1, self.num_workers),
            }
        )


def streaming_loader(dataset: StreamingCrops, data: Any, train: bool) -> StreamingLoader:
    workers = loader_workers(data.num_workers)
    return StreamingLoader(
        dataset.reopened(),
        batch_size=data.batch_size,
        num_workers=workers,
        drop_last=train,
        collate_fn=collate_crops,
        pin_memory=torch.cuda.is_available(),
        worker_init_fn=worker_ignores_stop_signals,
        generator=torch.Generator(),  # never draw the workers' base seed from the model's global random state
    )
