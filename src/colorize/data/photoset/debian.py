"""Debian packages as the photo set reads them: fetched with ``apt-get download`` into a cache folder (nothing is
installed), their file trees read with ``dpkg-deb``, their copyright files parsed, and the Qt resource archives (.rcc)
that some of them hold unpacked.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import struct
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from colorize.errors import UserError

APT_TIMEOUT_S = 900
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")


class PhotosError(UserError):
    """A problem building the photo set that the user can fix; the message says what to do."""


# ---------------------------------------------------------------------------------------------------------------
# Packages


def fetch(package: str, debs: Path) -> Path:
    """The package's .deb in the cache folder, downloaded with apt-get if it is not there yet."""
    cached = sorted(debs.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
    if cached:
        return cached[-1]
    debs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=debs, prefix=".download-") as tmp:
        cmd = ["apt-get", "download", "-q", "-o", "Acquire::Retries=0", "-o", "Acquire::http::Timeout=20", package]
        try:
            done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=APT_TIMEOUT_S)
        except FileNotFoundError:
            raise PhotosError("apt-get is not on PATH (a Debian or Ubuntu system is needed)") from None
        except subprocess.TimeoutExpired:
            raise PhotosError(f"apt-get download {package} took over {APT_TIMEOUT_S} s") from None
        got = list(Path(tmp).glob(f"{package}_*.deb"))
        if done.returncode != 0 or len(got) != 1:
            errors = [line for line in done.stderr.splitlines() if line.startswith("E:")] or done.stderr.splitlines()[-1:]
            hint = "; run 'apt-get update' once (as root)" if "Unable to locate package" in done.stderr else ""
            raise PhotosError(f"apt-get download {package} failed: {' '.join(errors) or f'exit {done.returncode}'}{hint}")
        return Path(shutil.move(got[0], debs / got[0].name))


def package_version(deb: Path) -> str:
    done = subprocess.run(["dpkg-deb", "--field", str(deb), "Version"], capture_output=True, text=True)
    if done.returncode != 0:
        raise PhotosError(f"dpkg-deb cannot read {deb} (delete it to download it again): {done.stderr.strip()}")
    return done.stdout.strip()


def package_files(deb: Path, wanted: Callable[[str], bool]) -> dict[str, bytes]:
    """The regular files of a .deb whose path (without "./") ``wanted`` accepts, read from its file tree.

    Symbolic links are skipped: in these packages they only alias files that are there anyway (e.g. one wallpaper
    at several screen sizes)."""
    files = {}
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                for member in tar:
                    path = member.name.removeprefix("./")
                    if member.isfile() and wanted(path):
                        files[path] = tar.extractfile(member).read()
        except tarfile.TarError as error:
            proc.kill()
            raise PhotosError(f"dpkg-deb cannot read {deb} (delete it to download it again): {error}") from None
    if proc.returncode != 0:
        raise PhotosError(f"dpkg-deb cannot read {deb} (delete it to download it again)")
    return files


def matches(path: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns)


def is_image(path: str) -> bool:
    return path.lower().endswith(IMAGE_SUFFIXES)


def copyright_path(package: str) -> str:
    return f"usr/share/doc/{package}/copyright"


# ---------------------------------------------------------------------------------------------------------------
# Copyright files: Debian's machine-readable format (DEP-5)


@dataclass
class Stanza:
    patterns: list[str]
    copyright: str
    licence: str
    note: str = ""


def parse_dep5(text: str) -> list[Stanza] | None:
    """The Files stanzas of a machine-readable copyright file, in order; None when the file is free-form."""
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", text.strip()) if p.strip()]
    if not paragraphs or not paragraphs[0].startswith("Format:"):
        return None
    stanzas = []
    for paragraph in paragraphs:
        fields: dict[str, list[str]] = {}
        key = None
        for line in paragraph.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key].append(line.strip())
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = [value.strip()]
        if "files" in fields:
            licence = fields.get("license", [""])
            note = fields.get("comment", []) or [line for line in licence[1:] if line != "."]
            stanzas.append(
                Stanza(
                    patterns=" ".join(fields["files"]).split(),
                    copyright="; ".join(line for line in fields.get("copyright", []) if line),
                    licence=licence[0],
                    note=" ".join(" ".join(note).split()),
                )
            )
    return stanzas


def stanza_for(path: str, stanzas: list[Stanza]) -> tuple[Stanza | None, list[str]]:
    """The stanza that licenses ``path``, and the other licences that stanzas naming it give.

    Copyright files name paths in the source tree, so a pattern may match any tail of ``path``; an image may have
    been converted since (.jpg to .webp), so an image pattern also matches on the stem. The format says the last
    matching stanza wins, but files get that wrong (endless-sky's "fields1*", public-domain, also matches
    "fields10-sfiera.jpg", a CC-BY-SA photo named by "*-sfiera*" before it): so a stanza whose pattern names the
    file beats one matching its whole folder, and where stanzas that name it disagree, the last that asks more than
    public-domain wins."""
    parts = PurePosixPath(path.lstrip("/")).parts
    tails = ["/".join(parts[i:]) for i in range(len(parts))]

    def match(pattern: str) -> bool:
        stem = pattern.rsplit(".", 1)[0] + ".*" if is_image(pattern) else None
        return any(fnmatch.fnmatchcase(t, pattern) or (stem and is_image(t) and fnmatch.fnmatchcase(t, stem)) for t in tails)

    matched = [s for s in stanzas if any(match(p) for p in s.patterns)]
    named = [s for s in matched if any(PurePosixPath(p).name != "*" and match(p) for p in s.patterns)]
    if not named:
        return (matched[-1] if matched else None), []
    chosen = ([s for s in named if s.licence.lower() != "public-domain"] or named)[-1]
    return chosen, sorted({s.licence for s in named} - {chosen.licence})


# ---------------------------------------------------------------------------------------------------------------
# Qt resource archives (.rcc), as rcc writes them (qtbase src/tools/rcc/rcc.cpp): header "qres", then big-endian
# u32 format version, tree offset, data offset, names offset (and u32 overall flags from version 3). Tree entries,
# root first: u32 name offset, u16 flags, then for a directory u32 child count and u32 index of the first child,
# else u16 territory, u16 language and u32 data offset; from version 2 a u64 modification time follows. A name is
# u16 length, u32 hash and UTF-16BE text; a blob is u32 size and payload, zlib (qCompress: u32 size, then a zlib
# stream) or zstd compressed as the entry's flags say.

RCC_ZLIB, RCC_DIRECTORY, RCC_ZSTD = 0x01, 0x02, 0x04


def read_rcc(data: bytes) -> dict[str, bytes]:
    """Every file in a binary Qt resource archive: {"/path/inside": content}."""
    if data[:4] != b"qres":
        raise PhotosError("not a Qt resource archive (no 'qres' magic)")
    version, tree, blobs, names = struct.unpack_from(">IIII", data, 4)
    if version not in (1, 2, 3):
        raise PhotosError(f"Qt resource format version {version} is not known (1 to 3 are)")
    entry_size = 14 if version == 1 else 22

    def name(offset: int) -> str:
        (length,) = struct.unpack_from(">H", data, names + offset)
        return data[names + offset + 6 : names + offset + 6 + 2 * length].decode("utf-16-be")

    files: dict[str, bytes] = {}
    pending = [(0, "")]
    while pending:
        index, parent = pending.pop()
        at = tree + index * entry_size
        name_offset, flags = struct.unpack_from(">IH", data, at)
        path = f"{parent}/{name(name_offset)}" if index else ""
        if flags & RCC_DIRECTORY:
            count, first = struct.unpack_from(">II", data, at + 6)
            pending.extend((child, path) for child in range(first, first + count))
            continue
        (offset,) = struct.unpack_from(">I", data, at + 10)
        (size,) = struct.unpack_from(">I", data, blobs + offset)
        blob = data[blobs + offset + 4 : blobs + offset + 4 + size]
        if flags & RCC_ZLIB:
            blob = zlib.decompress(blob[4:])
        elif flags & RCC_ZSTD:
            blob = zstd_decompress(blob)
        files[path] = blob
    return files


def zstd_decompress(blob: bytes) -> bytes:
    # No zstd module in the environment (Python 3.14 brings compression.zstd); Debian's zstd command does it.
    if shutil.which("zstd") is None:
        raise PhotosError("a zstd-compressed .rcc entry needs the zstd command: apt-get install zstd")
    return subprocess.run(["zstd", "-d", "-c", "-q"], input=blob, capture_output=True, check=True).stdout
