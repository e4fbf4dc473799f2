#!/usr/bin/env bash
# The benchmarks on the borrowed 16-core machine (DEVELOPERS.md), run from the repo root:
#
#   bash bench/device.sh [quick|full|pg|alone]
#
# It has no network, so it makes a virtual environment offline from the wheels carried in
# .whl-pack (or .whl), installs the hub from this tree, prints the machine, runs a
# short smoke test (it stops there if the hub does not work), then:
#   quick: bench/scale.py --quick (hub and echo, 1 and 2 workers)
#   full:  bench/store_cost.py on SQLite (batches of 100), bench/scale.py (1, 2, 4, 8
#          workers; each hub run prints the writer lock's share), then bench/ingest.py
#          --only hub with INTERMODAL_WORKERS=8 (p99 at 5,000/s offered, CPU per webhook)
#   pg:    a PostgreSQL 16 of its own (the binaries in .whl's pgserver wheel, run as an
#          unprivileged user), then bench/store_cost.py on both stores, bench/scale.py
#          --nodes 1,2,3 (PG_WORKERS workers a node, default 2) and bench/scale.py
#          --workers 1,4,8 on it (PG_QUICK=1: --quick)
#   alone: bench/scale.py --pause-appliers --workers 1,4,8: ingest with the cores and the
#          SQLite writer lock to itself, the most the inbox in a file of its own could
#          give (DEVELOPERS.md, "What would lift a SQLite node's ceiling"); about 4 minutes
# Everything goes to stdout and to $OUT/device.log ($OUT unset: /tmp/device-bench.log).
#
# Overrides: PY (python to make the venv with, default python3), WHEELS (default .whl,
# or .whl-pack/wheels.tar.xz unpacked into /tmp/hubwheels when .whl is not here),
# VENV (default /tmp/hubenv), BUDGET (seconds for the whole full run, default 480),
# INGEST_SHARE (seconds of it held back for ingest.py, default 130).
set -euo pipefail

MODE=${1:-quick}
case "$MODE" in
  quick | full | pg | alone) ;;
  *) echo "usage: bash bench/device.sh [quick|full|pg|alone]" >&2; exit 2 ;;
esac

SELF=$(realpath "$0")
cd "$(dirname "$SELF")/.."

# Run the script again under tee, so that the log holds everything, failures included.
if [ -z "${DEVICE_SH_TEED:-}" ]; then
  LOG=${OUT:+$OUT/device.log}
  LOG=${LOG:-/tmp/device-bench.log}
  DEVICE_SH_TEED=1 bash "$SELF" "$@" 2>&1 | tee "$LOG"
  exit "${PIPESTATUS[0]}"
fi

PY=${PY:-python3}
WHEELS=${WHEELS:-.whl}
VENV=${VENV:-/tmp/hubenv}
BUDGET=${BUDGET:-480}
VPY=$VENV/bin/python

step() { echo; echo "== [+${SECONDS}s $(date -u +%H:%M:%S)] $*"; }
die() { echo; echo "device.sh: FAILED: $*"; exit 1; }

# Only the carried wheels, nothing from the host: no pip configuration, no PYTHONPATH.
for var in $(compgen -e | grep '^PIP_' || true); do unset "$var"; done
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV INTERMODAL_WORKERS
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
export PYTHONUNBUFFERED=1
ulimit -n 65536 2>/dev/null || true

step "bench/device.sh $MODE: virtual environment $VENV"
command -v "$PY" >/dev/null || die "no '$PY' here (set PY=...)"
echo "from: $(command -v "$PY") ($("$PY" -V 2>&1))"
if ! compgen -G "$WHEELS/*.whl" >/dev/null && [ -f .whl-pack/wheels.tar.xz ]; then
  echo "unpacking .whl-pack/wheels.tar.xz ($(du -sh .whl-pack/wheels.tar.xz | cut -f1))"
  rm -rf /tmp/hubwheels
  mkdir -p /tmp/hubwheels
  tar -C /tmp/hubwheels -xJf .whl-pack/wheels.tar.xz || die "could not unpack .whl-pack"
  WHEELS=/tmp/hubwheels/wheels
fi
compgen -G "$WHEELS/*.whl" >/dev/null ||
  die "no wheels in $WHEELS: carry .whl-pack (DEVELOPERS.md)"
echo "wheels: $(ls "$WHEELS"/*.whl | wc -l) in $WHEELS ($(du -sh "$WHEELS" | cut -f1))"
rm -rf "$VENV"
if ! "$PY" -m venv "$VENV"; then
  echo "'$PY -m venv' failed (no ensurepip?): making it without pip"
  rm -rf "$VENV"
  "$PY" -m venv --without-pip "$VENV" || die "'$PY -m venv --without-pip $VENV' failed"
fi
if ! "$VPY" -m pip --version >/dev/null 2>&1; then
  PIP_WHEEL=$(compgen -G "$WHEELS/pip-*.whl" | head -n 1) || die "no pip wheel in $WHEELS"
  echo "no pip in the venv: installing it from $PIP_WHEEL"
  "$VPY" "$PIP_WHEEL/pip" install -q --no-index --no-cache-dir "$PIP_WHEEL" ||
    die "could not install pip from $PIP_WHEEL"
fi

step "installing the wheels (offline)"
# pgserver's wheel only carries PostgreSQL's binaries for the pg mode: not installed.
mapfile -t WHEEL_FILES < <(ls "$WHEELS"/*.whl | grep -v '/pgserver-')
"$VPY" -m pip install -q --no-index --no-cache-dir --no-compile "${WHEEL_FILES[@]}" ||
  die "the wheels in $WHEELS do not install here (they are for CPython 3.12, x86-64)"

step "installing the hub from this tree"
"$VPY" -m pip install -q --no-index --no-cache-dir --no-compile --find-links "$WHEELS" \
  --no-build-isolation ./ || die "could not install the hub from this tree"
"$VPY" -m pip check || die "pip check: the environment is incomplete"
[ -x "$VENV/bin/intermodal" ] || die "no intermodal console script in $VENV/bin"

step "machine"
echo "nproc: $(nproc)"
echo "cpu: $(grep -m 1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "memory: $(free -g 2>/dev/null | awk '/^Mem:/ {print $2 " GiB"}')"
echo "python: $("$VPY" -V 2>&1) ($VPY)"
echo "kernel: $(uname -r)"
echo "/tmp (the benchmarks' SQLite files): $(df -T /tmp 2>/dev/null | awk 'NR == 2 {print $2}')"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown) (the tree that travelled: src/ sha256 $(find src -name "*.py" | sort | xargs cat | sha256sum | cut -c1-12))"

step "smoke: the hub with 2 workers starts, takes a short signed load, drains its backlog"
# A file, not stdin: the load generator is a spawned process, which imports the main module.
cat >"$VENV/smoke.py" <<'PYTHON'
import os
import sys
import time

sys.path.insert(0, "bench")
from _common import LoadSpec, describe_load, free_port, hub_server, new_webhook_secret, run_load, workdir
from ingest import PATH, hub_backlog, hub_config, wait_drained


def main() -> None:
    os.environ["INTERMODAL_WORKERS"] = "2"
    secret = new_webhook_secret()
    with workdir("smoke") as work:
        port = free_port()
        hub = hub_server(work, hub_config(work), port, {"ACME_WEBHOOK_SECRET": secret})
        began = time.perf_counter()
        hub.start(timeout=60)
        try:
            print(f"hub x2 ready in {time.perf_counter() - began:.1f} s", flush=True)
            spec = LoadSpec("127.0.0.1", port, PATH, secret, run="s", mode="closed",
                            count=20_000, connections=8, duration=2.0, warmup=200,
                            warmup_seconds=0.5)
            load = run_load(spec)
            print(describe_load("smoke", load), flush=True)
            drained, left = wait_drained(lambda: hub_backlog(work / "hub.db"), 30)
            print(f"backlog drained in {drained:.1f} s, {left} left", flush=True)
            if load.completed == 0 or load.ok < load.completed or left:
                sys.exit(f"smoke failed; the hub's log:\n{hub.tail()}")
        finally:
            hub.stop()
    print("smoke: ok")


if __name__ == "__main__":
    main()
PYTHON
timeout -s INT -k 10 120 "$VPY" "$VENV/smoke.py" ||
  die "smoke test: the hub does not work here; nothing else was run"

# bench SECONDS SCRIPT ARGS...: one benchmark under a time limit (SIGINT, so that it stops
# its servers); a failure is reported and makes the exit status 1, the next one still runs.
status=0
bench() {
  local limit=$1 rc=0
  shift
  ((limit >= 30)) || limit=30
  step "bench/$* (at most ${limit}s)"
  timeout -s INT -k 20 "$limit" "$VPY" bench/"$@" || rc=$?
  if [ "$rc" = 124 ]; then
    echo "device.sh: bench/$1 was stopped at its time limit (${limit}s)"
  fi
  if [ "$rc" != 0 ]; then
    echo "device.sh: bench/$1 exited with $rc"
    status=1
  fi
}

# start_postgres: PostgreSQL 16 from the pgserver wheel's binaries, on PG_PORT (default
# 5433), data in /tmp; as root it runs as the user `pgbench` (PostgreSQL refuses root).
start_postgres() {
  local wheel root=/tmp/pgbench-install data=/tmp/pgbench-data
  wheel=$(compgen -G "$WHEELS/pgserver-*.whl" | head -n 1) ||
    die "no pgserver wheel in $WHEELS: run bench/device-wheels.sh"
  PG_PORT=${PG_PORT:-5433}
  rm -rf "$root" "$data"
  "$VPY" - "$wheel" "$root" <<'PYTHON' || die "could not unpack $wheel"
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1]) as wheel:
    for name in wheel.namelist():
        if name.startswith(("pgserver/pginstall/", "pgserver.libs/")):
            wheel.extract(name, sys.argv[2])
PYTHON
  PG_BIN=$root/pgserver/pginstall/bin
  chmod -R a+rX "$root"
  chmod a+x "$PG_BIN"/*
  "$PG_BIN/postgres" --version || die "these PostgreSQL binaries do not run here"
  mkdir -p "$data"
  as_pg=()
  if [ "$(id -u)" = 0 ]; then
    id pgbench >/dev/null 2>&1 || useradd --system --no-create-home pgbench ||
      die "no user to run PostgreSQL as (useradd failed)"
    chown pgbench "$data"
    as_pg=(setpriv --reuid=pgbench --regid=pgbench --init-groups)
  fi
  "${as_pg[@]}" "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null ||
    die "initdb failed"
  "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$data" -l "$data/server.log" -w -o \
    "-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=500 -c shared_buffers=2GB" \
    start || { tail -20 "$data/server.log"; die "PostgreSQL did not start"; }
  PG_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "PostgreSQL: $PG_URL ($("$PG_BIN/postgres" --version))"
  trap '"${as_pg[@]}" "$PG_BIN/pg_ctl" -D /tmp/pgbench-data -m fast stop >/dev/null 2>&1 || true' EXIT
}

if [ "$MODE" = quick ]; then
  bench 300 scale.py --quick
elif [ "$MODE" = alone ]; then
  bench $((BUDGET - SECONDS - 10)) scale.py --pause-appliers --workers 1,4,8
elif [ "$MODE" = pg ]; then
  step "PostgreSQL"
  start_postgres
  # nodes: 3 x (hub, echo), about 60 s each plus drains; workers on one node: 3 x 60 s.
  quick=()
  [ -z "${PG_QUICK:-}" ] || quick=(--quick)  # a try-out of this mode on a small machine
  # each store's CPU and write-transaction time a message, in-process: about 20 s
  bench 60 store_cost.py --messages 10000 --batch 100 --postgres "$PG_URL"
  bench $((BUDGET - SECONDS - ${WORKERS_SHARE:-200})) scale.py "${quick[@]}" \
    --postgres "$PG_URL" --nodes 1,2,3 --workers "${PG_WORKERS:-2}"
  bench $((BUDGET - SECONDS - 10)) scale.py "${quick[@]}" --postgres "$PG_URL" --workers 1,4,8
else
  # scale: 4 x (hub, echo), about 60 s per worker count plus the hub's backlog drains.
  # ingest (the hub alone, its 20 s closed loop and 20 s open loop at 5,000/s; no echo,
  # no 500/s run): about 60 s plus its drains. The time limits keep the whole run inside
  # BUDGET, and leave ingest its share even if scale's drains run long.
  # SQLite's writer lock a message, apply's part, on this machine's disk: about 15 s
  bench 60 store_cost.py --messages 10000 --batch 100 --postgres none
  bench $((BUDGET - SECONDS - ${INGEST_SHARE:-130})) scale.py
  export INTERMODAL_WORKERS=8
  echo
  echo "INTERMODAL_WORKERS=8"
  bench $((BUDGET - SECONDS - 10)) ingest.py --only hub --no-ceiling --low-rate 0
fi

step "done in ${SECONDS}s, exit $status"
exit "$status"
