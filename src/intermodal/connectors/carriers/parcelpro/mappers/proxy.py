"""ParcelPro transport: bearer auth, JSON bodies, its error envelope to our error tree."""

from __future__ import annotations

from typing import Any

import httpx

from intermodal.connectors.carriers._http import read_json, send, validate
from intermodal.connectors.carriers.contract import CarrierRejected, CarrierResponseError
from intermodal.connectors.carriers.parcelpro.schemas import ErrorResponse


class ParcelProProxy:
    def __init__(
        self, name: str, base_url: str, api_key: str, client: httpx.AsyncClient, timeout: float
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.client = client
        self.headers = {"authorization": f"Bearer {api_key}", "accept": "application/json"}
        self.timeout = timeout

    async def call(
        self,
        operation: str,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        request = self.client.build_request(
            method,
            self.base_url + path,
            json=body,
            params=params,
            headers=self.headers,
            timeout=self.timeout,
        )
        response = await send(self.client, self.name, operation, request)
        value = read_json(self.name, operation, response.content)
        if response.status_code >= 400:
            if isinstance(value, dict) and "errors" in value:
                errors = validate(ErrorResponse, value, self.name, operation).errors
                text = "; ".join(f"{e.code}: {e.detail}" for e in errors) or "no detail"
                raise CarrierRejected(self.name, operation, f"HTTP {response.status_code} {text}")
            raise CarrierResponseError(
                self.name, operation, f"HTTP {response.status_code} without an error body"
            )
        return value
