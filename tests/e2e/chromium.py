"""Debian's Chromium for the browser tests, installed with apt when it is missing.

A fresh machine (CI, a new container) has no browser, and `make test` must still pass
there, so the test setup installs one. It is somebody's machine all the same: the
install is announced before it starts, takes only what Chromium needs (no recommended
packages), and never upgrades a package that is already installed. When apt would have
to upgrade something to install Chromium, the setup stops and says which packages, so
that a person decides.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
PACKAGE = "chromium"
INSTALL = ("install", "-y", "-qq", "--no-install-recommends", "--no-upgrade", PACKAGE)
"""apt-get arguments: the same ones are simulated first, so what is announced is what runs."""

# "Inst name (new-version ...)" installs; "Inst name [old-version] (new-version ...)"
# replaces an installed version: the upgrade we refuse to do behind anyone's back.
_INST = re.compile(r"^Inst (?P<name>\S+)(?: \[(?P<old>[^\]]+)\])?")


class ChromiumUnavailable(Exception):
    """Chromium is missing and the test setup will not (or cannot) install it."""


@dataclass(frozen=True)
class AptPlan:
    """What `apt-get install` would do, read from its simulation (`-s`)."""

    new: list[str] = field(default_factory=list)
    upgrades: list[str] = field(default_factory=list)


def read_simulation(output: str) -> AptPlan:
    plan = AptPlan()
    for line in output.splitlines():
        found = _INST.match(line)
        if found is None:
            continue
        (plan.upgrades if found["old"] else plan.new).append(found["name"])
    return plan


def ensure_chromium(announce: Callable[[str], None], chromium: Path = CHROMIUM) -> Path:
    """Return Chromium's path, installing Debian's package first when it is missing."""
    if chromium.exists():
        return chromium
    apt = shutil.which("apt-get")
    manual = f"apt-get install --no-install-recommends {PACKAGE}"
    if apt is None or os.geteuid() != 0:
        raise ChromiumUnavailable(
            f"{chromium} is missing and the browser tests need it; install it with: {manual}"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def simulate() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [apt, "-s", *INSTALL], capture_output=True, text=True, env=env, timeout=300
        )

    simulated = simulate()
    if simulated.returncode != 0 or not read_simulation(simulated.stdout).new:
        # No package lists yet (a fresh image) or stale ones: refresh them, which
        # changes no installed package, and ask again.
        announce(
            f"e2e: {chromium} is missing; running 'apt-get update' to find Debian's"
            f" {PACKAGE} package (package lists only, nothing is upgraded)"
        )
        subprocess.run([apt, "update", "-qq"], check=True, env=env, timeout=600)
        simulated = simulate()
    if simulated.returncode != 0 or not read_simulation(simulated.stdout).new:
        raise ChromiumUnavailable(
            f"{chromium} is missing and apt has nothing to install for {PACKAGE}:"
            f" {simulated.stderr.strip() or simulated.stdout.strip()[-500:]}"
        )
    plan = read_simulation(simulated.stdout)
    if plan.upgrades:
        raise ChromiumUnavailable(
            f"{chromium} is missing, and installing {PACKAGE} would upgrade installed"
            f" packages ({', '.join(plan.upgrades)}); the tests will not do that for you."
            f" Install it yourself ({manual}) and run the tests again"
        )
    announce(
        f"e2e: {chromium} is missing; installing Debian's {PACKAGE} for the browser tests:"
        f" apt-get {' '.join(INSTALL)} ({len(plan.new)} new package(s), no recommends,"
        f" nothing upgraded): {' '.join(plan.new)}"
    )
    try:
        subprocess.run([apt, *INSTALL], check=True, env=env, timeout=900)
    except subprocess.CalledProcessError as exc:
        raise ChromiumUnavailable(
            f"apt-get {' '.join(INSTALL)} failed (exit {exc.returncode}; its output is in"
            f" this test's captured output). Install it yourself ({manual}) and run the tests again"
        ) from None
    if not chromium.exists():
        raise ChromiumUnavailable(f"apt installed {PACKAGE} but {chromium} is still missing")
    announce(f"e2e: installed {PACKAGE} ({chromium})")
    return chromium
