"""Carrier kind -> how to build its connector from a `kind: carrier` endpoint.

A carrier endpoint names its connector in `options.carrier`; the rest of `options` is
validated by that carrier's settings model, and secrets are resolved here, at start.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from intermodal.config import Endpoint
from intermodal.connectors.carriers.contract import CarrierConnector
from intermodal.connectors.carriers.freightline.mappers.mapper import FreightLineConnector
from intermodal.connectors.carriers.freightline.mappers.settings import FreightLineSettings
from intermodal.connectors.carriers.parcelpro.mappers.mapper import ParcelProConnector
from intermodal.connectors.carriers.parcelpro.mappers.settings import ParcelProSettings
from intermodal.outbox.sinks import endpoint_options
from intermodal.security.secrets import SecretError, resolve_secret

ConnectorBuilder = Callable[[httpx.AsyncClient], CarrierConnector]
ConnectorFactory = Callable[[Endpoint], ConnectorBuilder]
"""Validates an endpoint's options and resolves its secrets (ValueError naming the option),
then returns what builds the connector on a client: checks at start need no client."""


def _secret(endpoint: Endpoint, field: str, reference: str) -> str:
    try:
        return resolve_secret(reference, endpoint.base_dir).value
    except SecretError as exc:
        raise ValueError(f"endpoints.{endpoint.name}.options.{field}: {exc}") from None


def _parcelpro(endpoint: Endpoint) -> ConnectorBuilder:
    settings = endpoint_options(ParcelProSettings, endpoint)
    key = _secret(endpoint, "api_key", settings.api_key)

    def build(client: httpx.AsyncClient) -> CarrierConnector:
        return ParcelProConnector(
            endpoint.name, endpoint.url, key, client, endpoint.timeout_seconds
        )

    return build


def _freightline(endpoint: Endpoint) -> ConnectorBuilder:
    settings = endpoint_options(FreightLineSettings, endpoint)
    password = _secret(endpoint, "password", settings.password)

    def build(client: httpx.AsyncClient) -> CarrierConnector:
        return FreightLineConnector(
            endpoint.name,
            endpoint.url,
            settings.username,
            password,
            client,
            endpoint.timeout_seconds,
        )

    return build


CONNECTORS: dict[str, ConnectorFactory] = {
    "parcelpro": _parcelpro,
    "freightline": _freightline,
}


def connector_builder(endpoint: Endpoint) -> ConnectorBuilder:
    """Check the endpoint's carrier options; ValueError naming the option if they are bad."""
    carrier = endpoint.options.get("carrier")
    factory = CONNECTORS.get(carrier) if isinstance(carrier, str) else None
    if factory is None:
        known = ", ".join(sorted(CONNECTORS))
        raise ValueError(
            f"endpoints.{endpoint.name}.options.carrier: {carrier!r} is not a carrier ({known})"
        )
    return factory(endpoint)


def build_connector(endpoint: Endpoint, client: httpx.AsyncClient) -> CarrierConnector:
    """The endpoint's connector on a shared client; ValueError if misconfigured."""
    return connector_builder(endpoint)(client)


def check_endpoint(endpoint: Endpoint) -> list[str]:
    """Start-up check of a carrier endpoint's options and secrets."""
    try:
        connector_builder(endpoint)
    except ValueError as exc:
        return [str(exc)]
    return []
