"""make photos (colorize.photos): a photo set from Debian packages, built here from small .deb files that a fake apt-get
makes."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorize.data.photoset import debian, packages
from colorize.data.photoset.build import output_name
from colorize.photos import main

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb (Debian's dpkg) is not installed")


# ---------------------------------------------------------------------------------------------------------------
# Synthetic images, one per kind the filters tell apart


def colour_photo(seed: int, size=(320, 260)) -> Image.Image:
    """Colour blobs with sensor-like noise: colourful, with no two neighbours equal."""
    rng = np.random.default_rng(seed)
    w, h = size
    blobs = Image.fromarray(rng.integers(0, 256, (h // 20 + 2, w // 20 + 2, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)
    noisy = np.asarray(blobs, dtype=np.float32) + rng.normal(0, 6, (h, w, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def grey_photo(seed: int) -> Image.Image:
    return colour_photo(seed).convert("L").convert("RGB")


def drawing() -> Image.Image:
    """Even areas of a few colours, like a cartoon background."""
    x = np.zeros((260, 320, 3), np.uint8)
    x[:130] = (90, 160, 230)
    x[130:] = (60, 170, 70)
    x[150:220, 40:140] = (200, 40, 40)
    return Image.fromarray(x)


def gradient() -> Image.Image:
    """A smooth two-way colour gradient, like an abstract wallpaper."""
    yy, xx = np.mgrid[0:260, 0:320]
    x = np.stack([xx * 255 / 319, yy * 255 / 259, np.full_like(xx, 128.0)], axis=-1)
    return Image.fromarray(x.round().astype(np.uint8))


def cutout(seed: int) -> Image.Image:
    image = colour_photo(seed).convert("RGBA")
    alpha = np.full(image.size[::-1], 255, np.uint8)
    alpha[:, :100] = 0
    image.putalpha(Image.fromarray(alpha))
    return image


def encoded(image: Image.Image, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------------------
# A Qt resource archive, written as qtbase's rcc writes it (src/tools/rcc/rcc.cpp: writeHeader, writeDataBlobs,
# writeDataNames, writeDataStructure, writeInitializer): the reader must read it back.


def write_rcc(files: dict[str, tuple[bytes, str]], version: int = 3) -> bytes:
    """files: {"dir/sub/name": (content, "plain" | "zlib" | "zstd")}."""
    tree: dict = {}
    for path, item in files.items():
        *dirs, name = path.split("/")
        node = tree
        for d in dirs:
            node = node.setdefault(d, {})
        node[name] = item
    header = b"qres" + bytes(16 + (4 if version >= 3 else 0))
    blobs, names, entries = bytearray(), bytearray(), []
    name_offsets: dict[str, int] = {}

    def name_offset(name: str) -> int:
        if name not in name_offsets:
            name_offsets[name] = len(names)
            names.extend(struct.pack(">HI", len(name), 0) + name.encode("utf-16-be"))
        return name_offsets[name]

    # Breadth-first, as rcc lays out the tree: each directory's children are consecutive entries.
    entries.append(None)
    queue = [(0, "", tree)]
    while queue:
        index, name, node = queue.pop(0)
        first = len(entries)
        children = sorted(node.items())
        entries.extend([None] * len(children))
        entries[index] = struct.pack(">IHII", name_offset(name) if index else 0, 0x02, len(children), first)
        for i, (child, value) in enumerate(children):
            if isinstance(value, dict):
                queue.append((first + i, child, value))
                continue
            content, how = value
            flags = 0
            if how == "zlib":
                content, flags = struct.pack(">I", len(content)) + zlib.compress(content, 9), 0x01
            elif how == "zstd":
                content, flags = subprocess.run(["zstd", "-q", "-c"], input=content, capture_output=True, check=True).stdout, 0x04
            entries[first + i] = struct.pack(">IHHHI", name_offset(child), flags, 0, 0, len(blobs))
            blobs.extend(struct.pack(">I", len(content)) + content)
    stamp = struct.pack(">Q", 1_700_000_000_000) if version >= 2 else b""
    body_tree = b"".join(e + stamp for e in entries)
    data_offset = len(header)
    names_offset = data_offset + len(blobs)
    tree_offset = names_offset + len(names)
    out = bytearray(header + blobs + names + body_tree)
    out[4:20] = struct.pack(">IIII", version, tree_offset, data_offset, names_offset)
    return bytes(out)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_rcc_reader_reads_plain_zlib_and_zstd_entries_in_nested_folders(version):
    how = ["plain", "zlib"] + (["zstd"] if shutil.which("zstd") else [])
    files = {
        f"gcompris/src/activities/a{i}/resource/{kind}.webp": (bytes(range(256)) * (5 + i), kind) for i, kind in enumerate(how)
    }
    files["gcompris/readme"] = (b"plain text", "plain")
    got = debian.read_rcc(write_rcc(files, version))
    assert got == {f"/{path}": content for path, (content, _) in files.items()}
    if "zstd" not in how:
        pytest.skip("the zstd command is not installed: zstd entries untested")


def test_rcc_reader_rejects_what_is_not_an_archive():
    with pytest.raises(debian.PhotosError, match="qres"):
        debian.read_rcc(b"PK\x03\x04 a zip file")


# ---------------------------------------------------------------------------------------------------------------
# Packages built with dpkg-deb, and a fake apt-get that "downloads" them


ENDLESS_SKY_COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: endless-sky

Files: *
Copyright: Michael Zahniser
License: GPL-3+

Files: images/land/*
Copyright: Various
License: public-domain
 Taken from morgue-file.com.

Files: images/land/bwerner*
Copyright: Berthold Werner (commons.wikimedia.org/wiki/User:Berthold_Werner)
License: CC-BY-SA-3.0
Comment: Taken from Wikimedia commons. Cropped and edited.

Files: images/land/*-sfiera*
Copyright: Chris Pickel (sfiera.net)
License: CC-BY-SA-4.0

Files:
 images/land/fields1*
Copyright: Various
License: public-domain
"""
LAND = "usr/share/games/endless-sky/images/land"
KRANK_COPYRIGHT = b"License:\n images:\n\tAuthor of new images: Slava Anishenko\n\tLicense: Public Domain\n"
CASTLE_DESKTOP = (
    b"[Desktop Entry]\nName=Castle\nX-KDE-PluginInfo-Author=Eric Pouhier\n"
    b"X-KDE-PluginInfo-License=FDL\nX-KDE-PluginInfo-Website=http://example.org/c\n"
)


def package_trees(root: Path) -> dict[str, Path]:
    """File trees of fake packages at the real packages' paths (their .deb is built when apt-get 'downloads' it)."""
    trees = {}

    def tree(package: str, files: dict[str, bytes]) -> None:
        base = root / package
        (base / "DEBIAN").mkdir(parents=True)
        (base / "DEBIAN" / "control").write_text(
            f"Package: {package}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: test <t@example.org>\nDescription: test\n"
        )
        for path, data in files.items():
            (base / path).parent.mkdir(parents=True, exist_ok=True)
            (base / path).write_bytes(data)
        trees[package] = base

    tree(
        "endless-sky-data",
        {
            **{f"{LAND}/beach{i}.jpg": encoded(colour_photo(i)) for i in range(8)},
            f"{LAND}/bwerner1.jpg": encoded(colour_photo(20)),
            f"{LAND}/fields10-sfiera.jpg": encoded(colour_photo(21)),
            f"{LAND}/city0.jpg": encoded(colour_photo(22).resize((640, 520))),  # a copy of city1, larger
            f"{LAND}/city1.jpg": encoded(colour_photo(22)),
            f"{LAND}/snow0.jpg": encoded(grey_photo(23)),
            f"{LAND}/station0.png": encoded(drawing(), "PNG"),
            f"{LAND}/sky0.png": encoded(gradient(), "PNG"),
            f"{LAND}/tiny.jpg": encoded(colour_photo(24, size=(200, 150))),
            f"{LAND}/broken.jpg": b"not an image",
            "usr/share/games/endless-sky/images/ship/kestrel.png": encoded(colour_photo(25), "PNG"),  # not a land photo
            "usr/share/doc/endless-sky-data/copyright": ENDLESS_SKY_COPYRIGHT.encode(),
        },
    )
    rcc = write_rcc(
        {
            "gcompris/src/activities/erase/resource/gorilla.webp": (encoded(colour_photo(30), "WEBP"), "plain"),
            "gcompris/src/activities/erase/resource/panda.webp": (encoded(colour_photo(31), "WEBP"), "zlib"),
            "gcompris/src/activities/erase/resource/tiger.png": (encoded(cutout(32), "PNG"), "zlib"),
            "gcompris/src/activities/erase/erase.qml": (b"import QtQuick 2.12", "zlib"),
        }
    )
    tree(
        "gcompris-qt-data",
        {
            "usr/share/gcompris-qt/rcc/erase.rcc": rcc,
            "usr/share/gcompris-qt/rcc/lang.rcc": write_rcc(
                {"gcompris/lang/cat.png": (encoded(colour_photo(33), "PNG"), "plain")}
            ),
            "usr/share/doc/gcompris-qt-data/copyright": ENDLESS_SKY_COPYRIGHT.replace("images/land", "nowhere").encode(),
        },
    )
    tree(
        "krank",
        {
            **{f"usr/share/games/krank/levels/unera-backgrounds/level-0{i}.jpg": encoded(colour_photo(40 + i)) for i in range(3)},
            "usr/share/doc/krank/copyright": KRANK_COPYRIGHT,
        },
    )
    tree(
        "palapeli-data",
        {
            "usr/share/palapeli/collection/castle.jpg": encoded(colour_photo(50)),
            "usr/share/palapeli/collection/castle.desktop": CASTLE_DESKTOP,
        },
    )
    tree("scratch", {"usr/share/scratch/Media/Backgrounds/Nature/lake.jpg": encoded(colour_photo(60))})
    return trees


FAKE_APT = """#!/bin/sh
# apt-get download [options] NAME: builds NAME's .deb from $FAKE_TREES/NAME; fails as apt does for the others
for name; do :; done
echo "$name" >> "$FAKE_TREES/calls"
if [ "$name" = "$FAKE_OFFLINE" ]; then
  echo "E: Failed to fetch http://deb.debian.org/debian/pool/main/$name.deb  Temporary failure resolving 'deb.debian.org'" >&2
  exit 100
fi
[ -d "$FAKE_TREES/$name" ] || { echo "E: Unable to locate package $name" >&2; exit 100; }
exec dpkg-deb -Zgzip -z1 --root-owner-group -b "$FAKE_TREES/$name" "${name}_1.0-1_all.deb" >/dev/null
"""
PACKAGES = ("endless-sky-data", "gcompris-qt-data", "krank", "palapeli-data", "scratch")


@pytest.fixture
def fake_apt(tmp_path, monkeypatch):
    """The real packages' sources, restricted to PACKAGES; apt-get 'downloads' them, except scratch (offline)."""
    trees = tmp_path / "trees"
    package_trees(trees)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text(FAKE_APT)
    (bin_dir / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("FAKE_TREES", str(trees))
    monkeypatch.setenv("FAKE_OFFLINE", "scratch")
    monkeypatch.setattr(packages, "PACKAGES", tuple(s for s in packages.PACKAGES if s.package in PACKAGES))
    return trees


def run(capsys, out: Path, *args: str) -> tuple[int, str]:
    code = main(["--out", str(out), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def mtimes(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@needs_dpkg
def test_photos_are_collected_filtered_split_and_described(fake_apt, tmp_path, capsys):
    out = tmp_path / "data" / "photos"
    code, text = run(capsys, out)
    assert code == 0, text
    manifest = json.loads((out / "manifest.json").read_text())
    packages = manifest["packages"]

    # Every kind of image the filters tell apart, dropped and counted under its reason.
    reasons = {(d["package"], d["path"].rsplit("/", 1)[-1]): d["reason"] for d in manifest["dropped"]}
    assert reasons == {
        ("endless-sky-data", "snow0.jpg"): "grey",
        ("endless-sky-data", "station0.png"): "flat",
        ("endless-sky-data", "sky0.png"): "smooth",
        ("endless-sky-data", "tiny.jpg"): "small",
        ("endless-sky-data", "broken.jpg"): "unreadable",
        ("endless-sky-data", "city1.jpg"): "duplicate",
        ("gcompris-qt-data", "tiger.png"): "cutout",
    }
    assert packages["endless-sky-data"]["dropped"] == {
        "unreadable": 1,
        "small": 1,
        "cutout": 0,
        "grey": 1,
        "flat": 1,
        "smooth": 1,
        "duplicate": 1,
    }
    assert packages["endless-sky-data"]["images"] == 17  # land/ only: not the ship
    assert {p: f["kept"] for p, f in packages.items()} == {
        "endless-sky-data": 11,
        "gcompris-qt-data": 2,
        "krank": 3,
        "palapeli-data": 1,
    }
    for line in ("endless-sky-data", "1 grey, 1 flat, 1 smooth", "1 duplicate"):
        assert line in text

    # One entry per kept photo, with everything a user of the photo needs.
    by_name = {p["path"].rsplit("/", 1)[-1]: p for p in manifest["photos"]}
    assert len(by_name) == len(manifest["photos"]) == len(list(out.glob("*/*.jpg"))) == 17
    for p in manifest["photos"]:
        assert set(p) >= {"file", "split", "package", "version", "path", "licence", "attribution", "size", "saved_size"}
        assert p["version"] == "1.0-1" and p["file"] == f"{p['split']}/{Path(p['file']).name}"
        with Image.open(out / p["file"]) as image:
            assert image.format == "JPEG" and list(image.size) == p["saved_size"]
        assert min(p["saved_size"]) == min(min(p["size"]), 384)
    assert by_name["city0.jpg"]["size"] == [640, 520] and by_name["city0.jpg"]["saved_size"] == [473, 384]
    assert by_name["bwerner1.jpg"]["licence"] == "CC-BY-SA-3.0" and by_name["bwerner1.jpg"]["attribution"].startswith(
        "Berthold Werner"
    )
    # "fields1*" (public-domain, later in the file) also matches: the stanza that names the author wins
    assert (by_name["fields10-sfiera.jpg"]["licence"], by_name["fields10-sfiera.jpg"]["attribution"]) == (
        "CC-BY-SA-4.0",
        "Chris Pickel (sfiera.net)",
    )
    assert (by_name["beach0.jpg"]["licence"], by_name["beach0.jpg"]["attribution"]) == ("public-domain", "Various")
    assert by_name["level-00.jpg"]["attribution"] == "Slava Anishenko" and by_name["level-00.jpg"]["licence"] == "public-domain"
    assert (by_name["castle.jpg"]["attribution"], by_name["castle.jpg"]["licence"]) == ("Eric Pouhier", "FDL")
    assert (
        by_name["gorilla.webp"]["path"]
        == "usr/share/gcompris-qt/rcc/erase.rcc:/gcompris/src/activities/erase/resource/gorilla.webp"
    )
    assert "cat.png" not in by_name  # lang.rcc holds drawings: not a source
    assert (out / "copyright" / "endless-sky-data.txt").read_text() == ENDLESS_SKY_COPYRIGHT

    # The split: disjoint, ~10% by the hash in each name (of package and path), at least one val photo per package
    # with 5 or more, and the same on every build.
    train = {p.name for p in (out / "train").iterdir()}
    val = {p.name for p in (out / "val").iterdir()}
    assert train and val and not train & val
    for p in manifest["photos"]:
        digest = hashlib.sha256(f"{p['package']}\n{p['path']}".encode()).hexdigest()[:8]
        assert Path(p["file"]).stem.endswith(f"_{digest}")
    for package in packages:
        mine = sorted(
            (int(Path(p["file"]).stem[-8:], 16) / 16**8, p["split"]) for p in manifest["photos"] if p["package"] == package
        )
        drawn = [share < 0.1 for share, _ in mine]
        expected = ["val" if d or (i == 0 and len(mine) >= 5 and not any(drawn)) else "train" for i, d in enumerate(drawn)]
        assert [split for _, split in mine] == expected
    assert packages["endless-sky-data"]["val"] >= 1
    assert f"data.root={out / 'train'} data.val_root={out / 'val'}" in text

    # The package that could not be downloaded is named, and the rest was built.
    assert "warning: scratch skipped" in text and "MISSING: scratch" in text and "Temporary failure resolving" in text
    assert list(manifest["missing"]) == ["scratch"]
    assert sorted(p.name for p in (tmp_path / "data" / "debs").glob("*.deb")) == [
        f"{p}_1.0-1_all.deb" for p in ("endless-sky-data", "gcompris-qt-data", "krank", "palapeli-data")
    ]

    # A second build with the same packages downloads nothing (but the missing one) and rewrites nothing.
    (fake_apt / "calls").unlink()
    (out / "train" / "mine.jpg").write_bytes(b"a user's file")
    before = mtimes(out)
    code, text = run(capsys, out)
    assert code == 0 and "up to date: nothing written" in text
    assert mtimes(out) == before
    assert (fake_apt / "calls").read_text().split() == ["scratch"]
    assert "1 other files in the folder were left alone" in text and (out / "train" / "mine.jpg").read_bytes() == b"a user's file"
    assert json.loads((out / "manifest.json").read_text()) == manifest


@needs_dpkg
def test_a_photo_gone_from_its_package_is_removed_and_other_settings_rewrite(fake_apt, tmp_path, capsys):
    out = tmp_path / "photos"
    assert run(capsys, out)[0] == 0
    gone = next(p for p in json.loads((out / "manifest.json").read_text())["photos"] if p["path"].endswith("level-01.jpg"))
    (fake_apt / "krank" / "usr/share/games/krank/levels/unera-backgrounds/level-01.jpg").unlink()
    next((tmp_path / "debs").glob("krank_*.deb")).unlink()
    code, text = run(capsys, out, "--max-side", "300", "--quality", "80")
    assert code == 0 and "removed" in text
    manifest = json.loads((out / "manifest.json").read_text())
    assert not (out / gone["file"]).exists() and gone["path"] not in {p["path"] for p in manifest["photos"]}
    assert manifest["settings"]["max_side"] == 300 and all(min(p["saved_size"]) <= 300 for p in manifest["photos"])


@needs_dpkg
def test_no_package_at_all_is_an_error_naming_them(fake_apt, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(packages, "PACKAGES", tuple(s for s in packages.PACKAGES if s.package == "scratch"))
    code, text = run(capsys, tmp_path / "photos")
    assert code == 2 and "error: no package could be fetched" in text and "scratch" in text


def test_unknown_package_says_to_update_apt(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text("#!/bin/sh\necho 'E: Unable to locate package nosuch' >&2\nexit 100\n")
    (bin_dir / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    with pytest.raises(
        debian.PhotosError, match=r"apt-get download nosuch failed: E: Unable to locate package nosuch; run 'apt-get update' once"
    ):
        debian.fetch("nosuch", tmp_path / "debs")
    assert not list((tmp_path / "debs").iterdir())  # no partial download left in the cache


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quality", "0"], "--quality 0 is out of range: give 1 to 100"),
        (["--max-side", "8"], "--max-side 8 is too small"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_give_one_clear_line_and_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_folder_with_someone_elses_manifest_is_refused(tmp_path, capsys):
    (tmp_path / "manifest.json").write_text('{"mine": true}')
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path)])
    assert exit_info.value.code == 2 and "was not written by colorize.photos (make photos)" in capsys.readouterr().err
    assert (tmp_path / "manifest.json").read_text() == '{"mine": true}'


def test_reserved_wallpaper_packages_never_feed_the_training_set():
    assert len(packages.RESERVED_PACKAGES) == 5
    assert not {s.package for s in packages.PACKAGES} & set(packages.RESERVED_PACKAGES)
    assert {s.package for s in packages.RESERVED} <= set(packages.RESERVED_PACKAGES)


@needs_dpkg
def test_the_check_set_says_it_is_for_evaluation_only(tmp_path, capsys, monkeypatch):
    trees = tmp_path / "trees"
    base = trees / "mate-backgrounds"
    (base / "DEBIAN").mkdir(parents=True)
    (base / "DEBIAN" / "control").write_text(
        "Package: mate-backgrounds\nVersion: 1.26.0-1\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: t\n"
    )
    (base / "usr/share/backgrounds/mate/nature").mkdir(parents=True)
    (base / "usr/share/backgrounds/mate/nature/Aqua.jpg").write_bytes(encoded(colour_photo(70)))
    (base / "usr/share/backgrounds/mate/abstract").mkdir(parents=True)
    (base / "usr/share/backgrounds/mate/abstract/Flow.png").write_bytes(encoded(colour_photo(71), "PNG"))
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "apt-get").write_text(FAKE_APT)
    (tmp_path / "bin" / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("FAKE_TREES", str(trees))
    monkeypatch.setattr(packages, "RESERVED", packages.RESERVED[:1])
    out = tmp_path / "photos-check"
    code, text = run(capsys, out, "--reserved")
    assert code == 0, text
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["about"].startswith("FOR INDEPENDENT EVALUATION ONLY") and "never train" in manifest["about"]
    assert "FOR INDEPENDENT EVALUATION ONLY" in text
    assert [p["file"] for p in manifest["photos"]] == [
        output_name("mate-backgrounds", "usr/share/backgrounds/mate/nature/Aqua.jpg")
    ]
    assert "split" not in manifest["photos"][0] and not (out / "train").exists()


@pytest.mark.slow
def test_a_real_package_from_debian(tmp_path, capsys, monkeypatch):
    """palapeli-data (2 MB): five puzzle photos, each with its author in a .desktop file."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("needs apt-get and dpkg-deb (a Debian or Ubuntu system)")
    try:
        debian.fetch("palapeli-data", tmp_path / "debs")
    except debian.PhotosError as error:
        pytest.skip(f"apt-get cannot download here: {error}")
    monkeypatch.setattr(packages, "PACKAGES", tuple(s for s in packages.PACKAGES if s.package == "palapeli-data"))
    code, text = run(capsys, tmp_path / "photos")
    assert code == 0, text
    manifest = json.loads((tmp_path / "photos" / "manifest.json").read_text())
    assert manifest["packages"]["palapeli-data"]["kept"] == 5 and manifest["packages"]["palapeli-data"]["val"] >= 1
    assert all(p["attribution"] and not p["attribution"].startswith("see ") for p in manifest["photos"])


@needs_dpkg
def test_a_set_built_by_the_earlier_script_is_taken_over_unchanged_but_its_manifest(fake_apt, tmp_path, capsys):
    """data/photos as scripts/photos.py (this builder before it moved into colorize) left it: the same photos and split,
    so only manifest.json is written again, naming its new maker."""
    out = tmp_path / "photos"
    assert run(capsys, out)[0] == 0
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps(manifest | {"made_by": "scripts/photos.py"}, indent=1) + "\n")
    before = {k: v for k, v in mtimes(out).items() if k != "manifest.json"}
    code, text = run(capsys, out)
    assert code == 0 and "1 files written, 0 removed" in text
    assert {k: v for k, v in mtimes(out).items() if k != "manifest.json"} == before
    assert json.loads((out / "manifest.json").read_text()) == manifest and manifest["made_by"] == "colorize.photos"
