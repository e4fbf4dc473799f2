"""Installing Chromium for the browser tests: announced, minimal, never an upgrade.

A stand-in `apt-get` on PATH records every call and answers the simulation with the
lines apt prints, so nothing is installed on the machine running these tests.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.e2e import chromium as setup
from tests.e2e.chromium import ChromiumUnavailable, ensure_chromium, read_simulation

NEW_ONLY = """\
Inst libfoo1 (1.0-1 Debian:12.15/oldstable [amd64])
Inst chromium (130.0-1 Debian-Security:12/oldstable-security [amd64])
Conf libfoo1 (1.0-1 Debian:12.15/oldstable [amd64])
Conf chromium (130.0-1 Debian-Security:12/oldstable-security [amd64])
"""
WITH_UPGRADE = NEW_ONLY + "Inst libc6 [2.36-9] (2.36-9+deb12u9 Debian:12.15/oldstable [amd64])\n"

# Answers `-s` with $FAKE_SIMULATION (or fails until `update` ran when $FAKE_NEEDS_UPDATE),
# and makes $FAKE_CHROMIUM on a real install.
FAKE_APT = """#!/bin/sh
echo "$*" >> "$FAKE_LOG"
case "$1" in
  update) touch "$FAKE_LOG.updated"; exit 0 ;;
  -s)
    if [ -n "$FAKE_NEEDS_UPDATE" ] && [ ! -e "$FAKE_LOG.updated" ]; then
      echo "E: Unable to locate package chromium" >&2; exit 100
    fi
    cat "$FAKE_SIMULATION"; exit 0 ;;
  install) touch "$FAKE_CHROMIUM"; exit 0 ;;
esac
exit 1
"""


@pytest.fixture
def fake_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    apt = folder / "apt-get"
    apt.write_text(FAKE_APT)
    apt.chmod(apt.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "apt.log"))
    monkeypatch.setenv("FAKE_CHROMIUM", str(tmp_path / "chromium"))
    monkeypatch.setenv("FAKE_SIMULATION", str(tmp_path / "simulation.txt"))
    monkeypatch.setattr(setup.os, "geteuid", lambda: 0)
    (tmp_path / "simulation.txt").write_text(NEW_ONLY)
    return tmp_path


def calls(folder: Path) -> list[str]:
    log = folder / "apt.log"
    return log.read_text().splitlines() if log.exists() else []


def test_the_simulation_tells_new_packages_from_upgrades() -> None:
    plan = read_simulation(WITH_UPGRADE)
    assert plan.new == ["libfoo1", "chromium"]
    assert plan.upgrades == ["libc6"]


def test_a_present_chromium_is_used_as_it_is(fake_apt: Path) -> None:
    present = fake_apt / "chromium"
    present.touch()
    said: list[str] = []
    assert ensure_chromium(said.append, present) == present
    assert said == [] and calls(fake_apt) == []


def test_a_missing_chromium_is_announced_then_installed_without_recommends(
    fake_apt: Path,
) -> None:
    said: list[str] = []
    path = ensure_chromium(said.append, fake_apt / "chromium")
    assert path.exists()
    install = "install -y -qq --no-install-recommends --no-upgrade chromium"
    assert calls(fake_apt) == [f"-s {install}", install]  # no update: the lists were enough
    assert "2 new package(s)" in said[0] and "libfoo1 chromium" in said[0]
    assert "--no-install-recommends --no-upgrade" in said[0]
    assert said[-1].startswith("e2e: installed chromium")


def test_package_lists_are_refreshed_only_when_apt_cannot_find_chromium(
    fake_apt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_NEEDS_UPDATE", "1")
    said: list[str] = []
    ensure_chromium(said.append, fake_apt / "chromium")
    done = calls(fake_apt)
    assert [call.split()[0] for call in done] == ["-s", "update", "-s", "install"]
    assert not any("upgrade" in call.split() for call in done)
    assert "apt-get update" in said[0]


def test_nothing_is_installed_when_apt_would_upgrade_an_installed_package(
    fake_apt: Path,
) -> None:
    (fake_apt / "simulation.txt").write_text(WITH_UPGRADE)
    said: list[str] = []
    with pytest.raises(ChromiumUnavailable, match=r"would upgrade installed packages \(libc6\)"):
        ensure_chromium(said.append, fake_apt / "chromium")
    assert [call.split()[0] for call in calls(fake_apt)] == ["-s"]
    assert not (fake_apt / "chromium").exists()


def test_without_root_the_message_says_how_to_install_it(
    fake_apt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(setup.os, "geteuid", lambda: 1000)
    with pytest.raises(ChromiumUnavailable, match="apt-get install --no-install-recommends"):
        ensure_chromium(lambda line: None, fake_apt / "chromium")
    assert calls(fake_apt) == []
