"""The transport rules every carrier proxy shares: which failures are "try later"
(`CarrierUnavailable`) and how an unreadable body becomes a `CarrierResponseError`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from intermodal.canonical.model import MilestoneEvent
from intermodal.connectors.carriers.contract import (
    CarrierError,
    CarrierResponseError,
    CarrierUnavailable,
)

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")


async def send(
    client: httpx.AsyncClient, carrier: str, operation: str, request: httpx.Request
) -> httpx.Response:
    """Send; transport errors, 5xx and 429 become `CarrierUnavailable`."""
    try:
        response = await client.send(request)
    except httpx.HTTPError as exc:
        raise CarrierUnavailable(carrier, operation, f"{type(exc).__name__}: {exc}") from None
    if response.status_code >= 500 or response.status_code == 429:
        raise CarrierUnavailable(
            carrier, operation, f"HTTP {response.status_code}: {response.text[:200]}"
        )
    return response


def read_json(carrier: str, operation: str, body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise CarrierResponseError(carrier, operation, f"body is not JSON: {exc}") from None


def validate(schema: type[ModelT], value: Any, carrier: str, operation: str) -> ModelT:
    try:
        return schema.model_validate(value)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise CarrierResponseError(
            carrier, operation, f"unexpected response at {where}: {first['msg']}"
        ) from None


def parsing(carrier: str, operation: str, parse: Callable[[], T]) -> T:
    """Run a parser; anything but a CarrierError becomes a `CarrierResponseError`.

    Parsers build canonical values (Money, MilestoneEvent) whose validators reject what a
    carrier may send (a NaN price, a naive time); callers only ever see the typed error.
    """
    try:
        return parse()
    except CarrierError:
        raise
    except (ValidationError, ValueError, ArithmeticError, TypeError, KeyError) as exc:
        raise CarrierResponseError(carrier, operation, f"{type(exc).__name__}: {exc}") from None


def in_order(events: list[MilestoneEvent]) -> list[MilestoneEvent]:
    """Carriers resend and reorder history: exact duplicates dropped, oldest first."""
    unique = {(e.milestone, e.occurred_at, e.reason): e for e in events}
    return sorted(unique.values(), key=lambda e: (e.occurred_at, e.milestone.value))
