"""Carrier kind -> how to build its connector from a `kind: carrier` endpoint.

A carrier endpoint names its connector in `options.carrier`; the rest of `options` is
validated by that carrier's settings model, and secrets are resolved here, at start.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
from pydantic import BaseModel, ValidationError

from intermodal.config import Endpoint
from intermodal.connectors.carriers.contract import CarrierConnector
from intermodal.connectors.carriers.freightline.mappers.mapper import FreightLineConnector
from intermodal.connectors.carriers.freightline.mappers.settings import FreightLineSettings
from intermodal.connectors.carriers.parcelpro.mappers.mapper import ParcelProConnector
from intermodal.connectors.carriers.parcelpro.mappers.settings import ParcelProSettings
from intermodal.security.secrets import SecretError, resolve_secret

ConnectorFactory = Callable[[Endpoint, httpx.AsyncClient], CarrierConnector]


def _options(model: type[BaseModel], endpoint: Endpoint) -> BaseModel:
    try:
        return model.model_validate(endpoint.options)
    except ValidationError as exc:
        problems = "; ".join(
            f"endpoints.{endpoint.name}.options.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ValueError(problems) from None


def _secret(endpoint: Endpoint, field: str, reference: str) -> str:
    try:
        return resolve_secret(reference, endpoint.base_dir).value
    except SecretError as exc:
        raise ValueError(f"endpoints.{endpoint.name}.options.{field}: {exc}") from None


def _parcelpro(endpoint: Endpoint, client: httpx.AsyncClient) -> CarrierConnector:
    settings = _options(ParcelProSettings, endpoint)
    assert isinstance(settings, ParcelProSettings)
    key = _secret(endpoint, "api_key", settings.api_key)
    return ParcelProConnector(endpoint.name, endpoint.url, key, client, endpoint.timeout_seconds)


def _freightline(endpoint: Endpoint, client: httpx.AsyncClient) -> CarrierConnector:
    settings = _options(FreightLineSettings, endpoint)
    assert isinstance(settings, FreightLineSettings)
    password = _secret(endpoint, "password", settings.password)
    return FreightLineConnector(
        endpoint.name, endpoint.url, settings.username, password, client, endpoint.timeout_seconds
    )


CONNECTORS: dict[str, ConnectorFactory] = {
    "parcelpro": _parcelpro,
    "freightline": _freightline,
}


def build_connector(endpoint: Endpoint, client: httpx.AsyncClient) -> CarrierConnector:
    """The endpoint's connector; ValueError naming the option when it is misconfigured."""
    carrier = endpoint.options.get("carrier")
    factory = CONNECTORS.get(carrier) if isinstance(carrier, str) else None
    if factory is None:
        known = ", ".join(sorted(CONNECTORS))
        raise ValueError(
            f"endpoints.{endpoint.name}.options.carrier: {carrier!r} is not a carrier ({known})"
        )
    return factory(endpoint, client)


def check_endpoint(endpoint: Endpoint) -> list[str]:
    """Start-up check of a carrier endpoint's options and secrets."""
    try:
        build_connector(endpoint, httpx.AsyncClient())
    except ValueError as exc:
        return [str(exc)]
    return []
