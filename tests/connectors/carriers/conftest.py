"""Both carrier simulators on loopback, the hub settings that point at them, a store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest

from intermodal.canonical.model import Address, Shipment, Stop, StopKind
from intermodal.config import Settings
from intermodal.connectors.carriers.contract import Parcel
from intermodal.connectors.carriers.shopping import client_reference
from intermodal_sim.carriers import freightline, parcelpro
from intermodal_sim.carriers.script import CarrierScript
from intermodal_sim.testing import serve_in_thread

PARCELPRO_KEY = "pp-test-key-7f3a"
FREIGHTLINE_PASSWORD = "fl-test-pass-91c2"


@dataclass
class Sims:
    scripts: dict[str, CarrierScript]
    settings: Settings

    def live_labels(self, shipment_key: str) -> int:
        """Live labels for one shipment across every carrier: the number that must be 1."""
        return sum(
            len(script.live_labels(client_reference(shipment_key, name)))
            for name, script in self.scripts.items()
        )


@pytest.fixture
def sims(make_settings: Callable[..., Settings]) -> Iterator[Sims]:
    pp, fl = CarrierScript(), CarrierScript()
    with (
        serve_in_thread(parcelpro.create_app(pp, api_key=PARCELPRO_KEY)) as pp_url,
        serve_in_thread(freightline.create_app(fl, "acme", FREIGHTLINE_PASSWORD)) as fl_url,
    ):
        settings = make_settings(
            {
                "endpoints": {
                    "parcelpro": {
                        "kind": "carrier",
                        "url": pp_url,
                        "timeout_seconds": 2,
                        "options": {"carrier": "parcelpro", "api_key": "env:PP_KEY"},
                    },
                    "freightline": {
                        "kind": "carrier",
                        "url": fl_url,
                        "timeout_seconds": 2,
                        "options": {
                            "carrier": "freightline",
                            "username": "acme",
                            "password": "env:FL_PASSWORD",
                        },
                    },
                },
                "delivery": {
                    "backoff_base_seconds": 0.02,
                    "backoff_max_seconds": 0.1,
                    "breaker_failures": 50,
                },
            },
            env={"PP_KEY": PARCELPRO_KEY, "FL_PASSWORD": FREIGHTLINE_PASSWORD},
        )
        yield Sims({"parcelpro": pp, "freightline": fl}, settings)


def shipment(key: str, service_level: str | None = None) -> Shipment:
    return Shipment(
        key=key,
        service_level=service_level,
        stops=[
            Stop(
                sequence=1,
                kind=StopKind.PICKUP,
                address=Address(country="US", postal_code="38118", city="Memphis"),
            ),
            Stop(
                sequence=2,
                kind=StopKind.DELIVERY,
                address=Address(country="US", postal_code="10001", city="New York"),
            ),
        ],
    )


PARCELS = [
    Parcel(
        weight_kg=Decimal("2"),
        length_cm=Decimal("30"),
        width_cm=Decimal("20"),
        height_cm=Decimal("10"),
    )
]
