"""A key given twice in a YAML mapping is refused with both lines, wherever the hub reads
YAML: its configuration, a partner's mapping, a flow. PyYAML itself is the oracle for
everything else: a file without repeated keys reads exactly as `yaml.safe_load` reads it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from intermodal.config import ConfigError, load_config
from intermodal.mapping import load_mapping
from intermodal.mapping.spec import MappingError
from intermodal.workflows.spec import FlowError, parse_flow
from intermodal.yaml_loader import DuplicateKeyError, load_yaml

EXAMPLES = Path(__file__).parents[1] / "examples" / "partners"


def test_a_second_top_level_section_is_refused_with_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "intermodal.yaml"
    path.write_text(
        "hub:\n  port: 8080\npartners: {}\nhub:\n  port: 9090\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, resolve_secrets=False)
    assert "duplicate key 'hub': first on line 1, again on line 4" in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_partner_declared_twice_is_refused(tmp_path: Path) -> None:
    """The mistake that matters most: the second block would silently replace the first's
    secrets and milestone ownership."""
    path = tmp_path / "intermodal.yaml"
    path.write_text(
        "partners:\n"
        "  acme:\n"
        "    webhook_secrets: ['env:ACME_OLD']\n"
        "    owns: [delivered]\n"
        "  other:\n"
        "    kind: carrier\n"
        "  acme:\n"
        "    webhook_secrets: ['env:ACME_NEW']\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="duplicate key 'acme': first on line 2, again on line 7"):
        load_config(path, resolve_secrets=False)


def test_a_nested_repeat_and_yaml_boolean_spellings_are_named(tmp_path: Path) -> None:
    path = tmp_path / "intermodal.yaml"
    path.write_text("hub:\n  port: 8080\n  host: 0.0.0.0\n  port: 8081\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="duplicate key 'port': first on line 2, again on line 4"):
        load_config(path, resolve_secrets=False)
    with pytest.raises(DuplicateKeyError, match="'on' \\(read as True, like 'yes'\\)"):
        load_yaml("yes: 1\non: 2\n")


def test_merge_keys_may_still_be_overridden() -> None:
    """`<<: *defaults` then a key of the mapping's own is YAML's way to override: allowed."""
    loaded = load_yaml("base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  a: 3\n")
    assert loaded == {"base": {"a": 1, "b": 2}, "x": {"a": 3, "b": 2}}


def test_a_mapping_file_with_a_repeated_key_is_refused(tmp_path: Path) -> None:
    text = (EXAMPLES / "swiftparcel" / "mapping.yaml").read_text(encoding="utf-8")
    first = next(line for line in text.splitlines() if re.match(r"^[a-z_]+:", line))
    path = tmp_path / "mapping.yaml"
    path.write_text(text + first + "\n", encoding="utf-8")
    load_mapping(EXAMPLES / "swiftparcel" / "mapping.yaml", "swiftparcel")  # the original reads
    with pytest.raises(MappingError, match=f"duplicate key '{first.split(':')[0]}'"):
        load_mapping(path, "swiftparcel")


def test_a_flow_with_a_repeated_key_is_refused_and_on_stays_a_key() -> None:
    flow = (
        "flow: demo\nabout: A small flow.\nstates: [a, b]\nstart: a\n"
        "transitions:\n  - name: go\n    from: [a]\n    on: [milestone.delivered]\n"
        "    to: b\n    to: a\n"
    )
    with pytest.raises(FlowError, match="duplicate key 'to': first on line 9, again on line 10"):
        parse_flow(flow, "demo.yaml")
    assert parse_flow(flow.replace("    to: a\n", ""), "demo.yaml").transitions[0].to == "b"


# -- property: refused exactly when some mapping repeats a key ------------------------------

_KEYS = st.sampled_from(["a", "b", "c", "on", "yes", "true", "1", "01", "'1'", "null", "~"])
_Tree = list[tuple[str, Any]]
_trees: st.SearchStrategy[_Tree] = st.recursive(
    st.lists(st.tuples(_KEYS, st.integers(0, 9)), min_size=1, max_size=4),
    lambda children: st.lists(
        st.tuples(_KEYS, st.one_of(st.integers(0, 9), children)), min_size=1, max_size=4
    ),
    max_leaves=12,
)


def _render(tree: _Tree, indent: int = 0) -> list[str]:
    lines = []
    for key, value in tree:
        if isinstance(value, list):
            lines.append(" " * indent + f"{key}:")
            lines.extend(_render(value, indent + 2))
        else:
            lines.append(" " * indent + f"{key}: {value}")
    return lines


def _repeats(tree: _Tree, first_line: int = 1) -> tuple[set[int], int]:
    """Lines (1-based) holding a key its mapping already had, as PyYAML reads keys."""
    found: set[int] = set()
    seen: set[Any] = set()
    line = first_line
    for key, value in tree:
        parsed = yaml.safe_load(key)
        if parsed in seen:
            found.add(line)
        seen.add(parsed)
        line += 1
        if isinstance(value, list):
            inner, line = _repeats(value, line)
            found |= inner
    return found, line


@given(_trees)
def test_any_tree_is_refused_exactly_when_a_mapping_repeats_a_key(tree: _Tree) -> None:
    text = "\n".join(_render(tree)) + "\n"
    repeated, _ = _repeats(tree)
    if not repeated:
        assert load_yaml(text) == yaml.safe_load(text)
        return
    with pytest.raises(DuplicateKeyError) as caught:
        load_yaml(text)
    named = re.search(r"again on line (\d+)", str(caught.value))
    assert named is not None and int(named.group(1)) in repeated
