"""The alembic revisions form one straight line: one base, one head, no fork, no gap.

Two changes written in parallel that each add a revision are the usual way to get two
heads (alembic then refuses to upgrade) or a hole in the numbering; this fails first.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import Script, ScriptDirectory

import intermodal.store

MIGRATIONS = Path(intermodal.store.__file__).parent / "migrations"
SKIPPED = {6}
"""Numbers never used: 0006 was reserved for a change that needed no table, and databases
already record 0007 (migrations/README.md)."""


def revisions() -> dict[str, Script]:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    return {rev.revision: rev for rev in script.walk_revisions()}


def test_the_revisions_form_one_line_from_one_base_to_one_head() -> None:
    found = revisions()
    parents = {rev.revision: rev.down_revision for rev in found.values()}
    for revision, parent in parents.items():
        assert parent is None or isinstance(parent, str), f"{revision} merges {parent}"
        assert parent is None or parent in found, f"{revision} follows missing {parent}"
    bases = [revision for revision, parent in parents.items() if parent is None]
    assert len(bases) == 1, f"more than one base: {bases}"
    children: dict[str, list[str]] = {}
    for revision, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(revision)
    forks = {parent: kids for parent, kids in children.items() if len(kids) > 1}
    assert forks == {}, f"revisions with more than one child: {forks}"
    heads = [revision for revision in found if revision not in children]
    assert len(heads) == 1, f"more than one head: {heads}"
    line, at = [], heads[0]
    while at is not None:
        line.append(at)
        at = parents[at]
    assert sorted(line) == sorted(found), "revisions not on the line from head to base"


def test_each_revision_is_numbered_after_its_parent_and_named_by_its_file() -> None:
    found = revisions()
    for revision, rev in found.items():
        assert revision.isdigit() and len(revision) == 4, revision
        assert Path(rev.path).name.startswith(f"{revision}_"), rev.path
        if rev.down_revision is None:
            assert revision == "0001"
            continue
        number, parent = int(revision), int(str(rev.down_revision))
        skipped = set(range(parent + 1, number))
        assert number > parent and skipped <= SKIPPED, (
            f"{revision} follows {rev.down_revision}: a gap or a step back in the numbering"
        )
    used = {int(revision) for revision in found}
    assert set(range(1, max(used) + 1)) - used == SKIPPED
