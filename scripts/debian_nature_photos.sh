#!/usr/bin/env bash
# Twelve real nature photos (1280x1024 to 2560x1920 JPEGs) from Debian's mate-backgrounds package, into DEST:
# a folder of real photos beyond scikit-image's samples, for data=folder, evaluate and compare. Needs apt (no root:
# `apt-get download` only fetches the package file; nothing is installed).
set -euo pipefail
dest=${1:?usage: scripts/debian_nature_photos.sh DEST}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -qq mate-backgrounds 2>/dev/null) || {
  echo "apt-get download mate-backgrounds failed: run 'apt-get update' once, or check that Debian's packages are reachable." >&2
  exit 1
}
dpkg-deb -x "$work"/mate-backgrounds_*.deb "$work/x"
mkdir -p "$dest"
cp "$work"/x/usr/share/backgrounds/mate/nature/*.jpg "$dest/"
echo "$(ls "$dest"/*.jpg | wc -l) photos in $dest"
