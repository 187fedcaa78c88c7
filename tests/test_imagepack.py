"""Packs of uint8 images: written whole or not at all, read back as views of memory maps."""

import pickle

import numpy as np
import pytest

from colorize.data.imagepack import PackReader, PackWriter, read_indexes


def image(height, width, seed):
    return np.random.default_rng(seed).integers(0, 256, (3, height, width), dtype=np.uint8)


def test_images_come_back_exactly_from_several_packs(tmp_path):
    images = {f"key{i:017d}".encode(): image(5 + i, 7 + 2 * i, i) for i in range(6)}
    images |= {b"\0" * 20: image(4, 4, 6), b"ends with a NUL \0\0\0\0": image(3, 5, 7)}  # numpy strips trailing NULs
    with PackWriter(tmp_path, pack_bytes=500) as writer:
        for key, array in images.items():
            writer.add(key, array)
    index = read_indexes(tmp_path)
    assert index.keys() == images.keys()
    assert 2 <= len(list(tmp_path.glob("*.pack"))) == len(list(tmp_path.glob("*.index.npy")))
    reader = PackReader()
    for key, array in images.items():
        view = reader.image(index[key])
        assert view.dtype == np.uint8 and np.array_equal(view, array)
        assert not view.flags.owndata  # a view of the map, not a copy
    assert pickle.loads(pickle.dumps(reader))._maps == {}  # a worker maps the packs itself


def test_a_pack_is_visible_only_once_whole(tmp_path):
    writer = PackWriter(tmp_path)
    writer.add(b"a" * 20, image(4, 4, 0))
    assert read_indexes(tmp_path) == {} and [p.suffix for p in tmp_path.iterdir()] == [".partial"]
    writer.discard()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError), PackWriter(tmp_path) as failing:
        failing.add(b"b" * 20, image(4, 4, 1))
        raise RuntimeError("killed while writing")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "orphan.pack").write_bytes(bytes(48))  # a pack whose index was never written
    assert read_indexes(tmp_path) == {}


def test_an_index_that_points_past_its_pack_or_is_not_one_is_ignored(tmp_path, caplog):
    with PackWriter(tmp_path) as writer:
        writer.add(b"a" * 20, image(4, 4, 0))
    index_path = next(tmp_path.glob("*.index.npy"))
    good = np.load(index_path)
    bad = good.copy()
    bad["height"] = 100
    np.save(index_path, bad)
    assert read_indexes(tmp_path) == {} and "damaged" in caplog.text
    np.save(index_path, np.arange(3))
    assert read_indexes(tmp_path) == {}
    np.save(index_path, good)
    assert list(read_indexes(tmp_path)) == [b"a" * 20]


def test_only_3_channel_uint8_images_go_in(tmp_path):
    with pytest.raises(ValueError, match="uint8"), PackWriter(tmp_path) as writer:
        writer.add(b"a" * 20, np.zeros((3, 4, 4), dtype=np.float32))
