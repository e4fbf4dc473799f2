"""JSONata expressions as the mapping uses them: compiled once, evaluated per item.

Most fields of a mapping are plain paths (`shipment.reference`). jsonata-python spends
about 100 microseconds on even the simplest expression, which would make mapping the
slowest step of the spine, so a plain dotted path over objects is read directly in
Python; anything else (and any path that meets an array, where JSONata maps over it) is
evaluated by JSONata itself, with the same result. So are three shapes high-rate feeds
use (`_Shortcut`): a message kind's test (`type = 'positions'`: JSONata walks the whole
document before it evaluates anything, 14 ms for fifty fixes), texts and plain paths
joined with `&` (`'vehicle:' & device`), and a plain path choosing between two of those
(`shipment ? shipment : 'vehicle:' & device`), while the values met are text or absent;
any other value goes to JSONata.

Functions of our own are registered on every compiled expression, the way jsonata-python
supports it (`register_lambda`): `$datetime(date, time[, zone])` joins a carrier's split
date and time fields (mapping/times.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping as AbcMapping
from typing import Any

import jsonata  # type: ignore[import-untyped]

from intermodal.errors import ConfigurationError
from intermodal.mapping.times import TimeInputError, join_datetime

_STEPS = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_PLAIN_PATH = re.compile(rf"^{_STEPS}$")
_DATETIME_CALL = re.compile(
    rf"^\$datetime\(\s*(?P<date>{_STEPS})\s*,\s*(?P<time>{_STEPS})\s*"
    rf"(?:,\s*(?P<zone>{_STEPS})\s*)?\)$"
)
_TEXT = r"'[^'\\]*'|\"[^\"\\]*\""
_OPERAND = rf"(?:{_STEPS}|{_TEXT})"
_JOINED = rf"{_OPERAND}(?:\s*&\s*{_OPERAND})*"
_SHORTCUT = re.compile(
    rf"^(?:(?P<test>{_STEPS})\s*\?\s*(?P<then>{_JOINED})\s*:\s*(?P<else>{_JOINED})"
    rf"|(?P<equal>{_STEPS})\s*=\s*(?P<text>{_TEXT})"
    rf"|(?P<joined>{_JOINED}))$"
)
_KEYWORDS = frozenset({"true", "false", "null", "and", "or", "in"})
"""Words JSONata reads as literals or operators, never as a field's name."""
FUNCTIONS = {"datetime": join_datetime}
"""The functions a mapping's expressions may call beside JSONata's own (`$datetime`)."""
_MISSING = object()


class ExpressionError(ConfigurationError, ValueError):
    """An expression that does not compile, or fails on a message; `path` is the plain
    path of the argument that was wrong (`$datetime(date, time)`'s `time`), when known."""

    def __init__(self, message: str, path: tuple[str, ...] | None = None) -> None:
        super().__init__(message)
        self.path = path


def plain(value: Any) -> Any:
    """JSONata's own sequence and object types -> plain lists and dicts (for JSON and tests)."""
    if isinstance(value, AbcMapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


class Expression:
    """One JSONata expression; `evaluate(item, bindings)` gives a plain Python value."""

    __slots__ = ("_arguments", "_compiled", "_path", "_shortcut", "source")

    def __init__(self, source: str) -> None:
        self.source = source.strip()
        self._path = tuple(self.source.split(".")) if _PLAIN_PATH.match(self.source) else None
        self._shortcut = _Shortcut.of(self.source) if self._path is None else None
        call = _DATETIME_CALL.match(self.source)
        self._arguments = (
            {k: tuple(v.split(".")) for k, v in call.groupdict().items() if v is not None}
            if call is not None
            else {}
        )  # where a `$datetime` argument came from, to name it when it is wrong
        self._compiled: Any = None
        try:
            self._compiled = jsonata.Jsonata(self.source)
        except Exception as exc:  # jsonata raises JException (a RuntimeError) and others
            raise ExpressionError(f"`{self.source}` is not valid JSONata: {exc}") from None
        for name, function in FUNCTIONS.items():
            self._compiled.register_lambda(name, function)

    @property
    def path(self) -> tuple[str, ...] | None:
        """The steps of a plain dotted path, or None for any other expression."""
        return self._path

    def evaluate(self, item: Any, bindings: dict[str, Any] | None = None) -> Any:
        if self._path is not None:
            value: Any = item
            for step in self._path:
                if isinstance(value, dict):
                    value = value.get(step, _MISSING)
                    if value is _MISSING:
                        return None
                elif value is None:
                    return None
                else:
                    break  # an array (JSONata maps over it) or a scalar: let JSONata decide
            else:
                return value
        elif self._shortcut is not None:
            found = self._shortcut.evaluate(item)
            if found is not _JSONATA:
                return found
        try:
            return plain(self._compiled.evaluate(item, bindings))
        except TimeInputError as exc:
            where = self._arguments.get(exc.argument)
            raise ExpressionError(f"`{self.source}`: {exc}", where) from None
        except Exception as exc:  # JSONata's and Python's texts can quote the item's values
            code = getattr(exc, "error", None)  # JSONata's code, e.g. T2001
            kind = f"JSONata error {code}" if isinstance(code, str) else type(exc).__name__
            raise ExpressionError(f"`{self.source}` failed on this item ({kind})") from None


_JSONATA = object()
"""A shortcut's answer when the value met is not one it decides: JSONata must."""


class _Shortcut:
    """`p = 'text'`, `a & 'b' & c.d` and `p ? <joined> : <joined>` without JSONata.

    JSONata's `=` is true for equal text and false for absence; `&` casts each side with
    `$string` (absent: ""), and `?:` tests its condition with `$boolean` (absent:
    false). Only text and absence are decided here, where those rules are plain; a
    number, null, boolean, array or object met anywhere is left to JSONata, so the
    result is always JSONata's own."""

    __slots__ = ("_else", "_equal", "_test", "_then")

    def __init__(
        self,
        test: tuple[str, ...] | None,
        then: list[tuple[str, ...] | str],
        otherwise: list[tuple[str, ...] | str],
        equal: tuple[tuple[str, ...], str] | None = None,
    ) -> None:
        self._test, self._then, self._else, self._equal = test, then, otherwise, equal

    @classmethod
    def of(cls, source: str) -> _Shortcut | None:
        match = _SHORTCUT.match(source)
        if match is None:
            return None
        try:
            if match["equal"] is not None:
                return cls(None, [], [], (_steps(match["equal"]), match["text"][1:-1]))
            if match["joined"] is not None:
                joined = _operands(match["joined"])
                if len(joined) < 2:
                    return None  # a lone text: JSONata's literal is as fast as anything
                return cls(None, joined, [])
            return cls(_steps(match["test"]), _operands(match["then"]), _operands(match["else"]))
        except ValueError:  # a keyword where a name was expected
            return None

    def evaluate(self, item: Any) -> Any:
        if self._equal is not None:
            steps, text = self._equal
            found = _walk(item, steps)
            if found is _MISSING:
                return False
            return found == text if isinstance(found, str) else _JSONATA
        branch = self._then
        if self._test is not None:
            found = _walk(item, self._test)
            if found is _MISSING:
                branch = self._else
            elif isinstance(found, str):
                branch = self._then if found else self._else
            else:
                return _JSONATA
        if len(branch) == 1 and isinstance(branch[0], tuple):  # a path alone: its value
            found = _walk(item, branch[0])
            if found is _MISSING:
                return None
            return found if isinstance(found, str) else _JSONATA
        parts = []
        for operand in branch:
            if isinstance(operand, str):
                parts.append(operand)
                continue
            found = _walk(item, operand)
            if found is _MISSING:
                continue
            if not isinstance(found, str):
                return _JSONATA
            parts.append(found)
        return "".join(parts)


def _steps(path: str) -> tuple[str, ...]:
    steps = tuple(path.split("."))
    if any(step in _KEYWORDS for step in steps):
        raise ValueError(path)
    return steps


def _operands(joined: str) -> list[tuple[str, ...] | str]:
    found: list[tuple[str, ...] | str] = []
    for part in re.findall(rf"{_TEXT}|{_STEPS}", joined):
        found.append(part[1:-1] if part[0] in "'\"" else _steps(part))
    return found


def _walk(item: Any, steps: tuple[str, ...]) -> Any:
    """The value at a plain path through objects; `_MISSING` when absent; `_JSONATA`
    (never text) when the path meets an array or a scalar on the way."""
    value = item
    for step in steps:
        if not isinstance(value, dict):
            return _JSONATA
        value = value.get(step, _MISSING)
        if value is _MISSING:
            return _MISSING
    return value
