"""Generate the JSON Schemas of canonical model v1 into `schemas/v1/`.

The checked-in files are the contract partners validate against; a test regenerates them
in memory and fails when code and files drift, so a model change is always a visible diff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from intermodal.canonical.events import EVENT_ADAPTER
from intermodal.canonical.model import (
    Charge,
    CustomsStatus,
    MilestoneEvent,
    Money,
    Party,
    PositionReport,
    ProofOfDelivery,
    Shipment,
    Stop,
    VehicleAssignment,
)

VERSION = "v1"
_MODELS: dict[str, type[BaseModel]] = {
    "shipment": Shipment,
    "party": Party,
    "stop": Stop,
    "milestone": MilestoneEvent,
    "proof-of-delivery": ProofOfDelivery,
    "charge": Charge,
    "money": Money,
    "customs-status": CustomsStatus,
    "position": PositionReport,
    "vehicle-assignment": VehicleAssignment,
}


def _with_id(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://intermodal.dev/schemas/{VERSION}/{name}.json",
        **schema,
    }


def generate() -> dict[str, str]:
    """Every schema file name with its exact text (stable key order, trailing newline)."""
    schemas = {name: _with_id(name, m.model_json_schema()) for name, m in _MODELS.items()}
    schemas["event"] = _with_id("event", EVENT_ADAPTER.json_schema())
    return {
        f"{name}.json": json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for name, schema in sorted(schemas.items())
    }


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generate().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
