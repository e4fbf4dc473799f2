"""JSONata expressions as the mapping uses them: compiled once, evaluated per item.

Most fields of a mapping are plain paths (`shipment.reference`). jsonata-python spends
about 100 microseconds on even the simplest expression, which would make mapping the
slowest step of the spine, so a plain dotted path over objects is read directly in
Python; anything else (and any path that meets an array, where JSONata maps over it) is
evaluated by JSONata itself, with the same result.

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

    __slots__ = ("_arguments", "_compiled", "_path", "source")

    def __init__(self, source: str) -> None:
        self.source = source.strip()
        self._path = tuple(self.source.split(".")) if _PLAIN_PATH.match(self.source) else None
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
        try:
            return plain(self._compiled.evaluate(item, bindings))
        except TimeInputError as exc:
            where = self._arguments.get(exc.argument)
            raise ExpressionError(f"`{self.source}`: {exc}", where) from None
        except Exception as exc:  # JSONata's and Python's texts can quote the item's values
            code = getattr(exc, "error", None)  # JSONata's code, e.g. T2001
            kind = f"JSONata error {code}" if isinstance(code, str) else type(exc).__name__
            raise ExpressionError(f"`{self.source}` failed on this item ({kind})") from None
