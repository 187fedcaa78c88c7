"""Building the photo set: each package's images fetched, filtered and named, the split drawn, the files and the
manifest written (only where their content changes), and what an earlier build left and no longer needs removed.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import subprocess
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from colorize.data.photoset.debian import (
    PhotosError,
    copyright_path,
    fetch,
    is_image,
    matches,
    package_files,
    package_version,
    parse_dep5,
    read_rcc,
)
from colorize.data.photoset.filters import (
    CUTOUT_MIN,
    DUPLICATE_MAX,
    FLAT_MIN,
    GREY_MAX,
    MEASURES,
    MIN_SIDE,
    REASONS,
    SMOOTH_MIN,
    drop_duplicates,
    judge,
)
from colorize.data.photoset.packages import RESERVED_PACKAGES, PhotoPackage, licence_of

VAL_SHARE = 0.1
VAL_MIN_PACKAGE = 5  # a package with at least this many photos always has one in val
MADE_BY = "colorize.photos"
EARLIER_MADE_BY = ("scripts/photos.py",)  # the same builder before it moved into colorize
RESERVED_NOTE = (
    "FOR INDEPENDENT EVALUATION ONLY. These photos come from desktop wallpaper packages reserved for independent "
    "checks: never train on them, and never tune anything (models, options, filters, thresholds) on them."
)


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
    if not isinstance(manifest, dict) or manifest.get("made_by") not in (MADE_BY, *EARLIER_MADE_BY):
        raise PhotosError(f"{path} was not written by {MADE_BY} (make photos): give another --out, or move that file away")
    return manifest


def collect(source: PhotoPackage, deb: Path) -> tuple[list[dict], dict, str | None]:
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


def build(
    photo_packages: Sequence[PhotoPackage],
    reserved: bool,
    out: Path,
    debs: Path,
    max_side: int,
    quality: int,
    log: Callable[[str], None] = print,
) -> dict:
    """Fetch, filter, write the photos of ``photo_packages`` (``reserved``: the independent-check set, with no split);
    returns {manifest, written, removed, others, mib, seconds}."""
    start = time.monotonic()
    previous = previous_manifest(out)
    writer = Writer(out)
    kept: list[dict] = []
    dropped: list[dict] = []
    packages: dict[str, dict] = {}
    missing: dict[str, str] = {}
    for source in photo_packages:
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
