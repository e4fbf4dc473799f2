"""Keyed audit chains and their signed checkpoint, on SQLite and PostgreSQL: what someone
who can write the audit table (and not read the key) might do, each named by
`intermodal audit verify` with its chain and row and a non-zero exit:

- delete a chain's newest row, its ten newest, all its rows, or every row of the table;
- append a row with a correctly computed plain hash, or an HMAC under a key of their own
  (with the real key's id, or their own);
- edit a row and recompute every later hash;
- edit or re-sign the checkpoint.

Untampered chains verify clean; a missing checkpoint is a warning; rows written before
the key keep verifying; the hand-written HMAC is the standard library's; the leader
writes the checkpoint (file 0600, and its log) and once more when it stops, after the
applier process sealed its rows with the key.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from intermodal.cli import app
from intermodal.config import ConfigError, Settings
from intermodal.hub import Hub
from intermodal.security.audit import (
    GENESIS,
    AuditEntry,
    AuditKey,
    AuditKeyError,
    AuditKeys,
    Checkpoint,
    anchors,
    append,
    check_appendable,
    row_hash,
    use_keys,
    verify,
)
from intermodal.security.audit_checkpoint import (
    CheckpointInvalid,
    CheckpointRefused,
    CheckpointWriter,
    document,
    read_checkpoint,
)
from intermodal.store import Store, open_store
from intermodal.store.tables import audit
from intermodal_sim.testing import running_hub, wait_until

KEY = "audit-key-" + "3f1c9a7e5b2d8c4f" * 3
OTHER = "someone-elses-key-" + "a9b8c7d6e5f4a3b2" * 3
KEYS = AuditKeys.of(KEY)
runner = CliRunner()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    use_keys(s, KEYS)
    yield s
    s.dispose()


@pytest.fixture
def config(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configuration naming the store, the key (through the environment) and where the
    checkpoint goes, as `intermodal audit verify --config` reads it."""
    monkeypatch.setenv("AUDIT_KEY", KEY)
    path = tmp_path / "hub.yaml"
    hub = {
        "database": db_url,
        "audit_key": "env:AUDIT_KEY",
        "audit_checkpoint": str(tmp_path / "anchor" / "audit-checkpoint.json"),
    }
    path.write_text(yaml.safe_dump({"hub": hub}), encoding="utf-8")
    return path


def checkpoint_path(config: Path) -> Path:
    return config.parent / "anchor" / "audit-checkpoint.json"


def write(store: Store, chains: list[int]) -> None:
    with store.write() as conn:
        append(store, conn, [AuditEntry("acme", "shipment.state", f"S{c}", {"n": i}, c)
                             for i, c in enumerate(chains)])  # fmt: skip


def fill(store: Store, per_chain: int = 12, chains: tuple[int, ...] = (0, 1, 2)) -> None:
    for _ in range(per_chain):
        write(store, list(chains))


def rows_of(store: Store, chain: int) -> list[Any]:
    with store.read() as conn:
        return list(
            conn.execute(select(audit).where(audit.c.chain == chain).order_by(audit.c.chain_seq))
        )


def take_checkpoint(store: Store, path: Path) -> Checkpoint:
    return CheckpointWriter(store, KEYS, path, 60).write()


def cli_verify(config: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["audit", "verify", "--config", str(config), *extra])
    return result.exit_code, result.output


# What someone with write access to the table (and without the key) does. Each returns
# (chain, seq) of the row verify must name and words its message must hold.


def delete_newest(store: Store, chain: int, count: int) -> None:
    mine = rows_of(store, chain)
    with store.engine.begin() as conn:
        conn.execute(audit.delete().where(audit.c.seq.in_([r.seq for r in mine[-count:]])))


def delete_chain(store: Store, chain: int) -> None:
    with store.engine.begin() as conn:
        conn.execute(audit.delete().where(audit.c.chain == chain))


def forged(store: Store, chain: int, seal: Callable[[int, int, str, str], str]) -> tuple[int, int]:
    """Append a row at the end of `chain`, linked to its newest, hashed by `seal`."""
    newest = rows_of(store, chain)[-1]
    at, detail, position = "2026-12-05T10:00:00.000000Z", '{"to":"delivered"}', newest.chain_seq + 1
    digest = seal(chain, position, detail, newest.hash)
    with store.engine.begin() as conn:
        inserted = conn.execute(
            audit.insert().values(
                chain=chain,
                chain_seq=position,
                at=at,
                actor="mallory",
                action="shipment.state",
                subject="S9",
                detail=detail,
                prev_hash=newest.hash,
                hash=digest,
            )
        ).inserted_primary_key
    assert inserted is not None
    return chain, int(inserted[0])


def plain(chain: int, position: int, detail: str, prev: str) -> str:
    at = "2026-12-05T10:00:00.000000Z"
    return row_hash(chain, position, at, "mallory", "shipment.state", "S9", detail, prev)


def sealed_with(key: AuditKey, claimed_id: str | None = None) -> Callable[..., str]:
    def seal(chain: int, position: int, detail: str, prev: str) -> str:
        at = "2026-12-05T10:00:00.000000Z"
        digest = row_hash(chain, position, at, "mallory", "shipment.state", "S9", detail, prev, key)
        return digest if claimed_id is None else digest.replace(key.id, claimed_id, 1)

    return seal


def rewrite_from(
    store: Store,
    chain: int,
    chain_seq: int,
    key: AuditKey | None = None,
    claimed: str = "",
    upto: int | None = None,
) -> tuple[int, int]:
    """Edit the row at `chain_seq` and recompute its hash and every later one (up to
    position `upto`), linked as before: plain, or under `key` (claiming the id
    `claimed`)."""
    mine = rows_of(store, chain)
    prev = mine[chain_seq - 2].hash if chain_seq > 1 else GENESIS
    with store.engine.begin() as conn:
        for row in mine[chain_seq - 1 : upto]:
            detail = '{"to":"lost"}' if row.chain_seq == chain_seq else row.detail
            digest = row_hash(
                chain, row.chain_seq, row.at, row.actor, row.action, row.subject, detail, prev, key
            )
            if key is not None and claimed:
                digest = digest.replace(key.id, claimed, 1)
            conn.execute(
                update(audit)
                .where(audit.c.seq == row.seq)
                .values(detail=detail, prev_hash=prev, hash=digest)
            )
            prev = digest
    return chain, mine[chain_seq - 1].seq


ATTACKS = [
    "newest row",
    "ten newest rows",
    "all rows of a chain",
    "plain append",
    "append sealed with another key under the real key's id",
    "append sealed with another key",
    "edit with every later hash recomputed plain",
    "edit of the first row with every later hash recomputed plain",
    "edit with every later hash recomputed under another key",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_each_tampering_is_named_by_verify_with_its_chain_and_row(
    store: Store, config: Path, attack: str
) -> None:
    fill(store)
    recorded = {a.chain: a for a in take_checkpoint(store, checkpoint_path(config)).anchors}
    write(store, [1, 2])  # rows newer than the checkpoint: still covered by their HMAC
    assert cli_verify(config)[0] == 0
    other = AuditKey.of(OTHER)
    truncated = "the newest rows were deleted (truncated): "
    if attack == "newest row":
        delete_newest(store, 0, 1)
        chain, seq, words = 0, recorded[0].seq, truncated + "position 12 is gone"
    elif attack == "ten newest rows":  # and the one written after the checkpoint
        delete_newest(store, 1, 11)
        chain, seq, words = 1, recorded[1].seq, truncated + "positions 3..12 are gone"
    elif attack == "all rows of a chain":
        delete_chain(store, 2)
        chain, seq, words = 2, recorded[2].seq, "every row was deleted"
    elif attack == "plain append":
        chain, seq = forged(store, 1, plain)
        words = "carries no HMAC, while the chain is keyed from row"
    elif attack == "append sealed with another key under the real key's id":
        chain, seq = forged(store, 1, sealed_with(other, claimed_id=KEYS.current.id))
        words = (
            f"was edited or forged: its HMAC does not match its content under key {KEYS.current.id}"
        )
    elif attack == "append sealed with another key":
        chain, seq = forged(store, 0, sealed_with(other))
        words = f"names audit key {other.id}, which is neither hub.audit_key"
    elif attack == "edit with every later hash recomputed plain":
        chain, seq = rewrite_from(store, 1, 5)
        words = "carries no HMAC, while the chain is keyed from row"
    elif attack == "edit of the first row with every later hash recomputed plain":
        chain, seq = rewrite_from(store, 2, 1)
        words = "carries no HMAC"
    else:
        chain, seq = rewrite_from(store, 1, 5, other, claimed=KEYS.current.id)
        words = "was edited or forged: its HMAC does not match"
    code, output = cli_verify(config)
    assert code == 1, output
    assert "audit chain broken: " in output
    headline = output.split("audit chain broken: ", 1)[1].splitlines()[0]
    assert f"in chain {chain}, " in headline and f"row {seq}" in headline, output
    assert words in headline, output
    report = verify(store, checkpoint=read_checkpoint(checkpoint_path(config), KEYS))
    assert (report.ok, report.chain, report.seq) == (False, chain, seq), report.problem


def test_every_row_of_the_table_deleted_names_every_chain(store: Store, config: Path) -> None:
    fill(store, per_chain=3)
    recorded = take_checkpoint(store, checkpoint_path(config))
    with store.engine.begin() as conn:
        conn.execute(audit.delete())
    code, output = cli_verify(config)
    assert code == 1, output
    for anchor in recorded.anchors:
        assert (
            f"in chain {anchor.chain}, every row was deleted: the checkpoint of"
            f" {recorded.written_at} recorded 3 row(s), the newest row {anchor.seq}"
        ) in output
    assert "3 chains are broken" in output


def test_untampered_chains_verify_clean_and_say_what_was_checked(
    store: Store, config: Path
) -> None:
    fill(store, per_chain=4)
    code, output = cli_verify(config)
    assert code == 0, output
    assert "warning: no audit checkpoint at" in output  # a warning, not a failure
    assert "intact: 12 row(s) in 3 chain(s)" in output
    recorded = take_checkpoint(store, checkpoint_path(config))
    write(store, [0, 3])  # after the checkpoint, and a chain it never saw
    code, output = cli_verify(config)
    assert code == 0, output
    assert "intact: 14 row(s) in 4 chain(s)" in output
    assert f"keyed with key {KEYS.current.id}: 14 row(s) sealed with an HMAC, 0 plain" in output
    assert f"of {recorded.written_at}: compared with 3 chain(s)" in output
    assert "warning" not in output


def test_a_forged_or_foreign_checkpoint_is_named_and_not_trusted(
    store: Store, config: Path
) -> None:
    fill(store, per_chain=5)
    path = checkpoint_path(config)
    take_checkpoint(store, path)
    delete_newest(store, 1, 2)
    honest = path.read_text()

    # Lower the recorded head to hide the truncation, keeping the signature.
    edited = json.loads(honest)
    edited["chains"][1]["chain_seq"] -= 2
    path.write_text(json.dumps(edited))
    code, output = cli_verify(config)
    assert code == 1 and "its signature does not match its content" in output, output

    # Re-sign a checkpoint of the shortened chains with a key of one's own.
    other = AuditKeys.of(OTHER)
    path.write_text(
        json.dumps(
            document(Checkpoint("2026-12-06T00:00:00Z", tuple(anchors(store))), other.current)
        )
    )
    code, output = cli_verify(config)
    assert code == 1 and f"signed with key {other.current.id}, which is neither" in output

    for garbage, words in [
        (b"", "not JSON"),
        (b'{"chains": []}', "no signature"),
        (b"[1, 2]", "no signature"),
    ]:
        path.write_bytes(garbage)
        code, output = cli_verify(config)
        assert code == 1 and words in output, output

    path.write_text(honest)
    code, output = cli_verify(config)
    assert code == 1 and "in chain 1, the newest rows were deleted" in output


def test_a_signed_checkpoint_of_another_format_is_refused_with_its_field(
    store: Store, tmp_path: Path
) -> None:
    fill(store, per_chain=1)
    body = document(Checkpoint("2026-12-06T00:00:00Z", tuple(anchors(store))), KEYS.current)
    body["chains"][0]["chain_seq"] = "1"  # a string: signed anew, still not this format
    del body["signature"]
    path = tmp_path / "cp.json"
    signed = KEYS.current.seal(
        b"intermodal audit checkpoint\n" + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    )
    path.write_text(json.dumps({**body, "signature": signed}))
    with pytest.raises(CheckpointInvalid, match=r"chains\.0\.chain_seq"):
        read_checkpoint(path, KEYS)


def test_rows_written_before_the_key_keep_verifying_and_prove_less(
    db_url: str, config: Path
) -> None:
    store = open_store(db_url)
    try:
        fill(store, per_chain=4, chains=(0, 5))  # no key yet: plain rows
        use_keys(store, KEYS)
        write(store, [0, 0])  # chain 0 is keyed from its fifth row on; chain 5 stays plain
        report = verify(store)
        assert (report.ok, report.keyed_rows, report.plain_rows) == (True, 2, 8)
        assert report.key_id == KEYS.current.id
        assert rows_of(store, 0)[4].prev_hash == rows_of(store, 0)[3].hash
        code, output = cli_verify(config)
        assert code == 0 and "2 row(s) sealed with an HMAC, 8 plain row(s)" in output

        recorded = take_checkpoint(store, checkpoint_path(config))
        assert {a.chain: a.keyed_from for a in recorded.anchors} == {0: 5, 5: None}
        # A plain chain rewritten from its second row on fits together again; only the
        # checkpoint shows it, at the row it recorded.
        _, _ = rewrite_from(store, 5, 2)
        head = rows_of(store, 5)[-1]
        code, output = cli_verify(config)
        assert code == 1, output
        assert (
            f"in chain 5, row {head.seq} (position 4) is not the row the checkpoint of"
            f" {recorded.written_at} recorded there (its hash differs)"
        ) in output
        # On chain 0 the keyed rows after the plain ones hold them: rewriting the plain
        # part leaves the first keyed row linked to a row that is no longer there.
        rewrite_from(store, 0, 2, upto=4)
        report = verify(store)
        assert (report.chain, report.seq) == (0, rows_of(store, 0)[3].seq), report.problem
        assert "was replaced (edited and re-hashed" in (report.problem or "")
    finally:
        store.dispose()


def test_a_plain_row_after_the_checkpoint_is_named_even_on_a_plain_chain(
    db_url: str, config: Path
) -> None:
    store = open_store(db_url)
    try:
        fill(store, per_chain=3, chains=(4,))  # plain, from before the key
        use_keys(store, KEYS)
        take_checkpoint(store, checkpoint_path(config))
        chain, seq = forged(store, 4, plain)
        code, output = cli_verify(config)
        assert code == 1 and f"in chain {chain}, row {seq} (position 4) carries no HMAC" in output
        assert "after position 3, the newest the checkpoint recorded" in output
    finally:
        store.dispose()


def test_without_a_key_verify_keeps_todays_guarantees_and_says_what_is_missing(
    db_url: str,
) -> None:
    store = open_store(db_url)
    try:
        fill(store, per_chain=3)
        result = runner.invoke(app, ["audit", "verify", "--db", db_url])
        assert result.exit_code == 0
        assert "warning: no hub.audit_key: the chains are plain SHA-256" in result.output
        delete_newest(store, 1, 1)  # what a plain chain cannot show, as the warning says
        assert runner.invoke(app, ["audit", "verify", "--db", db_url]).exit_code == 0
        chain, seq = forged(store, 2, plain)
        assert runner.invoke(app, ["audit", "verify", "--db", db_url]).exit_code == 0
        assert rows_of(store, chain)[-1].seq == seq
    finally:
        store.dispose()


def test_a_keyed_chain_is_never_extended_without_the_key(db_url: str) -> None:
    store = open_store(db_url)
    try:
        use_keys(store, KEYS)
        write(store, [0])
        use_keys(store, None)
        write(store, [1])  # a plain chain takes plain rows, as before
        with pytest.raises(AuditKeyError, match="audit chain 0 is keyed"), store.write() as conn:
            append(store, conn, [AuditEntry("cli:bob", "outbox.pruned", None, {})])
        with pytest.raises(AuditKeyError, match=r"hub\.audit_key is not configured"):
            check_appendable(store)
        report = verify(store)  # no key: the keyed row cannot be checked, and says so
        assert not report.ok and report.chain == 0
        assert "is keyed (key " in (report.problem or "")
        assert "no hub.audit_key is configured to check it" in (report.problem or "")
    finally:
        store.dispose()


def test_a_hub_without_the_key_refuses_to_start_on_keyed_chains(
    db_url: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    store = open_store(db_url)
    try:
        use_keys(store, KEYS)
        write(store, [3])
    finally:
        store.dispose()
    with pytest.raises(AuditKeyError, match="audit chain 3 is keyed"):
        Hub.create(make_settings({"hub": {"database": db_url}}))
    config = tmp_path / "nokey.yaml"
    config.write_text(yaml.safe_dump({"hub": {"database": db_url, "port": 0}}))
    served = subprocess.run(
        [sys.executable, "-m", "intermodal.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert served.returncode == 2, served.stderr
    assert "audit chain 3 is keyed" in served.stderr and "Traceback" not in served.stderr


def test_retired_keys_verify_the_rows_and_checkpoints_they_sealed(
    db_url: str, tmp_path: Path
) -> None:
    store = open_store(db_url)
    old, new = AuditKeys.of(OTHER), AuditKeys.of(KEY, [OTHER])
    path = tmp_path / "cp.json"
    try:
        use_keys(store, old)
        fill(store, per_chain=2)
        CheckpointWriter(store, old, path, 60).write()
        use_keys(store, new)
        write(store, [0, 1])
        checkpoint = read_checkpoint(path, new)
        assert checkpoint is not None and checkpoint.key_id == old.current.id
        report = verify(store, checkpoint=checkpoint)
        assert (report.ok, report.keyed_rows, report.key_id) == (True, 8, KEYS.current.id)
        forgotten = verify(store, keys=KEYS)  # the retired key left out
        assert not forgotten.ok and f"names audit key {old.current.id}" in (forgotten.problem or "")
    finally:
        store.dispose()


def test_the_writer_keeps_the_evidence_when_the_table_lost_what_it_recorded(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "anchor" / "cp.json"
    fill(store, per_chain=3)
    writer = CheckpointWriter(store, KEYS, path, 60)
    writer.write()
    assert path.stat().st_mode & 0o777 == 0o600
    write(store, [0])
    assert [a.chain_seq for a in writer.write().anchors] == [4, 3, 3]
    recorded = path.read_bytes()
    delete_newest(store, 0, 1)
    write(store, [0])  # a new row where the deleted one was: the chain fits again
    with pytest.raises(CheckpointRefused, match=r"in chain 0, row .* is not the row"):
        writer.write()
    assert writer.write_logged() is None
    path.write_bytes(recorded.replace(b'"chain_seq": 4', b'"chain_seq": 3'))
    with pytest.raises(CheckpointInvalid, match="signature does not match"):
        writer.write()
    assert os.listdir(path.parent) == ["cp.json"]  # no temporary file left behind


def test_audit_checkpoint_command_refuses_to_anchor_broken_chains(
    store: Store, config: Path
) -> None:
    fill(store, per_chain=3)
    forged(store, 1, plain)
    result = runner.invoke(app, ["audit", "checkpoint", "--config", str(config)])
    assert result.exit_code == 1 and "carries no HMAC" in result.output
    assert not checkpoint_path(config).exists()
    with store.engine.begin() as conn:
        conn.execute(audit.delete().where(audit.c.actor == "mallory"))
    result = runner.invoke(app, ["audit", "checkpoint", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert f"3 chain(s), key {KEYS.current.id}" in result.output
    assert cli_verify(config)[0] == 0


def test_a_checkpoint_read_back_from_the_hubs_log(store: Store, tmp_path: Path) -> None:
    """The log line survives the redactor whole, so a log kept elsewhere is an anchor."""
    from intermodal.observe.logs import configure_logging

    fill(store, per_chain=2)
    stream = io.StringIO()
    configure_logging("info", stream)
    try:
        CheckpointWriter(store, KEYS, tmp_path / "cp.json", 60).write()
    finally:
        configure_logging("warning")
    line = next(x for x in stream.getvalue().splitlines() if "audit_checkpoint" in x)
    (tmp_path / "from-log.json").write_text(line)
    from_log = read_checkpoint(tmp_path / "from-log.json", KEYS)
    assert from_log == read_checkpoint(tmp_path / "cp.json", KEYS)
    delete_newest(store, 2, 1)
    assert not verify(store, checkpoint=from_log).ok


def test_keys_are_refused_when_short_or_alone(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError, match=r"hub\.audit_key: use at least 32 characters"):
        make_settings({"hub": {"audit_key": "env:SHORT"}}, env={"SHORT": "x" * 31})
    with pytest.raises(ConfigError, match=r"give hub\.audit_key too"):
        make_settings({"hub": {"audit_previous_keys": ["env:OLD"]}}, env={"OLD": OTHER})
    found = make_settings(
        {"hub": {"audit_key": "env:K", "audit_previous_keys": ["env:OLD"]}},
        env={"K": KEY, "OLD": OTHER},
    )
    assert found.audit_key is not None and KEY not in repr(found)


@settings(max_examples=200, deadline=None)
@given(key=st.binary(max_size=200), message=st.binary(max_size=500))
def test_the_hand_written_hmac_is_the_standard_librarys(key: bytes, message: bytes) -> None:
    mine = AuditKey.of(key)
    assert mine.mac(message) == hmac.digest(key, message, hashlib.sha256)
    sealed = mine.seal(message)
    assert len(sealed) == 57 and sealed.startswith(f"hmac:{mine.id}:")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
_signature_like = st.sampled_from(["", "hmac:", f"hmac:{KEYS.current.id}:", "hmac:zz"]).flatmap(
    lambda prefix: st.text(max_size=60).map(lambda rest: prefix + rest)
)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()  # integers of any size, unlike orjson


@settings(max_examples=300, deadline=None)
@given(
    content=st.one_of(
        st.binary(max_size=300),
        _json.map(_dumps),
        st.fixed_dictionaries(
            {"signature": _signature_like}, optional={"chains": _json, "format": _json}
        ).map(_dumps),
        _json.map(lambda v: _dumps({"audit_checkpoint": v})),
    )
)
def test_any_file_at_the_checkpoints_place_is_refused_in_words(content: bytes) -> None:
    """Whoever can write the file may write anything there: it is refused as not a
    checkpoint, never a crash, and never trusted."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cp.json"
        path.write_bytes(content)
        with pytest.raises(CheckpointInvalid, match=r"audit checkpoint .*cp\.json: "):
            read_checkpoint(path, KEYS)


# The property: whatever was appended before and after the checkpoint, each attack on a
# random chain is named at the row it touched.
_transactions = st.lists(
    st.lists(st.integers(0, 3), min_size=1, max_size=4), min_size=2, max_size=6
)


def test_verify_names_every_attack_whatever_the_chains(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    other = AuditKey.of(OTHER)

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        before=_transactions,
        after=st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=3), max_size=3),
        attack=st.sampled_from(["truncate", "plain", "foreign", "rewrite"]),
        data=st.data(),
    )
    def check(
        before: list[list[int]], after: list[list[int]], attack: str, data: st.DataObject
    ) -> None:
        with store.engine.begin() as conn:
            conn.execute(audit.delete())
        path.unlink(missing_ok=True)
        for chains in before:
            write(store, chains)
        recorded = {a.chain: a for a in take_checkpoint(store, path).anchors}
        for chains in after:
            write(store, chains)
        checkpoint = read_checkpoint(path, KEYS)
        assert verify(store, checkpoint=checkpoint).ok
        chain = data.draw(st.sampled_from(sorted(recorded)))
        if attack == "truncate":  # down to any length below the checkpointed head
            keep = data.draw(st.integers(0, recorded[chain].chain_seq - 1))
            with store.engine.begin() as conn:
                conn.execute(audit.delete().where(audit.c.chain == chain, audit.c.chain_seq > keep))
            expected = (chain, recorded[chain].seq)
        elif attack == "plain":
            expected = forged(store, chain, plain)
        elif attack == "foreign":
            expected = forged(store, chain, sealed_with(other, claimed_id=KEYS.current.id))
        else:
            length = len(rows_of(store, chain))
            expected = rewrite_from(store, chain, data.draw(st.integers(1, length)))
        report = verify(store, checkpoint=checkpoint)
        assert not report.ok
        assert (report.chain, report.seq) == expected, report.problem

    check()


async def test_the_leader_anchors_the_chains_and_once_more_when_it_stops(
    db_url: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    path = tmp_path / "anchor" / "audit-checkpoint.json"
    settings_ = make_settings(
        {
            "hub": {
                "database": db_url,
                "lease_seconds": 2,
                "audit_key": "env:AUDIT_KEY",
                "audit_checkpoint": str(path),
                "audit_checkpoint_seconds": 3600,  # the stop, not the schedule, writes the last
            }
        },
        env={"AUDIT_KEY": KEY},
    )
    leader, follower = Hub.create(settings_), Hub.create(settings_)
    await leader.start(dispatch=False)
    await follower.start(dispatch=False)
    try:
        assert leader.leading and not follower.leading
        assert "audit-checkpoint" in [t.get_name() for t in leader._singletons]
        assert follower._singletons == []
        wait_until(path.exists, timeout=10)  # written at once when it gained the lease
        with follower.store.write() as conn:  # the follower's rows are sealed too
            append(follower.store, conn, [AuditEntry("admin:x", "cases.close", "c1", {}, 2)])
        started = read_checkpoint(path, KEYS)
        assert started is not None and all(a.chain != 2 for a in started.anchors)
    finally:
        await leader.stop()
        await follower.stop()
    final = read_checkpoint(path, KEYS)
    assert final is not None and [a.chain for a in final.anchors] == [2]
    assert final.anchors[0].hash.startswith(f"hmac:{KEYS.current.id}:")
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_applier_process_seals_its_rows_and_the_stopping_hub_anchors_them(
    db_url: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """A whole hub with its applier in a process of its own: the events it applies are
    audited under the key, and the checkpoint written when it stops anchors them."""
    (tmp_path / "tms.token").write_text("tms-token-0123456789-0123456789-tms")
    path = tmp_path / "audit-checkpoint.json"
    config = {
        "hub": {
            "database": db_url,
            "applier": "process",
            "audit_key": "env:AUDIT_KEY",
            "audit_checkpoint": str(path),
            "audit_checkpoint_seconds": 3600,
        },
        "partners": {
            "tms": {"tokens": [{"token": f"file:{tmp_path / 'tms.token'}"}], "owns": ["booked"]}
        },
    }
    settings_ = make_settings(config, env={"AUDIT_KEY": KEY})
    events = [
        {
            "specversion": "1.0",
            "id": f"evt-{n}",
            "source": "tms",
            "type": "intermodal.shipment.milestone",
            "subject": f"AUD-{n}",
            "time": "2026-11-23T10:00:00Z",
            "data": {"milestone": "booked", "occurred_at": "2026-11-23T10:00:00Z"},
        }
        for n in range(3)
    ]
    with running_hub(settings_, dispatch=False) as url:
        headers = {"authorization": "Bearer tms-token-0123456789-0123456789-tms"}
        assert (
            httpx.post(f"{url}/v1/events", json=events, headers=headers, timeout=30).status_code
            == 202
        )
        store = open_store(db_url, migrate=False)
        try:

            def audited() -> bool:
                with store.read() as conn:
                    return (
                        int(conn.execute(select(func.count()).select_from(audit)).scalar_one()) >= 3
                    )

            wait_until(audited, timeout=60)
        finally:
            store.dispose()
    final = read_checkpoint(path, KEYS)
    assert final is not None and sum(a.chain_seq for a in final.anchors) >= 3
    store = open_store(db_url, migrate=False)
    try:
        use_keys(store, KEYS)
        report = verify(store, checkpoint=final)
        assert report.ok and report.plain_rows == 0 and report.keyed_rows >= 3, report
    finally:
        store.dispose()
