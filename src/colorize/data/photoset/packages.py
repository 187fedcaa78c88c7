"""Which Debian packages the photo set is made of, where their photos are inside them, and who made each photo.

The training set (:data:`PACKAGES`) and the independent-check set (:data:`RESERVED`) never share a package.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from colorize.data.photoset.debian import Stanza, stanza_for


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
class PhotoPackage:
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
PACKAGES = (
    PhotoPackage("endless-sky-data", ("usr/share/games/endless-sky/images/land/*",)),
    PhotoPackage("gcompris-qt-data", tuple(f"usr/share/gcompris-qt/rcc/{a}.rcc" for a in GCOMPRIS_PHOTOS), inner=("*",)),
    PhotoPackage(
        "krank",
        ("usr/share/games/krank/levels/unera-backgrounds/*",),
        licence="public-domain",
        author=r"Author of new images:\s*(.+)",
    ),
    PhotoPackage("scratch", ("usr/share/scratch/Media/Backgrounds/*",)),
    PhotoPackage("kphotoalbum", ("usr/share/kphotoalbum/demo/*",), licence="GPL-2+", author=r"Upstream Author:\s*(.+)"),
    PhotoPackage("tuxpaint-data", ("usr/share/tuxpaint/templates/*",)),
    PhotoPackage("lxqt-themes", ("usr/share/lxqt/wallpapers/*",), notes=("usr/share/lxqt/wallpapers/License",)),
    PhotoPackage("palapeli-data", ("usr/share/palapeli/collection/*",), sidecars=("*.desktop",), meta=desktop_meta),
)
# Reserved for independent checks: never part of PACKAGES. Most of their wallpapers are abstract renders, which
# the filters do not all catch, so the check set takes the folders that hold photographs; gnome-backgrounds
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
    PhotoPackage("mate-backgrounds", ("usr/share/backgrounds/mate/nature/*",)),
    PhotoPackage(
        "plasma-workspace-wallpapers",
        tuple(f"usr/share/wallpapers/{w}/contents/images/*" for w in PLASMA_PHOTOS),
        sidecars=("usr/share/wallpapers/*/metadata.json",),
        meta=plasma_meta,
    ),
)


# ---------------------------------------------------------------------------------------------------------------
# Licences: Debian's machine-readable copyright format (DEP-5), else the package's own licence and author regex;
# a photo's own metadata file, where the package has one, comes first.


def licence_of(source: PhotoPackage, path: str, copyright_text: str | None, stanzas: list[Stanza] | None) -> dict[str, str]:
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
