import csv
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from colorize.data.crops import CropDataset, ItemRandom
from colorize.data.datamodule import ColorizationDataModule
from colorize.data.registry import DataError
from colorize.data.sources.folder import hash_split
from colorize.data.sources.sample import SampleImages
from colorize.images import ImageReadError
from conftest import TINY, random_photo, tiny_config


def datamodule(tmp_path, *args):
    dm = ColorizationDataModule(tiny_config(tmp_path, *args).data)
    dm.setup("fit")
    return dm


def test_sample_batches_are_uint8_rgb_crops(tmp_path):
    dm = datamodule(tmp_path)
    batch = next(iter(dm.train_dataloader())).rgb
    assert batch.dtype == torch.uint8 and batch.shape == (4, 3, 32, 32)
    val = next(iter(dm.val_dataloader())).rgb
    assert val.dtype == torch.uint8 and val.shape[1:] == (3, 32, 32)


def test_sample_split_holds_out_chelsea(tmp_path):
    dm = datamodule(tmp_path)
    assert dm.val_set.source.names == ["chelsea"]
    assert "chelsea" not in dm.train_set.source.names and len(dm.train_set.source) >= 5


def test_folder_source_loads_and_splits_deterministically(tmp_path, photo_folder):
    args = ["data=folder", f"data.root={photo_folder}", "data.val_fraction=0.25"]
    first, second = datamodule(tmp_path, *args), datamodule(tmp_path, *args)
    assert first.train_set.source.paths == second.train_set.source.paths
    assert first.val_set.source.paths == second.val_set.source.paths
    assert set(first.train_set.source.paths).isdisjoint(first.val_set.source.paths)
    assert len(first.train_set.source) + len(first.val_set.source) == 12
    batch = next(iter(first.train_dataloader())).rgb
    assert batch.dtype == torch.uint8 and batch.shape == (4, 3, 32, 32)


def test_hash_split_is_stable_when_files_are_added():
    keys = [f"img{i}.jpg" for i in range(200)]
    more = keys + [f"new{i}.jpg" for i in range(50)]
    _, val = hash_split(keys, 0.2)
    _, val_more = hash_split(more, 0.2)
    assert {keys[i] for i in val} == {more[i] for i in val_more} & set(keys)
    assert 20 < len(val) < 60


def test_separate_val_root(tmp_path, photo_folder):
    val_root = tmp_path / "val"
    shutil.move(str(photo_folder / "a"), val_root)
    dm = datamodule(tmp_path, "data=folder", f"data.root={photo_folder}", f"data.val_root={val_root}")
    assert all("/val/" in p.as_posix() for p in dm.val_set.source.paths)
    assert len(dm.train_set.source) == 6 and len(dm.val_set.source) == 6


def test_validation_crops_are_fixed(tmp_path):
    dm = datamodule(tmp_path)
    crops = [dm.val_set[i][0] for i in (0, 0, 1)]
    assert torch.equal(crops[0], crops[1]) and not torch.equal(crops[0], crops[2])


def test_small_images_are_resized_up_to_the_crop():
    class One:
        def __len__(self):
            return 1

        def load(self, index):
            return torch.from_numpy(random_photo(10, 20)).permute(2, 0, 1)

    crop, unreadable = CropDataset(One(), crop_size=32)[0]
    assert unreadable == []
    assert crop.shape == (3, 32, 32) and crop.dtype == torch.uint8


def odd_image(kind: str, rgb: np.ndarray) -> Image.Image:
    if kind == "gray":
        return Image.fromarray(rgb).convert("L")
    if kind == "palette":
        return Image.fromarray(rgb).convert("P")
    if kind == "rgba":
        return Image.fromarray(rgb).convert("RGBA")
    if kind == "16bit":
        return Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
    if kind == "cmyk":
        return Image.fromarray(rgb).convert("CMYK")
    return Image.fromarray(rgb[:7, :9])  # tiny: smaller than the crop


@pytest.mark.parametrize("kind", ["gray", "palette", "rgba", "16bit", "cmyk", "tiny"])
def test_odd_images_in_a_folder_load_as_rgb(tmp_path, kind):
    root = tmp_path / "odd"
    root.mkdir()
    for i in range(6):
        odd_image(kind, random_photo(40, 40, seed=i)).save(root / f"{i}.{'jpg' if kind == 'cmyk' else 'png'}")
    dm = datamodule(tmp_path, "data=folder", f"data.root={root}", "data.val_fraction=0.3")
    batch = next(iter(dm.train_dataloader())).rgb
    assert batch.dtype == torch.uint8 and batch.shape == (4, 3, 32, 32)


def test_folder_without_root_says_which_key_to_set(tmp_path):
    with pytest.raises(DataError, match="data.root=PATH"):
        datamodule(tmp_path, "data=folder")


def test_empty_or_missing_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        datamodule(tmp_path, "data=folder", f"data.root={tmp_path / 'empty'}")
    with pytest.raises(DataError, match="is not a folder"):
        datamodule(tmp_path, "data=folder", f"data.root={tmp_path / 'nowhere'}")


def test_too_few_images_for_a_batch_is_a_clear_error(tmp_path, photo_folder):
    with pytest.raises(DataError, match="fewer than one batch"):
        datamodule(tmp_path, "data=folder", f"data.root={photo_folder}", "data.batch_size=64", "data.train_crops_per_image=1")


def test_missing_torchvision_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="data.download=true"):
        datamodule(tmp_path, "data=cifar10", f"data.root={tmp_path / 'nothing'}")


def test_unknown_sample_image_lists_valid_names():
    with pytest.raises(DataError, match="astronaut"):
        SampleImages(["not_a_photo"])


# ---------------------------------------------------------------- unreadable files


def bomb_png(path, side: int = 20_000) -> None:
    """A PNG whose header claims side x side pixels (a decompression bomb), with almost no data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)


def write_bad_file(kind: str, path) -> None:
    if kind == "truncated_jpeg":
        Image.fromarray(random_photo(64, 64)).save(path, quality=95)
        path.write_bytes(path.read_bytes()[:300])
    elif kind == "corrupt_png":
        Image.fromarray(random_photo(64, 64)).save(path)
        data = bytearray(path.read_bytes())
        data[60:200] = bytes(140)  # zeroes over the compressed pixels
        path.write_bytes(bytes(data))
    elif kind == "zero_bytes":
        path.write_bytes(b"")
    elif kind == "not_an_image":
        path.write_text("a text file with an image extension")
    elif kind == "bomb":
        bomb_png(path)


BAD = {"truncated_jpeg": "jpg", "corrupt_png": "png", "zero_bytes": "jpg", "not_an_image": "png", "bomb": "png"}


@pytest.fixture
def folders(tmp_path, photo_folder):
    """photo_folder for training plus a separate validation folder, so where bad files land is known."""
    val = tmp_path / "val"
    val.mkdir()
    for i in range(2):
        Image.fromarray(random_photo(48, 48, seed=100 + i)).save(val / f"v{i}.png")
    return photo_folder, val


def epoch_batches(dm, loader):
    return [dm.on_before_batch_transfer(batch, 0) for batch in loader]


@pytest.mark.parametrize("kind", sorted(BAD))
def test_an_unreadable_file_is_skipped_warned_once_and_reported(tmp_path, folders, caplog, kind):
    root, val = folders
    bad = root / f"bad.{BAD[kind]}"
    write_bad_file(kind, bad)
    content = bad.read_bytes()
    dm = datamodule(tmp_path, "data=folder", f"data.root={root}", f"data.val_root={val}", "data.train_crops_per_image=2")
    for _ in range(2):  # two epochs
        batches = epoch_batches(dm, dm.train_dataloader())
        assert len(batches) == 26 // 4 and all(b.shape == (4, 3, 32, 32) and b.dtype == torch.uint8 for b in batches)
        reported = dm.pop_unreadable()
        assert len(reported) == 1 and reported[0].startswith(f"{bad}: ")
    warnings = [r.getMessage() for r in caplog.records if "unreadable file" in r.getMessage()]
    assert len(warnings) == 1 and str(bad) in warnings[0]
    assert bad.read_bytes() == content  # the user's file is never moved or changed


def test_unreadable_files_are_reported_from_worker_processes(tmp_path, folders):
    root, val = folders
    for kind, ext in BAD.items():
        write_bad_file(kind, root / f"{kind}.{ext}")
    dm = datamodule(tmp_path, "data=folder", f"data.root={root}", f"data.val_root={val}", "data.num_workers=2")
    batches = epoch_batches(dm, dm.train_dataloader())
    assert all(b.shape == (4, 3, 32, 32) for b in batches) and len(batches) == (17 * 2) // 4
    assert sorted(why.split(": ")[0] for why in dm.pop_unreadable()) == sorted(str(root / f"{k}.{e}") for k, e in BAD.items())


def test_bad_files_are_counted_at_each_epoch_end_of_a_run(tmp_path, folders, caplog):
    from colorize.training.fit import train

    root, val = folders
    write_bad_file("zero_bytes", root / "empty.jpg")
    result = train(
        tiny_config(tmp_path, "data=folder", f"data.root={root}", f"data.val_root={val}", "trainer.max_epochs=2", "logger=csv")
    )
    with open(result.run.dir / "metrics.csv") as f:
        counts = [float(r["data/unreadable_files"]) for r in csv.DictReader(f) if r.get("data/unreadable_files")]
    assert counts == [1.0, 1.0]
    reports = [r.getMessage() for r in caplog.records if "skipped 1 unreadable file(s)" in r.getMessage()]
    assert [m.split(" skipped")[0] for m in reports] == ["Epoch 0", "Epoch 1"] and str(root / "empty.jpg") in reports[0]


@pytest.mark.slow
def test_under_ddp_a_bad_file_met_by_both_processes_is_counted_once(tmp_path, folders):
    root, val = folders
    write_bad_file("zero_bytes", root / "empty.jpg")
    args = [*TINY, "data=folder", f"data.root={root}", f"data.val_root={val}", "data.train_crops_per_image=8"]
    args += ["trainer=ddp_sim", "trainer.devices=2", "trainer.max_epochs=1", "trainer.num_sanity_val_steps=0", "logger=csv"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "colorize.train", *args, f"runs_dir={tmp_path / 'runs'}", "name=ddp"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    # 8 crops of the file, shuffled over 2 processes: each process met it (each warned once, naming it)
    assert done.stderr.count(f"Skipped an unreadable file (a readable one took its place): {root / 'empty.jpg'}") == 2
    with open(tmp_path / "runs" / "ddp" / "metrics.csv") as f:
        counts = [float(r["data/unreadable_files"]) for r in csv.DictReader(f) if r.get("data/unreadable_files")]
    assert counts == [1.0]
    assert done.stderr.count("Epoch 0 skipped 1 unreadable file(s)") == 1  # reported by one process


def test_on_bad_file_error_stops_with_the_file_named(tmp_path, folders, capsys):
    from colorize.train import main

    root, val = folders
    write_bad_file("truncated_jpeg", root / "broken.jpg")
    argv = ["data=folder", f"data.root={root}", f"data.val_root={val}", "data.on_bad_file=error", "data.num_workers=1"]
    assert main([*TINY, *argv, f"runs_dir={tmp_path / 'runs'}", "trainer.max_epochs=1", "logger=none"]) == 2
    err = capsys.readouterr().err
    assert f"error: {root / 'broken.jpg'}: cannot read as an image" in err and "data.on_bad_file=skip" in err
    assert "Traceback" not in err  # raised in a worker process, still one clear line


def test_a_folder_of_only_unreadable_files_is_a_clear_error(tmp_path, folders, capsys):
    from colorize.train import main

    _, val = folders
    junk = tmp_path / "junk"
    junk.mkdir()
    for i in range(8):
        write_bad_file("not_an_image", junk / f"{i}.jpg")
    argv = ["data=folder", f"data.root={junk}", f"data.val_root={val}", "data.num_workers=1", "logger=none"]
    assert main([*TINY, *argv, f"runs_dir={tmp_path / 'runs'}", "trainer.max_epochs=1"]) == 2
    err = capsys.readouterr().err
    assert "the training split (8 files, chosen by data.root) has no readable photo" in err and "Traceback" not in err


def test_a_folder_too_small_to_split_is_a_clear_error(tmp_path, photo_folder):
    only = tmp_path / "one"
    only.mkdir()
    next(photo_folder.rglob("*.png")).rename(only / "photo.png")
    with pytest.raises(DataError, match="too few to split"):
        datamodule(tmp_path, "data=folder", f"data.root={only}")


def test_empty_sample_splits_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="sample_val_images is empty"):
        datamodule(tmp_path, "data.sample_val_images=[]")
    with pytest.raises(DataError, match="fewer than one batch"):
        datamodule(tmp_path, "data.sample_images=[chelsea]", "data.sample_val_images=[chelsea]")


def test_workers_leave_stop_signals_to_the_main_process(tmp_path):
    """Ctrl+C reaches every process of the group; a worker that died of it would crash the main process's
    next fetch instead of letting it finish the batch and save a checkpoint."""
    dm = datamodule(tmp_path, "data.num_workers=1", "data.train_crops_per_image=16")
    batches = iter(dm.train_dataloader())
    next(batches)
    workers = multiprocessing.active_children()
    assert workers
    for worker in workers:
        os.kill(worker.pid, signal.SIGINT)
        os.kill(worker.pid, signal.SIGTERM)
    assert len(list(batches)) == 7 * 16 // 4 - 1


def test_whole_batches_are_the_crops_item_by_item(tmp_path):
    class Photos:
        images = [
            torch.from_numpy(random_photo(h, w, seed=h)).permute(2, 0, 1) for h, w in [(40, 60), (20, 30), (64, 48), (50, 50)]
        ]

        def __len__(self):
            return len(self.images)

        def load(self, index):
            if index == 3:
                raise ImageReadError("b.jpg: broken")
            return self.images[index]

    crops = CropDataset(Photos(), crop_size=32, crops_per_image=4, seed=3)
    items = [(i, epoch) for epoch in (0, 1) for i in range(len(crops))]
    batch = crops.__getitems__(items)
    one_by_one = [crops[item] for item in items]
    assert torch.equal(batch.rgb, torch.stack([crop for crop, _ in one_by_one]))
    assert batch.unreadable == [why for _, skipped in one_by_one for why in skipped] and "b.jpg: broken" in batch.unreadable
    flips = [crops.window(item)[1] for item in items]
    assert 0 < sum(flips) < len(flips)  # both kinds were compared


def test_item_random_numbers_depend_only_on_the_start_and_cover_the_range():
    draws = [ItemRandom(7).below(10) for _ in range(3)]
    assert draws[0] == draws[1] == draws[2]
    random = ItemRandom(7)
    values = [random.below(10) for _ in range(2000)]
    assert set(values) == set(range(10)) and all(150 < values.count(v) < 250 for v in range(10))
    assert 900 < sum(random.coin() for _ in range(2000)) < 1100


def test_cached_batches_from_worker_processes_are_those_of_the_main_process(tmp_path, photo_folder):
    args = ["data=folder", f"data.root={photo_folder}", "data.prepare_size=40", f"data.cache_dir={tmp_path / 'cache'}"]
    batches = []
    for workers in (0, 1):
        dm = ColorizationDataModule(tiny_config(tmp_path, *args, f"data.num_workers={workers}").data)
        dm.setup("fit")
        batches.append([batch.rgb for batch in dm.train_dataloader()])
    assert len(batches[0]) > 0 and all(torch.equal(a, b) for a, b in zip(*batches, strict=True))
