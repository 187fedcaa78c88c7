"""Outputs are written whole or not at all: a failure mid-write, or a full disk, keeps the previous file."""

import errno
import os
import stat

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


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_get_the_permissions_a_plain_open_would_give(tmp_path, umask):
    """mkstemp makes its temporary file 0600; the written file must not keep that (colleagues, web servers)."""
    old = os.umask(umask)
    try:
        with open(tmp_path / "plain.txt", "w") as f:
            f.write("x")
        atomic_write_text(tmp_path / "atomic.txt", "x")
        save_png(tmp_path / "image.png", np.zeros((2, 2, 3), np.uint8))
    finally:
        os.umask(old)
    expected = stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
    assert expected == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "atomic.txt").stat().st_mode) == expected
    assert stat.S_IMODE((tmp_path / "image.png").stat().st_mode) == expected


def test_rewriting_a_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "shared.txt"
    atomic_write_text(path, "one")
    path.chmod(0o640)
    atomic_write_text(path, "two")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and path.read_text() == "two"
