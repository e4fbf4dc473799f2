#!/usr/bin/env bash
# Fills .whl with the wheels bench/device.sh installs on the borrowed 16-core machine
# (DEVELOPERS.md): everything the hub, intermodal-sim and the benchmarks need at run time,
# for CPython 3.12 on x86-64 Linux, at the versions .venv has installed, one of each.
# Run it on the development machine, from the root of the checkout the device copies,
# after `make test` or `make run` has built .venv:
#
#   bash bench/device-wheels.sh
#
# The hub and intermodal-sim themselves are not in .whl: device.sh installs them from
# the tree it runs in, so the device always measures the code that travelled with it.
set -euo pipefail

cd "$(dirname "$(realpath "$0")")/.."
DEST=${DEST:-.whl}
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

echo "== the hub's and intermodal-sim's wheels (to resolve their dependencies)"
"$VENV_PY" -m pip wheel -q --no-deps --no-build-isolation -w "$tmp/project" . ./sim

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
rm -f "$DEST"/intermodal-*.whl "$DEST"/intermodal_sim-*.whl
echo "== PostgreSQL for device.sh pg: the binaries inside pgserver's wheel (not installed)"
"$VENV_PY" -m pip download -q "${TARGET[@]}" --no-deps -d "$DEST" "pgserver==$PGSERVER"

echo "== check: the hub installs from $DEST alone, offline"
env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null \
  "$VENV_PY" -m pip install -q --dry-run --ignore-installed --no-index --target "$tmp/x" \
    "${TARGET[@]}" --find-links "$DEST" "$tmp"/project/*.whl hatchling pip
dups=$(ls "$DEST" | grep -v '^pgserver-' | cut -d- -f1 | tr 'A-Z.' 'a-z_' | sort | uniq -d)
[ -z "$dups" ] || { echo "more than one version of: $dups" >&2; exit 1; }
echo "$(ls "$DEST" | wc -l) wheels, $(du -sh "$DEST" | cut -f1) in $DEST"
