"""OdooRPC's own test suite, unmodified, against the Odoo test server: how much of it passes.

OdooRPC keeps its tests in its Git repository (OCA/odoorpc, `odoorpc/tests/`), not in the
sdist on PyPI, and we do not ship a copy of them. Point this script at a folder that holds
them as `<folder>/odoorpc/tests/__init__.py, test_*.py` (a checkout of OCA/odoorpc is such a
folder) and it fetches nothing: it starts `intermodal odoo-sim` on a free loopback port,
runs every `test_*.py` there with the installed OdooRPC in a child process, with the
`ORPC_TEST_*` variables the suite's `__init__.py` reads, and prints each test that did not
pass and the counts.

    .venv/bin/python bench/odoorpc_suite.py /tmp/odoorpc-tests [--version 19] [-k test_db]
    ODOORPC_TESTS=/tmp/odoorpc-tests .venv/bin/python bench/odoorpc_suite.py --quick

With no folder (neither argument nor ODOORPC_TESTS), as when `make bench` runs every bench
with `--quick`, it says so and exits 0. The whole suite takes seconds, so `--quick` runs all.

The installed `odoorpc` package finds the suite's `odoorpc.tests` package because the child
appends `<folder>/odoorpc` to `odoorpc.__path__`; nothing in the suite is edited. This is a
fidelity measure, not a timing: it ends with
`RESULT odoorpc_suite passed=<n> tests peer=<total> ratio=<passed/total>`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from intermodal_sim.odoo.testing import running_sim

# Runs in the child: loads each test module of the suite under the name it has upstream
# (`odoorpc.tests.test_x`), runs them with unittest, and writes one JSON line per test.
CHILD = r"""
import importlib, json, os, sys, traceback, unittest
import odoorpc

root, pattern = sys.argv[1], sys.argv[2]
odoorpc.__path__.append(os.path.join(root, "odoorpc"))
tests = os.path.join(root, "odoorpc", "tests")
suite = unittest.TestSuite()
outcomes = []
for name in sorted(os.listdir(tests)):
    if not (name.startswith("test_") and name.endswith(".py")) or pattern not in name:
        continue
    module = "odoorpc.tests." + name[:-3]
    try:
        suite.addTests(unittest.defaultTestLoader.loadTestsFromModule(
            importlib.import_module(module)))
    except Exception as exc:
        outcomes.append({"test": module, "outcome": "error",
                         "detail": "".join(traceback.format_exception_only(exc)).strip()})


class Recorder(unittest.TestResult):
    def _add(self, test, outcome, detail=""):
        outcomes.append({"test": test.id(), "outcome": outcome, "detail": detail})

    def addSuccess(self, test):
        self._add(test, "passed")

    def addSkip(self, test, reason):
        self._add(test, "skipped", reason)

    def addExpectedFailure(self, test, err):
        self._add(test, "passed")

    def addUnexpectedSuccess(self, test):
        self._add(test, "failed", "unexpected success")

    def addFailure(self, test, err):
        self._add(test, "failed", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        # A failed setUpClass reports one error for its whole class: count each test in it.
        name = test.id() if hasattr(test, "_testMethodName") else str(test)
        detail = self._exc_info_to_string(err, test)
        cls = name.partition("(")[2].rstrip(")")
        members = [t for t in ALL if t.startswith(cls + ".")] if cls else []
        for member in members or [name]:
            outcomes.append({"test": member, "outcome": "error", "detail": detail})


def _flatten(tests):
    for test in tests:
        if isinstance(test, unittest.TestSuite):
            yield from _flatten(test)
        else:
            yield test


ALL = [t.id() for t in _flatten(suite)]
suite.run(Recorder())
for outcome in outcomes:
    print("ODOORPC-SUITE " + json.dumps(outcome), flush=True)
"""


def run_suite(folder: Path, version: int, pattern: str, timeout: float) -> list[dict[str, Any]]:
    """Start the sim, run the suite against it in a child process, return one row per test."""
    with running_sim(version=version) as sim:
        env = dict(os.environ)
        env.update(
            ORPC_TEST_PROTOCOL="jsonrpc",
            ORPC_TEST_HOST=sim.host,
            ORPC_TEST_PORT=str(sim.port),
            ORPC_TEST_DB=sim.db,
            ORPC_TEST_USER=sim.login,
            ORPC_TEST_PWD=sim.password,
            ORPC_TEST_SUPER_PWD=sim.server.config.master_password,
        )
        env.pop("ORPC_TEST_VERSION", None)
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(folder), pattern],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    rows = [
        json.loads(line.removeprefix("ODOORPC-SUITE "))
        for line in child.stdout.splitlines()
        if line.startswith("ODOORPC-SUITE ")
    ]
    if not rows:
        raise SystemExit(f"the suite did not run:\n{child.stdout}\n{child.stderr}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "folder",
        nargs="?",
        default=os.environ.get("ODOORPC_TESTS"),
        help="holds odoorpc/tests/ (e.g. an OCA/odoorpc checkout); default $ODOORPC_TESTS",
    )
    parser.add_argument("--quick", action="store_true", help="the same run: it takes seconds")
    parser.add_argument("--version", type=int, default=19, choices=(17, 18, 19))
    parser.add_argument(
        "-k", dest="pattern", default="", help="only test files whose name has this"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds for the whole suite")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every failure in full")
    args = parser.parse_args()
    if not args.folder:
        print("odoorpc suite: no tests folder given (argument or ODOORPC_TESTS); nothing to run")
        return
    folder = Path(args.folder)
    init = folder / "odoorpc" / "tests" / "__init__.py"
    if not init.is_file():
        raise SystemExit(f"{init} does not exist: pass the folder that holds odoorpc/tests/")
    started = time.perf_counter()
    rows = run_suite(folder.resolve(), args.version, args.pattern, args.timeout)
    elapsed = time.perf_counter() - started
    counts = {
        k: sum(1 for r in rows if r["outcome"] == k)
        for k in ("passed", "failed", "error", "skipped")
    }
    for row in rows:
        if row["outcome"] in ("failed", "error"):
            detail = row["detail"].strip().splitlines()
            shown = "\n      ".join(detail) if args.verbose else (detail[-1] if detail else "")
            print(f"{row['outcome'].upper():7} {row['test']}\n      {shown}")
    total = len(rows)
    # Skipped tests count as passed, as unittest's own "OK (skipped=n)" does.
    ok = counts["passed"] + counts["skipped"]
    print(
        f"odoorpc suite against odoo-sim {args.version}.0: {total} tests, "
        f"{counts['passed']} passed, {counts['skipped']} skipped, {counts['failed']} failed, "
        f"{counts['error']} errors ({elapsed:.1f} s)"
    )
    print(f"RESULT odoorpc_suite passed={ok} tests peer={total} ratio={ok / total:.3f}")


if __name__ == "__main__":
    main()
