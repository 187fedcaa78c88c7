"""Build a folder of real colour photos from Debian packages, with a fixed train/val split and a manifest.

make photos                      # data/photos/{train,val}/, manifest.json, copyright/ (the .deb files stay in data/debs/)
make photos-check                # data/photos-check/: photos from the reserved wallpaper packages, for evaluation only
python scripts/photos.py [--reserved] [--out DIR] [--debs DIR] [--max-side 384] [--quality 92]

Each package is fetched with `apt-get download` (nothing is installed; run `apt-get update` once if apt knows no such
package) and kept in the cache folder, so a second run needs no network. Its images are read straight from the
package's file tree, and from inside Qt .rcc archives. Dropped, and counted per package (thresholds below): images
that cannot be read; small ones (shorter side under 256 px); cut-outs (transparent pixels: an object, not a scene);
grey ones (black-and-white: low colourfulness); flat ones (drawings, plain images: many pixels exactly equal to their
neighbours); smooth ones (gradients: nearly all pixels within 1/255 of their neighbours); and copies of a larger image.
Each kept photo is resized so that its shorter side is at most --max-side and saved as a JPEG (4:4:4, so the chroma
keeps full resolution).

A photo is in val/ when the hash in its name (of package and path) falls in the lowest tenth, so the split never
changes; a package with 5 or more photos and none so drawn gives val its photo of lowest hash. manifest.json lists
every photo (file, split, package and version, path inside it, licence, attribution, sizes, measures), every dropped
image and why, and per-package counts; copyright/ holds each package's copyright file. A file is written only when
its content changes; files that an earlier build wrote and that are no longer part of the set are removed; any
other file is left alone.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MIN_SIDE = 256  # shorter side, in the package; the measures are taken on a thumbnail of this shorter side
CUTOUT_MIN = 0.01  # share of transparent pixels from which an image is a cut-out object, not a photo of a scene
GREY_MAX = 5.0  # colourfulness (Hasler and Suesstrunk 2003, on 0-255 RGB) below which a photo is black-and-white
FLAT_MIN = 0.32  # share of pixels exactly equal to both neighbours from which an image is flat (a drawing, plain)
SMOOTH_MIN = 0.85  # share of pixels within 1/255 of both neighbours from which an image is smooth (a gradient)
DUPLICATE_MAX = 4.0  # mean absolute difference of 32x32 thumbnails (0-255) at or below which two images are copies
VAL_SHARE = 0.1
VAL_MIN_PACKAGE = 5  # a package with at least this many photos always has one in val
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")
MADE_BY = "scripts/photos.py"
APT_TIMEOUT_S = 900
RESERVED_NOTE = (
    "FOR INDEPENDENT EVALUATION ONLY. These photos come from desktop wallpaper packages reserved for independent "
    "checks: never train on them, and never tune anything (models, options, filters, thresholds) on them."
)


class PhotosError(Exception):
    """A problem the user can fix; main() prints it as one line."""


# ---------------------------------------------------------------------------------------------------------------
# Where the photos are


def desktop_meta(path: str, files: dict[str, bytes]) -> dict[str, str]:
    """A palapeli puzzle names its photo's author, licence and origin in a .desktop file beside it."""
    text = files.get(path.rsplit(".", 1)[0] + ".desktop", b"").decode("utf-8", "replace")
    entry = dict(re.findall(r"^(X-KDE-PluginInfo-\w+)=(.*)$", text, flags=re.MULTILINE))
    if not entry.get("X-KDE-PluginInfo-Author"):
        return {}
    meta = {"attribution": entry["X-KDE-PluginInfo-Author"], "licence": entry.get("X-KDE-PluginInfo-License", "")}
    return meta | ({"note": entry["X-KDE-PluginInfo-Website"]} if entry.get("X-KDE-PluginInfo-Website") else {})


def plasma_meta(path: str, files: dict[str, bytes]) -> dict[str, str]:
    """A Plasma wallpaper names its author and licence in metadata.json at the top of its folder."""
    raw = files.get(path.split("/contents/")[0] + "/metadata.json")
    plugin = json.loads(raw).get("KPlugin", {}) if raw else {}
    authors = ", ".join(a["Name"] for a in plugin.get("Authors", []) if a.get("Name"))
    return {"attribution": authors, "licence": plugin.get("License", "")} if authors else {}


@dataclass(frozen=True)
class Source:
    package: str
    patterns: tuple[str, ...]  # globs on paths inside the package ("*" also crosses "/"): images, or .rcc archives
    inner: tuple[str, ...] = ()  # globs on paths inside the .rcc archives
    licence: str = ""  # for a copyright file that is not machine-readable
    author: str = ""  # regex whose group 1 names the author in such a file
    notes: tuple[str, ...] = ()  # files inside the package with upstream licence notes, copied into the manifest
    sidecars: tuple[str, ...] = ()  # globs on files that name a photo's author, read by ``meta``
    meta: Callable[[str, dict[str, bytes]], dict[str, str]] | None = None


# gcompris-qt's activities whose pictures are photos (the others hold drawings, and "details" holds paintings).
GCOMPRIS_PHOTOS = (
    "explore_monuments",
    "explore_world_animals",
    "explore_farm_animals",
    "explore_world_music",
    "erase",
    "categorization",
    "clickgame",
)
SOURCES = (
    Source("endless-sky-data", ("usr/share/games/endless-sky/images/land/*",)),
    Source("gcompris-qt-data", tuple(f"usr/share/gcompris-qt/rcc/{a}.rcc" for a in GCOMPRIS_PHOTOS), inner=("*",)),
    Source(
        "krank",
        ("usr/share/games/krank/levels/unera-backgrounds/*",),
        licence="public-domain",
        author=r"Author of new images:\s*(.+)",
    ),
    Source("scratch", ("usr/share/scratch/Media/Backgrounds/*",)),
    Source("kphotoalbum", ("usr/share/kphotoalbum/demo/*",), licence="GPL-2+", author=r"Upstream Author:\s*(.+)"),
    Source("tuxpaint-data", ("usr/share/tuxpaint/templates/*",)),
    Source("lxqt-themes", ("usr/share/lxqt/wallpapers/*",), notes=("usr/share/lxqt/wallpapers/License",)),
    Source("palapeli-data", ("usr/share/palapeli/collection/*",), sidecars=("*.desktop",), meta=desktop_meta),
)
# Reserved for independent checks: never part of SOURCES. Most of their wallpapers are abstract renders, which
# the filters above do not all catch, so the check set takes the folders that hold photographs; gnome-backgrounds
# (43), ukui-wallpapers and lomiri-wallpapers hold none.
RESERVED_PACKAGES = (
    "mate-backgrounds",
    "gnome-backgrounds",
    "ukui-wallpapers",
    "lomiri-wallpapers",
    "plasma-workspace-wallpapers",
)
PLASMA_PHOTOS = (
    "BytheWater",
    "ColdRipple",
    "ColorfulCups",
    "DarkestHour",
    "EveningGlow",
    "FallenLeaf",
    "Grey",
    "Kite",
    "OneStandsOut",
    "Path",
    "summer_1am",
)
RESERVED = (
    Source("mate-backgrounds", ("usr/share/backgrounds/mate/nature/*",)),
    Source(
        "plasma-workspace-wallpapers",
        tuple(f"usr/share/wallpapers/{w}/contents/images/*" for w in PLASMA_PHOTOS),
        sidecars=("usr/share/wallpapers/*/metadata.json",),
        meta=plasma_meta,
    ),
)


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
# Licences: Debian's machine-readable copyright format (DEP-5), else the source's own licence and author regex;
# a photo's own metadata file, where the package has one, comes first.


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


def licence_of(source: Source, path: str, copyright_text: str | None, stanzas: list[Stanza] | None) -> dict[str, str]:
    """licence, attribution and note (where the copyright file has one) of the file that the copyright file would
    call ``path`` (for an .rcc entry, its path inside the archive)."""
    info = {"licence": source.licence, "attribution": "", "note": ""}
    if stanzas is not None:
        stanza, others = stanza_for(path, stanzas)
        if stanza is not None:
            info.update(licence=stanza.licence, attribution=stanza.copyright, note=stanza.note)
        if others:
            info["note"] = f"{info['note']} (the copyright file also names this file under {', '.join(others)})".strip()
    elif copyright_text and source.author:
        found = re.search(source.author, copyright_text)
        if found:
            info["attribution"] = found.group(1).strip()
    return info


# ---------------------------------------------------------------------------------------------------------------
# Measures


def thumbnail(image: Image.Image, side: int) -> np.ndarray:
    """RGB uint8, shorter side ``side``, by a box filter (each pixel the mean of those it covers)."""
    w, h = image.size
    scale = side / min(w, h)
    return np.asarray(image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX))


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk's colourfulness M (0 for grey; about 15 'slightly', 33 'moderately' colourful)."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def still_share(rgb: np.ndarray, tolerance: int) -> float:
    """Share of pixels within ``tolerance`` (of 255, in every channel) of both their right and lower neighbours.

    With tolerance 0 this is high for a drawing or a plain image (even areas of one exact colour); with 1, also
    for a smooth gradient. A photo has noise and texture: here, photos with a large clear sky reach about 0.3
    with tolerance 0 and 0.6 with tolerance 1, and blurred backgrounds up to 0.83."""
    x = rgb.astype(np.int16)
    right = np.abs(x[:-1, 1:] - x[:-1, :-1]).max(axis=-1) <= tolerance
    down = np.abs(x[1:, :-1] - x[:-1, :-1]).max(axis=-1) <= tolerance
    return float((right & down).mean())


MEASURES = ("transparent", "colourfulness", "flatness", "smoothness")


def measure(image: Image.Image, transparent: float) -> dict[str, float]:
    rgb = thumbnail(image, MIN_SIDE)
    return {
        "transparent": round(transparent, 3),
        "colourfulness": round(colourfulness(rgb), 2),
        "flatness": round(still_share(rgb, 0), 3),
        "smoothness": round(still_share(rgb, 1), 3),
    }


# Each reason to drop an image that measure() gives, in the order they are tried.
CRITERIA = (
    ("cutout", lambda m: m["transparent"] >= CUTOUT_MIN),
    ("grey", lambda m: m["colourfulness"] < GREY_MAX),
    ("flat", lambda m: m["flatness"] >= FLAT_MIN),
    ("smooth", lambda m: m["smoothness"] >= SMOOTH_MIN),
)
REASONS = ("unreadable", "small", *(name for name, _ in CRITERIA), "duplicate")


def open_rgb(data: bytes) -> tuple[Image.Image, float]:
    """An image as RGB the right way up (transparent parts over white), and its share of transparent pixels."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        transparent = float((np.asarray(image.getchannel("A")) < 250).mean())
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image).convert("RGB"), transparent
    return image.convert("RGB"), 0.0


def encode(image: Image.Image, max_side: int, quality: int) -> tuple[bytes, list[int]]:
    w, h = image.size
    if min(w, h) > max_side:
        scale = max_side / min(w, h)
        image = image.resize((round(w * scale), round(h * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, subsampling=0)
    return buffer.getvalue(), list(image.size)


# ---------------------------------------------------------------------------------------------------------------
# Names and split


def output_name(package: str, path: str) -> str:
    """``<package>_<file stem>_<first 8 hex digits of sha256("<package>\\n<path>")>.jpg``: stable and unique.

    A KDE wallpaper (NAME/contents/images/2560x1600.jpg) is called by its folder's name rather than its size."""
    stem = PurePosixPath(path).stem
    if re.fullmatch(r"\d+x\d+", stem) and "/contents/" in path:
        stem = PurePosixPath(path.split("/contents/")[0]).name
    stem = re.sub(r"[^A-Za-z0-9-]+", "-", stem).strip("-") or "image"
    digest = hashlib.sha256(f"{package}\n{path}".encode()).hexdigest()
    return f"{package}_{stem}_{digest[:8]}.jpg"


def name_share(name: str) -> float:
    """Where the hash in an output name falls in [0, 1): below VAL_SHARE means val."""
    return int(name.removesuffix(".jpg").rsplit("_", 1)[1], 16) / 16**8


def assign_splits(photos: list[dict]) -> None:
    """Set each photo's split from the hash in its name; a package with VAL_MIN_PACKAGE or more photos and none
    drawn gives val its photo of lowest hash."""
    by_package: dict[str, list[dict]] = {}
    for photo in photos:
        photo["split"] = "val" if name_share(photo["name"]) < VAL_SHARE else "train"
        by_package.setdefault(photo["package"], []).append(photo)
    for group in by_package.values():
        if len(group) >= VAL_MIN_PACKAGE and all(p["split"] == "train" for p in group):
            min(group, key=lambda p: name_share(p["name"]))["split"] = "val"


# ---------------------------------------------------------------------------------------------------------------
# Build


@dataclass
class Writer:
    """Writes files under ``out`` only where their content changes, and remembers every file it was given."""

    out: Path
    written: int = 0
    files: set[str] = field(default_factory=set)

    def put(self, relative: str, data: bytes) -> None:
        self.files.add(relative)
        path = self.out / relative
        if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        self.written += 1


def previous_manifest(out: Path) -> dict | None:
    """The manifest of an earlier build in ``out``; an error if ``out`` holds a manifest.json of something else."""
    path = out / "manifest.json"
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise PhotosError(f"{path} is not readable JSON ({error}): give another --out, or move that file away") from None
    if not isinstance(manifest, dict) or manifest.get("made_by") != MADE_BY:
        raise PhotosError(f"{path} was not written by {MADE_BY}: give another --out, or move that file away")
    return manifest


def collect(source: Source, deb: Path) -> tuple[list[dict], dict, str | None]:
    """One package's candidate images ({path, data, licence, attribution, note}), its facts, its copyright text."""

    def wanted(path: str) -> bool:
        return (
            path == copyright_path(source.package)
            or path in source.notes
            or matches(path, source.sidecars)
            or (matches(path, source.patterns) and (is_image(path) or path.endswith(".rcc")))
        )

    files = package_files(deb, wanted)
    copyright_text = files.pop(copyright_path(source.package), b"").decode("utf-8", "replace") or None
    stanzas = parse_dep5(copyright_text) if copyright_text else None
    facts = {
        "version": package_version(deb),
        "copyright": f"copyright/{source.package}.txt" if copyright_text else "(none in the package)",
        "copyright_format": "machine-readable" if stanzas is not None else "free-form",
    }
    notes = {path: files[path].decode("utf-8", "replace").strip() for path in source.notes if path in files}
    if notes:
        facts["licence_notes"] = notes

    candidates = []
    for path, data in sorted(files.items()):
        if path.endswith(".rcc") and matches(path, source.patterns):
            for inner, content in sorted(read_rcc(data).items()):
                if matches(inner, source.inner) and is_image(inner):
                    info = licence_of(source, inner, copyright_text, stanzas)
                    candidates.append({"path": f"{path}:{inner}", "data": content, **info})
        elif is_image(path) and matches(path, source.patterns):
            info = licence_of(source, path, copyright_text, stanzas)
            own = source.meta(path, files) if source.meta else {}
            info.update({k: v for k, v in own.items() if v})
            candidates.append({"path": path, "data": data, **info})
    for c in candidates:
        c["attribution"] = c["attribution"] or f"see {facts['copyright']}"
    return candidates, facts, copyright_text


def judge(candidates: list[dict], package: str, max_side: int, quality: int) -> tuple[list[dict], list[dict]]:
    """One package's candidates as kept photos (encoded for output) and dropped images, with measures and reason."""
    kept, dropped = [], []
    for c in candidates:
        record = {"package": package, "path": c["path"]}
        try:
            image, transparent = open_rgb(c["data"])
        except (UnidentifiedImageError, OSError, ValueError) as error:
            detail = "not an image format that Pillow reads" if isinstance(error, UnidentifiedImageError) else str(error)[:160]
            dropped.append({**record, "reason": "unreadable", "detail": detail})
            continue
        record["size"] = list(image.size)
        if min(image.size) < MIN_SIDE:
            dropped.append({**record, "reason": "small"})
            continue
        record.update(measure(image, transparent))
        reason = next((name for name, failed in CRITERIA if failed(record)), None)
        if reason:
            dropped.append({**record, "reason": reason})
            continue
        data, saved = encode(image, max_side, quality)
        thumb = np.asarray(image.resize((32, 32), Image.Resampling.BOX), dtype=np.float32)
        kept.append(
            {
                **record,
                "licence": c["licence"],
                "attribution": c["attribution"],
                "note": c["note"],
                "saved_size": saved,
                "jpeg": data,
                "thumb": thumb,
            }
        )
    return kept, dropped


def drop_duplicates(kept: list[dict]) -> tuple[list[dict], list[dict]]:
    """Keep the largest of images that are copies of one another (one picture at several sizes)."""
    unique: list[dict] = []
    copies = []
    for k in sorted(kept, key=lambda k: (-k["size"][0] * k["size"][1], k["package"], k["path"])):
        aspect = k["size"][0] / k["size"][1]
        original = next(
            (
                u
                for u in unique
                if abs(u["size"][0] / u["size"][1] / aspect - 1) < 0.03
                and np.abs(k["thumb"] - u["thumb"]).mean() <= DUPLICATE_MAX
            ),
            None,
        )
        if original is None:
            unique.append(k)
        else:
            copies.append(
                {
                    **{f: k[f] for f in ("package", "path", "size", *MEASURES)},
                    "reason": "duplicate",
                    "detail": f"copy of {original['package']}:{original['path']}",
                }
            )
    return unique, copies


def build(reserved: bool, out: Path, debs: Path, max_side: int, quality: int, log: Callable[[str], None] = print) -> dict:
    """Fetch, filter, write; returns {manifest, written, removed, others, mib, seconds}."""
    start = time.monotonic()
    previous = previous_manifest(out)
    writer = Writer(out)
    kept: list[dict] = []
    dropped: list[dict] = []
    packages: dict[str, dict] = {}
    missing: dict[str, str] = {}
    for source in RESERVED if reserved else SOURCES:
        try:
            deb = fetch(source.package, debs)
            candidates, facts, copyright_text = collect(source, deb)
        except (PhotosError, OSError, struct.error, zlib.error, subprocess.CalledProcessError) as error:
            missing[source.package] = str(error)
            log(f"warning: {source.package} skipped: {error}")
            continue
        if copyright_text:
            writer.put(facts["copyright"], copyright_text.encode())
        good, bad = judge(candidates, source.package, max_side, quality)
        for k in good:
            k["version"] = facts["version"]
        kept += good
        dropped += bad
        packages[source.package] = {**facts, "images": len(candidates)}
        log(f"{source.package} {facts['version']}: {len(candidates)} images, {len(good)} kept")
    if not packages:
        raise PhotosError("no package could be fetched: " + "; ".join(missing.values()))
    kept, copies = drop_duplicates(kept)
    dropped += copies

    for k in kept:
        k["name"] = output_name(k["package"], k["path"])
    if not reserved:
        assign_splits(kept)
    photos = []
    for k in sorted(kept, key=lambda k: k["name"]):
        k["file"] = f"{k['split']}/{k['name']}" if not reserved else k["name"]
        writer.put(k["file"], k["jpeg"])
        fields = ("file", "split", "package", "version", "path", "licence", "attribution", "note", "size", "saved_size")
        photos.append({f: k[f] for f in (*fields, *MEASURES) if k.get(f, "") != ""})
    for name, facts in packages.items():
        mine = [p for p in photos if p["package"] == name]
        facts["kept"] = len(mine)
        if not reserved:
            facts["val"] = sum(p["split"] == "val" for p in mine)
        facts["dropped"] = {r: sum(d["package"] == name and d["reason"] == r for d in dropped) for r in REASONS}

    settings = {
        "min_side": MIN_SIDE,
        "max_side": max_side,
        "jpeg_quality": quality,
        "cutout_min_transparent": CUTOUT_MIN,
        "grey_below_colourfulness": GREY_MAX,
        "flat_min_flatness": FLAT_MIN,
        "smooth_min_smoothness": SMOOTH_MIN,
        "duplicate_max_difference": DUPLICATE_MAX,
    }
    manifest = {
        "made_by": MADE_BY,
        "about": RESERVED_NOTE if reserved else "Real colour photos from Debian packages, for training and validation.",
        "use": usage(out, reserved),
        "settings": settings if reserved else settings | {"val_share": VAL_SHARE, "val_min_package": VAL_MIN_PACKAGE},
        "packages": packages,
        "missing": missing,
        "photos": photos,
        "dropped": sorted(dropped, key=lambda d: (d["package"], d["path"])),
    }
    if reserved:
        manifest["reserved_packages"] = list(RESERVED_PACKAGES)
    writer.put("manifest.json", (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode())

    removed = 0
    earlier = [p["file"] for p in (previous or {}).get("photos", [])]
    earlier += [f["copyright"] for f in (previous or {}).get("packages", {}).values() if f["copyright"].startswith("copyright/")]
    for file in earlier:
        if file not in writer.files and (out / file).is_file():
            (out / file).unlink()
            removed += 1
    others = sorted(p for p in out.rglob("*") if p.is_file() and p.relative_to(out).as_posix() not in writer.files)
    return {
        "manifest": manifest,
        "written": writer.written,
        "removed": removed,
        "others": others,
        "mib": sum((out / p["file"]).stat().st_size for p in photos) / 2**20,
        "seconds": time.monotonic() - start,
    }


def usage(out: Path, reserved: bool) -> str:
    if reserved:
        return f"make evaluate CKPT=... DATA={out}"
    return f"data=folder data.root={out / 'train'} data.val_root={out / 'val'}"


def summary(result: dict, reserved: bool) -> list[str]:
    m = result["manifest"]
    lines = [f"{'package':28} {'version':18} {'images':>6} {'kept':>5} {'val':>4}  dropped"]
    for name, p in m["packages"].items():
        why = ", ".join(f"{n} {r}" for r, n in p["dropped"].items() if n) or "none"
        lines.append(f"{name:28} {p['version']:18} {p['images']:6} {p['kept']:5} {p.get('val', '-'):>4}  {why}")
    val = "" if reserved else f" ({sum(p['split'] == 'val' for p in m['photos'])} in val)"
    lines.append(f"{len(m['photos'])} photos{val}, {result['mib']:.1f} MiB, {result['seconds']:.0f} s")
    if result["written"] or result["removed"]:
        lines.append(f"{result['written']} files written, {result['removed']} removed")
    else:
        lines.append("up to date: nothing written")
    if result["others"]:
        lines.append(f"note: {len(result['others'])} other files in the folder were left alone, e.g. {result['others'][0]}")
    for name, why in m["missing"].items():
        lines.append(f"MISSING: {name} ({why})")
    lines.append(m["about"] + f" Use: {m['use']}" if reserved else f"Train with: {m['use']}")
    return lines


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="photos.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--reserved",
        action="store_true",
        help="build the independent-check set from the reserved wallpaper packages (out: data/photos-check)",
    )
    parser.add_argument("--out", type=Path, help="output folder (default: data/photos, or data/photos-check)")
    parser.add_argument("--debs", type=Path, help="cache of .deb files (default: debs/ beside the output folder)")
    parser.add_argument("--max-side", type=int, default=384, help="shorter side of a saved photo at most this (default 384)")
    parser.add_argument("--quality", type=int, default=92, help="JPEG quality, 1 to 100 (default 92)")
    args = parser.parse_args(argv)
    if args.max_side < 32:
        parser.error(f"--max-side {args.max_side} is too small: give 32 or more")
    if not 1 <= args.quality <= 100:
        parser.error(f"--quality {args.quality} is out of range: give 1 to 100")
    out = args.out or Path("data/photos-check" if args.reserved else "data/photos")
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out} is a file, not a folder")
    try:
        previous_manifest(out)
    except PhotosError as error:
        parser.error(str(error))
    try:
        result = build(args.reserved, out, args.debs or out.parent / "debs", args.max_side, args.quality)
    except PhotosError as error:
        print(f"photos.py: {error}", file=sys.stderr)
        return 1
    print("\n".join(summary(result, args.reserved)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
