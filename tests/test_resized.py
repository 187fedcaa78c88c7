"""Photos resized before cropping (data.prepare_size), the cache of them (data.cache_dir), and `prepare`."""

import errno
import os

import pytest
import torch
from PIL import Image

from colorize.data import imagepack, resized
from colorize.data.datamodule import ColorizationDataModule
from colorize.data.imagepack import read_indexes
from colorize.data.prepare import prepare
from colorize.data.registry import DataError
from colorize.data.resized import CacheReport, ResizedImages, photo_key, read_resized
from colorize.data.sources.folder import FolderImages
from colorize.images import ImageReadError, read_rgb
from colorize.options import ConfigError
from colorize.prepare import main as prepare_main
from conftest import random_photo, tiny_config


def save_jpeg(path, height, width, seed=0, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(random_photo(height, width, seed)).save(path, quality=92, **kwargs)
    return path


def mean_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.int() - b.int()).abs().float().mean().item()


def shorter_side(image: torch.Tensor) -> int:
    return min(image.shape[-2:])


def test_reduced_jpeg_decoding_stays_at_least_the_size_asked_for(tmp_path):
    photo = save_jpeg(tmp_path / "p.jpg", 600, 800)
    full = read_rgb(photo)
    for min_side, expected in [(100, 150), (200, 300), (300, 300), (301, 600), (1000, 600)]:
        reduced = read_rgb(photo, min_side=min_side)
        assert shorter_side(reduced) == expected, min_side  # 600 / 4, / 2, / 2, / 1: DCT scaling never goes below
        assert reduced.shape[-1] * 600 == expected * 800
    assert torch.equal(read_rgb(photo, min_side=1000), full)


def test_other_formats_come_at_full_size(tmp_path):
    path = tmp_path / "p.png"
    Image.fromarray(random_photo(60, 80)).save(path)
    assert torch.equal(read_rgb(path, min_side=20), read_rgb(path))


def test_reduced_decoding_keeps_exif_orientation_and_reports_bad_files(tmp_path):
    image = Image.fromarray(random_photo(400, 600))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    image.save(tmp_path / "r.jpg", exif=exif, quality=95)
    upright = read_rgb(tmp_path / "r.jpg")
    reduced = read_rgb(tmp_path / "r.jpg", min_side=150)
    assert upright.shape == (3, 600, 400) and reduced.shape == (3, 300, 200)
    assert mean_abs_diff(reduced, resized.resize_shorter_side(upright, 200)) < 3
    (tmp_path / "bad.jpg").write_bytes((tmp_path / "r.jpg").read_bytes()[:300])
    with pytest.raises(ImageReadError, match="bad.jpg"):
        read_rgb(tmp_path / "bad.jpg", min_side=100)


def test_read_resized_scales_the_shorter_side_and_never_enlarges(tmp_path):
    big = save_jpeg(tmp_path / "big.jpg", 768, 1024)
    image = read_resized(big, 288)
    assert image.shape == (3, 288, 384) and image.dtype == torch.uint8
    # What differs from resizing the whole decoded photo: the DCT-scaled decode on the way. Only a little.
    assert mean_abs_diff(image, resized.resize_shorter_side(read_rgb(big), 288)) < 2
    small = save_jpeg(tmp_path / "small.jpg", 200, 300)
    assert torch.equal(read_resized(small, 288), read_rgb(small))


def test_cache_serves_exactly_what_resizing_on_load_gives_without_decoding_again(tmp_path, monkeypatch):
    photos = [save_jpeg(tmp_path / "photos" / f"{i}.jpg", 300 + 40 * i, 400, seed=i) for i in range(3)]
    before = [(p.read_bytes(), p.stat().st_mtime_ns) for p in photos]

    on_load = ResizedImages(FolderImages(photos), 96)
    cached = ResizedImages(FolderImages(photos), 96, tmp_path / "cache")
    assert cached.report == CacheReport(written=3, cached=0)
    first = [cached.load(i) for i in range(3)]
    assert all(torch.equal(a, on_load.load(i)) for i, a in enumerate(first))
    assert len(list((tmp_path / "cache").glob("*.pack"))) == 1 and len(read_indexes(tmp_path / "cache")) == 3

    monkeypatch.setattr(resized, "read_rgb", lambda *a, **k: pytest.fail("decoded a photo that is in the cache"))
    again = ResizedImages(FolderImages(photos), 96, tmp_path / "cache", workers=1)
    assert again.report == CacheReport(written=0, cached=3)
    assert all(torch.equal(a, again.load(i)) for i, a in enumerate(first))
    assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in photos] == before  # the photos are only read


def test_a_changed_photo_gets_a_new_entry_and_a_damaged_pack_is_made_again(tmp_path, caplog):
    photo = save_jpeg(tmp_path / "p.jpg", 300, 400, seed=1)
    cache = tmp_path / "cache"
    old_key = photo_key(photo, 96)
    old = ResizedImages(FolderImages([photo]), 96, cache).load(0).clone()

    save_jpeg(photo, 300, 400, seed=2)
    os.utime(photo, ns=(photo.stat().st_atime_ns, photo.stat().st_mtime_ns + 10**9))
    assert photo_key(photo, 96) != old_key and photo_key(photo, 128) != photo_key(photo, 96)
    images = ResizedImages(FolderImages([photo]), 96, cache)
    new = images.load(0).clone()  # a copy: the view would die with the pack damaged below
    assert images.report.written == 1
    assert torch.equal(new, read_resized(photo, 96)) and not torch.equal(new, old)
    assert len(read_indexes(cache)) == 2  # the old entry stays until the folder is deleted

    for pack in cache.glob("*.pack"):  # damaged: cut short
        pack.write_bytes(pack.read_bytes()[:100])
    assert read_indexes(cache) == {} and "damaged pack" in caplog.text
    remade = ResizedImages(FolderImages([photo]), 96, cache)
    assert remade.report.written == 1 and torch.equal(remade.load(0), new)


def test_a_missing_photo_is_an_unreadable_file(tmp_path):
    images = ResizedImages(FolderImages([tmp_path / "gone.jpg"]), 96, tmp_path / "cache")
    assert len(images.report.unreadable) == 1 and "gone.jpg" in images.report.unreadable[0]
    with pytest.raises(ImageReadError, match="gone.jpg"):
        images.load(0)


def test_a_cache_that_cannot_be_written_is_only_warned_about_and_leaves_nothing_half_written(tmp_path, monkeypatch, caplog):
    photo = save_jpeg(tmp_path / "p.jpg", 300, 400)

    def disk_full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(imagepack, "atomic_write_bytes", disk_full)  # the pack's index cannot be written
    images = ResizedImages(FolderImages([photo]), 96, tmp_path / "cache")
    assert torch.equal(images.load(0), read_resized(photo, 96)) and images.report.written == 0
    assert "Cannot write to the cache" in caplog.text and "No space left" in caplog.text
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.fixture
def big_photos(tmp_path):
    root = tmp_path / "photos"
    for i in range(10):
        save_jpeg(root / f"{i:02d}.jpg", 120 + 8 * i, 160, seed=i)
    return root


def folder_data(tmp_path, root, *args):
    cfg = tiny_config(tmp_path, "data=folder", f"data.root={root}", "data.val_fraction=0.3", *args)
    dm = ColorizationDataModule(cfg.data)
    dm.setup("fit")
    return cfg, dm


def test_datamodule_gives_the_same_batches_with_and_without_the_cache(tmp_path, big_photos):
    _, plain = folder_data(tmp_path, big_photos, "data.prepare_size=40")
    _, cached = folder_data(tmp_path, big_photos, "data.prepare_size=40", f"data.cache_dir={tmp_path / 'cache'}")
    for split in ("train_set", "val_set"):
        a, b = getattr(plain, split).source, getattr(cached, split).source
        assert len(a) == len(b) > 0
        for i in range(len(a)):
            assert torch.equal(a.load(i), b.load(i)) and shorter_side(a.load(i)) == 40
    # So the loaders yield the same batches: crops and flips depend only on the seed, the epoch and the item.
    for loader in ("train_dataloader", "val_dataloader"):
        plain_batch, cached_batch = (next(iter(getattr(dm, loader)())).rgb for dm in (plain, cached))
        assert cached_batch.dtype == torch.uint8 and cached_batch.shape[1:] == (3, 32, 32)
        assert torch.equal(plain_batch, cached_batch)


def test_sample_photos_can_be_resized_too(tmp_path):
    cfg = tiny_config(tmp_path, "data.prepare_size=64")
    dm = ColorizationDataModule(cfg.data)
    dm.setup("fit")
    assert all(shorter_side(dm.train_set.source.load(i)) == 64 for i in range(len(dm.train_set.source)))


@pytest.mark.parametrize(
    "args, message", [(["data.cache_dir=c"], "set that too"), (["data.prepare_size=24"], "smaller than data.crop_size=32")]
)
def test_settings_that_cannot_work_are_refused(tmp_path, big_photos, args, message):
    cfg = tiny_config(tmp_path, "data=folder", f"data.root={big_photos}", *args)
    with pytest.raises(DataError, match=message):
        ColorizationDataModule(cfg.data).setup("fit")


def test_a_cache_is_an_option_of_photo_folders_alone(tmp_path):
    with pytest.raises(ConfigError, match=r"data.cache_dir.*data=sample has no such option.*folder"):
        tiny_config(tmp_path, "data.cache_dir=c", "data.prepare_size=64")


def test_prepare_fills_the_cache_once_and_skips_unreadable_photos(tmp_path, big_photos, capsys):
    (big_photos / "broken.jpg").write_bytes(b"not a photo")
    args = ["data.prepare_size=40", f"data.cache_dir={tmp_path / 'cache'}"]
    cfg = tiny_config(tmp_path, "data=folder", f"data.root={big_photos}", "data.val_fraction=0.3", *args)
    report = prepare(cfg.data)
    assert (report.written, report.cached) == (10, 0)
    assert len(report.unreadable) == 1 and "broken.jpg" in report.unreadable[0]
    assert len(read_indexes(tmp_path / "cache")) == 10
    again = prepare(cfg.data)
    assert (again.written, again.cached) == (0, 10)

    argv = ["data=folder", f"data.root={big_photos}", "data.val_fraction=0.3", "data.crop_size=32", "data.batch_size=4", *args]
    assert prepare_main(argv) == 0
    assert "0 photo(s)" in capsys.readouterr().out
    assert prepare_main(["data.prepare_size=40"]) == 2
    assert "data.cache_dir" in capsys.readouterr().err
