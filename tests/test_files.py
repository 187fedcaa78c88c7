"""Outputs are written whole or not at all: a failure mid-write, or a full disk, keeps the previous file."""

import errno
import os

import numpy as np
import pytest

import colorize.files
from colorize.files import DiskFullError, atomic_write_text, atomic_writer, save_png


def test_a_failure_mid_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "config.yaml"
    atomic_write_text(path, "old: 1\n")
    with pytest.raises(RuntimeError), atomic_writer(path) as f:
        f.write(b"new: half")
        raise RuntimeError("killed")
    assert path.read_text() == "old: 1\n" and os.listdir(tmp_path) == ["config.yaml"]


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class FullDisk:
    """A file on a disk with ``room`` bytes left: it writes that much, then fails as a full disk does."""

    def __init__(self, f, room: int) -> None:
        self.f, self.room = f, room

    def write(self, data) -> int:
        self.f.write(data[: self.room])
        if len(data) > self.room:
            no_space()
        self.room -= len(data)
        return len(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


@pytest.mark.parametrize("where", ["write", "fsync"])
def test_a_full_disk_is_a_clear_error_and_leaves_nothing_half_written(tmp_path, monkeypatch, where):
    path = tmp_path / "samples" / "epoch=000.png"
    save_png(path, np.zeros((4, 4, 3), np.uint8))
    before = path.read_bytes()
    if where == "fsync":  # where a full disk often shows up first, on network and delayed-allocation file systems
        monkeypatch.setattr(colorize.files.os, "fsync", no_space)
    else:
        fdopen = os.fdopen
        monkeypatch.setattr(colorize.files.os, "fdopen", lambda fd, mode: FullDisk(fdopen(fd, mode), room=10))
    with pytest.raises(DiskFullError, match=r"No space left .* writing .*epoch=000.png.*previous version .* is intact"):
        save_png(path, np.ones((4, 4, 3), np.uint8))
    assert path.read_bytes() == before and os.listdir(path.parent) == ["epoch=000.png"]
