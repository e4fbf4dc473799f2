"""Fault injection: the failures a hub must survive, on demand and reproducibly.

Grammar (comma-separated rules, each optionally scoped to a model and method)::

    spec  := rule ("," rule)*
    rule  := [scope ":"] key "=" value
    scope := model | model "/" method | "/" method        e.g. sale.order/write
    key   := latency | latency_per_record | serialization | timeout | hang | down
           | retry_after | seed | <HTTP status 4xx/5xx> | 5xx

Values are probabilities (`0.1`, `10%`) for `serialization`, `timeout` and status keys,
durations (`50ms`, `2s`) for `latency`, `latency_per_record`, `hang`, `down`, `retry_after`,
and an integer for `seed`. Example: `seed=7,latency=20ms,sale.order/write:serialization=0.3,
429=0.05,retry_after=2s,down=10s`.

Status faults answer as a proxy in front of Odoo would (an HTML body; 429 with Retry-After;
`5xx` means 503). `serialization` raises Odoo's own concurrency error, as it reaches a client
once `retrying` has spent its five tries. `timeout` holds the request for `hang` (default 30s)
and then answers 504. `down` answers 503 to everything for that long after the spec is set.
Given a `seed`, the same sequence of calls meets the same faults.
"""

from __future__ import annotations

import math
import random
import re
import time
from dataclasses import dataclass, field

PROBABILITY_KEYS = ("serialization", "timeout")
DURATION_KEYS = ("latency", "latency_per_record", "hang", "down", "retry_after")


class FaultSpecError(ValueError):
    """A fault spec that does not parse; the message names the rule and what was expected."""


@dataclass(frozen=True)
class Rule:
    key: str
    value: float
    model: str | None = None
    method: str | None = None

    def matches(self, model: str | None, method: str | None) -> bool:
        if self.model is not None and self.model != model:
            return False
        return self.method is None or self.method == method


@dataclass(frozen=True)
class Decision:
    """What one call meets: a status to answer instead, a delay, or an Odoo error to raise."""

    status: int | None = None
    retry_after: int | None = None
    delay: float = 0.0
    per_record: float = 0.0
    serialization: bool = False
    hang: float = 0.0


def _duration(text: str, rule: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)?", text.strip())
    if not match:
        raise FaultSpecError(f"{rule!r}: expected a duration such as 50ms or 2s")
    value = float(match.group(1))
    return value / 1000 if match.group(2) == "ms" else value


def _probability(text: str, rule: str) -> float:
    text = text.strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise FaultSpecError(f"{rule!r}: expected a probability such as 0.1 or 10%") from None
    if not 0 <= value <= 1:
        raise FaultSpecError(f"{rule!r}: a probability lies between 0 and 1")
    return value


@dataclass
class FaultPlan:
    """A parsed spec plus the state it needs at run time (its RNG and its down window)."""

    spec: str = ""
    rules: list[Rule] = field(default_factory=list)
    seed: int | None = None
    down_until: float = 0.0
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def parse(cls, spec: str | None, now: float | None = None) -> FaultPlan:
        spec = (spec or "").strip()
        plan = cls(spec=spec)
        for raw in filter(None, (part.strip() for part in spec.split(","))):
            scope, _, assignment = (
                raw.rpartition(":") if "=" in raw.rpartition(":")[2] else ("", "", raw)
            )
            key, sep, value = assignment.partition("=")
            key = key.strip().lower()
            if not sep or not key:
                raise FaultSpecError(f"{raw!r}: expected key=value")
            model: str | None = None
            method: str | None = None
            if scope:
                model_part, _, method_part = scope.partition("/")
                model = model_part.strip() or None
                method = method_part.strip() or None
            if key == "seed":
                try:
                    plan.seed = int(value)
                except ValueError:
                    raise FaultSpecError(f"{raw!r}: the seed is an integer") from None
                continue
            if key == "5xx":
                key = "503"
            if key in DURATION_KEYS:
                amount = _duration(value, raw)
            elif key in PROBABILITY_KEYS or (key.isdigit() and 400 <= int(key) <= 599):
                amount = _probability(value, raw)
            else:
                raise FaultSpecError(
                    f"{raw!r}: unknown fault {key!r}; expected one of latency, "
                    "latency_per_record, serialization, timeout, hang, down, retry_after, seed, "
                    "5xx or an HTTP status such as 429 or 502"
                )
            plan.rules.append(Rule(key, amount, model, method))
        plan.rng = random.Random(plan.seed)
        down = [r.value for r in plan.rules if r.key == "down"]
        if down:
            plan.down_until = (time.monotonic() if now is None else now) + max(down)
        return plan

    def _value(self, key: str, model: str | None, method: str | None, default: float) -> float:
        for rule in reversed(self.rules):
            if rule.key == key and rule.matches(model, method):
                return rule.value
        return default

    def decide(self, model: str | None, method: str | None, now: float | None = None) -> Decision:
        if not self.rules:
            return Decision()
        if (time.monotonic() if now is None else now) < self.down_until:
            return Decision(status=503)
        retry_after = math.ceil(self._value("retry_after", model, method, 1.0))
        for rule in self.rules:
            if not rule.key.isdigit() or not rule.matches(model, method):
                continue
            if self.rng.random() < rule.value:
                status = int(rule.key)
                return Decision(status=status, retry_after=retry_after if status == 429 else None)
        hang = 0.0
        for rule in self.rules:
            if (
                rule.key == "timeout"
                and rule.matches(model, method)
                and (self.rng.random() < rule.value)
            ):
                hang = self._value("hang", model, method, 30.0)
                break
        serialization = any(
            rule.key == "serialization"
            and rule.matches(model, method)
            and self.rng.random() < rule.value
            for rule in self.rules
        )
        return Decision(
            delay=sum(
                r.value for r in self.rules if r.key == "latency" and r.matches(model, method)
            ),
            per_record=sum(
                r.value
                for r in self.rules
                if r.key == "latency_per_record" and r.matches(model, method)
            ),
            serialization=serialization,
            hang=hang,
        )
