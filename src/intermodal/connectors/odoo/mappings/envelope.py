"""What every Odoo mapping reads from a command, and the helpers they share.

Kept apart from the package's `__init__`, which imports every mapping to build its table,
so that a mapping never imports the package that imports it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from intermodal.canonical.model import Key
from intermodal.connectors.odoo.ops import MappingError


class Envelope(BaseModel):
    """The parts of an outbox CloudEvent a mapping reads."""

    model_config = ConfigDict(extra="allow")

    id: str
    type: str
    subject: Key
    data: dict[str, Any]


_T = TypeVar("_T", bound=BaseModel)


def parse_data(model: type[_T], envelope: Envelope) -> _T:
    """Validate a command's data; a wrong shape is a MappingError naming the fields."""
    try:
        return model.model_validate(envelope.data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise MappingError(f"{envelope.type} data: {problems}") from None


def odoo_datetime(value: datetime) -> str:
    """Odoo's datetime wire format: UTC, 'YYYY-MM-DD HH:MM:SS' (ODOO-API.md section 6)."""
    return str(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"))
