#!/usr/bin/env bash
# Fills .whl with the wheels bench/device.sh installs on the borrowed 16-core machine
# (DEVELOPERS.md): everything the hub and the benchmarks need at run time, for CPython
# 3.12 on x86-64 Linux, at the versions .venv has installed, one of each; then packs them
# into .whl-pack/wheels.tar.xz, which is what a device call carries.
# Run it on the development machine, from the root of the checkout the device copies,
# after `make test` or `make run` has built .venv:
#
#   bash bench/device-wheels.sh
#
# The hub itself is not in .whl: device.sh installs it from the tree it runs in, so the
# device always measures the code that travelled with it. intermodal-sim is left out: the
# benchmarks do not use it.
#
# Why a pack: a device call carries at most 64 MiB, the working tree included, and the
# wheels alone came to 55 MB (numpy 17, PostgreSQL 11, Pillow 7). Wheels are deflated zip
# files, which xz cannot shrink further; the same wheels rewritten uncompressed (still
# valid wheels: pip reads stored zip entries) and packed with xz take about two thirds of
# the room. Packing takes a few minutes here; unpacking, seconds there.
set -euo pipefail

cd "$(dirname "$(realpath "$0")")/.."
DEST=${DEST:-.whl}
PACK=${PACK:-.whl-pack}
# what one device call may carry, the tree included (the device README), less a margin
LIMIT_MB=${LIMIT_MB:-60}
VENV_PY=${VENV_PY:-.venv/bin/python}
# Published as source only (pure Python): built into a wheel here.
SOURCE_ONLY=(nkeys)
# PostgreSQL 16.2, self-contained (libc and zlib only), unpacked by device.sh pg.
PGSERVER=0.1.4
TARGET=(--only-binary=:all: --python-version 3.12 --implementation cp --abi cp312
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
  --platform manylinux1_x86_64)

[ -x "$VENV_PY" ] || { echo "no .venv here: run 'make test' or 'make run' first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== the pins: what .venv has installed"
"$VENV_PY" -m pip freeze --exclude-editable | grep -v '^#' >"$tmp/pins.txt"
echo "pip==$("$VENV_PY" -m pip --version | cut -d' ' -f2)" >>"$tmp/pins.txt"

echo "== the hub's wheel (to resolve its dependencies)"
"$VENV_PY" -m pip wheel -q --no-deps --no-build-isolation -w "$tmp/project" .

echo "== wheels of the source-only packages: ${SOURCE_ONLY[*]}"
for name in "${SOURCE_ONLY[@]}"; do
  pin=$(grep -i "^$name==" "$tmp/pins.txt") || { echo "$name is not in .venv" >&2; exit 1; }
  "$VENV_PY" -m pip wheel -q --no-deps --no-binary "$name" -w "$tmp/built" "$pin"
done

echo "== downloading into $DEST"
rm -rf "$DEST"
mkdir -p "$DEST"
git check-ignore -q "$DEST" 2>/dev/null ||
  echo "warning: git does not ignore $DEST (the main checkout: echo /.whl/ >> .git/info/exclude)"
"$VENV_PY" -m pip download -q "${TARGET[@]}" -c "$tmp/pins.txt" --find-links "$tmp/built" \
  -d "$DEST" "$tmp"/project/*.whl hatchling pip
rm -f "$DEST"/intermodal-*.whl
echo "== PostgreSQL for device.sh pg: the binaries inside pgserver's wheel (not installed)"
"$VENV_PY" -m pip download -q "${TARGET[@]}" --no-deps -d "$DEST" "pgserver==$PGSERVER"

echo "== check: the hub installs from $DEST alone, offline"
env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null \
  "$VENV_PY" -m pip install -q --dry-run --ignore-installed --no-index --target "$tmp/x" \
    "${TARGET[@]}" --find-links "$DEST" "$tmp"/project/*.whl hatchling pip
dups=$(ls "$DEST" | grep -v '^pgserver-' | cut -d- -f1 | tr 'A-Z.' 'a-z_' | sort | uniq -d)
[ -z "$dups" ] || { echo "more than one version of: $dups" >&2; exit 1; }
echo "$(ls "$DEST" | wc -l) wheels, $(du -sh "$DEST" | cut -f1) in $DEST"

echo "== packing $DEST into $PACK/wheels.tar.xz (uncompressed wheels, xz)"
rm -rf "$PACK"
mkdir -p "$PACK" "$tmp/stored/wheels"
git check-ignore -q "$PACK" 2>/dev/null ||
  echo "warning: git does not ignore $PACK (the main checkout: echo /$PACK/ >> .git/info/exclude)"
"$VENV_PY" - "$DEST" "$tmp/stored/wheels" <<'PYTHON'
import sys
import zipfile
from pathlib import Path

source, target = Path(sys.argv[1]), Path(sys.argv[2])
for wheel in sorted(source.glob("*.whl")):
    with zipfile.ZipFile(wheel) as old, zipfile.ZipFile(target / wheel.name, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            info.compress_type = zipfile.ZIP_STORED
            new.writestr(info, data)
PYTHON
tar -C "$tmp/stored" -cf - wheels | xz -T0 -9 >"$PACK/wheels.tar.xz"

echo "== check: what a device call carries fits (${LIMIT_MB} MiB)"
mib() { echo $((($1 + 1048575) / 1048576)); }
tree=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
packed=$(stat -c %s "$PACK/wheels.tar.xz")
echo "tree $(mib "$tree") MiB + $PACK $(mib "$packed") MiB = $(mib $((tree + packed))) MiB"
((tree + packed <= LIMIT_MB * 1048576)) ||
  { echo "$PACK and the tree do not fit one device call" >&2; exit 1; }
