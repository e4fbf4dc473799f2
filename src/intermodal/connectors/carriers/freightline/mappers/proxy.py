"""FreightLine transport: HTTP Basic, form bodies, and faults hidden in 200 answers.

A `fault` whose code starts with `Server.` is the gateway's own trouble (try later); any
other fault is a refusal of this request.
"""

from __future__ import annotations

from typing import Any

import httpx

from intermodal.connectors.carriers._http import read_json, send, validate
from intermodal.connectors.carriers.contract import (
    CarrierRejected,
    CarrierResponseError,
    CarrierUnavailable,
)
from intermodal.connectors.carriers.freightline.schemas import FaultResponse


class FreightLineProxy:
    def __init__(
        self,
        name: str,
        base_url: str,
        username: str,
        password: str,
        client: httpx.AsyncClient,
        timeout: float,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.client = client
        self.auth = httpx.BasicAuth(username, password)
        self.timeout = timeout

    async def call(
        self,
        operation: str,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        request = self.client.build_request(
            method, self.base_url + path, data=form, params=params, timeout=self.timeout
        )
        request = next(self.auth.auth_flow(request))
        response = await send(self.client, self.name, operation, request)
        if response.status_code >= 400:
            raise CarrierRejected(
                self.name, operation, f"HTTP {response.status_code}: {response.text[:200]}"
            )
        value = read_json(self.name, operation, response.content)
        if isinstance(value, dict) and "fault" in value:
            fault = validate(FaultResponse, value, self.name, operation).fault
            text = f"{fault.faultcode}: {fault.faultstring}"
            if fault.faultcode.startswith("Server."):
                raise CarrierUnavailable(self.name, operation, text)
            raise CarrierRejected(self.name, operation, text)
        if not isinstance(value, dict):
            raise CarrierResponseError(self.name, operation, "answer is not a JSON object")
        return value
