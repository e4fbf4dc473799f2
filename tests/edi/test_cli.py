"""`intermodal edi parse`: the tree, the JSON shape, exit 1 with a located error, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from intermodal.edi.cli import edi_app
from tests.edi._golden import GOLDEN

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(edi_app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_tree_names_interchanges_groups_and_sets() -> None:
    code, out, _ = run("parse", str(GOLDEN / "990_accept_decline_counter.x12"))
    assert code == 0
    assert "interchange 000000990" in out
    assert "group 990  GF  (3 transaction sets)" in out
    assert "990  control 0003  5 segments" in out


def test_json_shape_for_x12() -> None:
    code, out, _ = run("parse", "--json", str(GOLDEN / "two_interchanges.x12"))
    assert code == 0
    data = json.loads(out)
    assert data["warnings"] == []
    assert [ic["control_number"] for ic in data["interchanges"]] == ["000000301", "000000302"]
    first = data["interchanges"][0]
    assert (first["sender"], first["receiver"]) == ("CARRIERSCAC", "SHIPPERID")
    (group,) = first["groups"]
    assert (group["control_number"], group["functional_id"]) == ("301", "QM")
    assert group["transactions"] == [
        {"set": "214", "control_number": "0001", "segments": 6, "segment": 3}
    ]


def test_json_shape_for_edifact_with_implicit_group() -> None:
    code, out, _ = run("parse", "--json", str(GOLDEN / "iftsta_d01b_escapes.edi"))
    assert code == 0
    (ic,) = json.loads(out)["interchanges"]
    assert ic["control_number"] == "IFTSTA0001" and ic["standard"] == "EDIFACT"
    (group,) = ic["groups"]
    assert group["implicit"] is True
    assert group["transactions"][0]["set"] == "IFTSTA"
    assert group["transactions"][0]["segments"] == 13


def test_reject_exits_1_naming_segment_and_element() -> None:
    code, out, err = run("parse", str(GOLDEN / "se01_mismatch.x12"))
    assert code == 1 and out == ""
    assert "segment 8 (SE, position 6 in its set), element SE01" in err
    code, out, err = run("parse", "--json", str(GOLDEN / "iftsta_wrong_unt.edi"))
    assert code == 1
    error = json.loads(out)["error"]
    assert (error["segment_number"], error["element"], error["code"]) == (
        15,
        "UNT01",
        "segment_count",
    )


def test_warn_mode_prints_the_document_and_its_warnings() -> None:
    code, out, _ = run("parse", "--mode", "warn", "--json", str(GOLDEN / "se01_mismatch.x12"))
    assert code == 0
    data = json.loads(out)
    (warning,) = data["warnings"]
    assert (warning["element"], warning["segment_number"], warning["transaction"]) == (
        "SE01",
        8,
        "0001",
    )
    code, out, _ = run(
        "parse", "--mode", "warn", "--partner", "acme", str(GOLDEN / "se01_mismatch.x12")
    )
    assert code == 0 and "warning: partner acme, document se01_mismatch.x12, segment 8" in out


@pytest.mark.parametrize("content", [b"", b"hello", b"\x00\xff" * 50, b"ISA*00*", b"UNA:+"])
def test_garbage_exits_1_without_traceback(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "doc.edi"
    path.write_bytes(content)
    code, out, err = run("parse", str(path))
    assert code == 1 and "Traceback" not in out + err and err.startswith("error:")


def test_missing_file_exits_1(tmp_path: Path) -> None:
    code, _, err = run("parse", str(tmp_path / "nope.x12"))
    assert code == 1 and "cannot read" in err
    code, _, err = run("parse", str(tmp_path))
    assert code == 1 and "cannot read" in err


def test_runs_as_a_module(tmp_path: Path) -> None:
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "intermodal.edi.cli",
            "parse",
            "--json",
            str(GOLDEN / "204_load_tender.x12"),
        ],
        capture_output=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["interchanges"][0]["groups"][0]["transactions"][0]["set"] == "204"
    broken = tmp_path / "cut.x12"
    broken.write_bytes((GOLDEN / "204_load_tender.x12").read_bytes()[:300])
    bad = subprocess.run(
        [sys.executable, "-m", "intermodal.edi.cli", "parse", str(broken)],
        capture_output=True,
        check=False,
    )
    assert bad.returncode == 1
    assert b"Traceback" not in bad.stderr and b"no SE before the end of the file" in bad.stderr


def test_bare_edifact_is_read_with_bare_and_refused_without(tmp_path: Path) -> None:
    """`--bare` reads a file the way the intake reads it for a partner with
    `edi.envelope: optional`; without it the missing UNB is the error it always was."""
    from tests.edi.test_edifact_bare import BARE

    path = tmp_path / "bare.edi"
    path.write_bytes(BARE)
    code, _, err = run("parse", str(path))
    assert code == 1 and "error:" in err
    code, out, _ = run("parse", "--bare", "--json", str(path))
    assert code == 0, out
    data = json.loads(out)
    assert len(data["interchanges"]) == 1
    assert any(w["code"] == "envelope_absent" for w in data["warnings"]), data["warnings"]
