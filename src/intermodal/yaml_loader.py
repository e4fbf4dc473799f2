"""YAML as the hub reads it: PyYAML's safe loader, refusing a key given twice in a mapping.

YAML says a mapping's keys are unique, but PyYAML keeps the last value of a repeated key
without a word. In a configuration that hides a mistake where nobody looks: a second
`partners.acme` block written months later silently replaces the first, secrets and
ownership with it; a second `hub:` drops every setting of the first. The configuration,
the partners' mappings and the flows are all read through this loader, so each such file
is refused at start with the line of both keys.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode

from intermodal.errors import ConfigurationError

_MERGE = "tag:yaml.org,2002:merge"


class DuplicateKeyError(ConfigurationError, ConstructorError):  # type: ignore[misc]
    """A mapping that names one key twice: which key, and both lines.

    Said in one line: PyYAML's own form names the stream (`"<unicode string>"` for text)
    and the mapping's start, which tell the operator nothing the two lines do not. Under
    the hub's error tree as a configuration mistake; PyYAML's `context` attribute (text)
    shadows IntermodalError.context, so it is reported through ConfigError, not as a
    problem document of its own."""

    def __str__(self) -> str:
        return str(self.problem)


class UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that raises `DuplicateKeyError` on a repeated mapping key.

    Keys brought in by a merge (`<<: *defaults`) may be overridden, as YAML intends; only
    keys written in the mapping itself must be unique.
    """

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        if isinstance(node, MappingNode):
            _refuse_duplicates(self, node)
        return super().construct_mapping(node, deep=deep)


def _refuse_duplicates(loader: yaml.SafeLoader, node: MappingNode) -> None:
    first_seen: dict[Any, Node] = {}
    for key_node, _value in node.value:
        if key_node.tag == _MERGE:
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            earlier = first_seen.setdefault(key, key_node)
        except TypeError:  # an unhashable key: the safe loader's own check names it
            continue
        if earlier is not key_node:
            written, before = _written(key_node, key), _written(earlier, key)
            same = "" if written == before else f" (read as {key!r}, like {before!r})"
            raise DuplicateKeyError(
                "while constructing a mapping",
                node.start_mark,
                f"duplicate key {written!r}{same}: first on line {earlier.start_mark.line + 1},"
                f" again on line {key_node.start_mark.line + 1}",
                key_node.start_mark,
            )


def _written(key_node: Node, key: Any) -> Any:
    """The key as the file spells it: `on` and `yes` are both the key True."""
    return key_node.value if isinstance(key_node, ScalarNode) else key


def load_yaml(text: str, loader: type[UniqueKeyLoader] = UniqueKeyLoader) -> Any:
    """Parse one YAML document as `yaml.safe_load` would, duplicate keys refused.

    `loader` may be a subclass (the flows change which words are booleans)."""
    return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass


__all__ = ["DuplicateKeyError", "UniqueKeyLoader", "load_yaml"]
