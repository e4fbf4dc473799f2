"""Any IntermodalError that reaches a route becomes its HTTP answer, in the house shape or,
when asked for, as RFC 9457 problem details."""

from __future__ import annotations

import time
from http import HTTPStatus

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from intermodal.api.errors import PROBLEM_JSON, ApiError, install
from intermodal.canonical.events import EventError
from intermodal.connectors.odoo.client import OdooError
from intermodal.errors import Conflict, IntermodalError, NotFound
from tests.api.conftest import HubClient
from tests.conftest import new_secret


def _client(error: Exception) -> TestClient:
    app = FastAPI()
    install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise error

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (NotFound("no shipment 'S-1'"), 404, "not_found"),
        (Conflict("this id was used for other data"), 409, "conflict"),
        (EventError([{"loc": "data.milestone", "msg": "unknown"}]), 422, "invalid"),
        (ApiError(415, "unsupported_media_type", "json only"), 415, "unsupported_media_type"),
    ],
)
def test_an_error_that_reaches_a_route_is_its_status(
    error: IntermodalError, status: int, code: str
) -> None:
    answer = _client(error).get("/boom")
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    expected = {"code": code, "message": str(error)}
    if isinstance(error, EventError):
        expected["details"] = error.problems
    assert answer.json() == {"error": expected}


def test_problem_details_when_the_client_asks() -> None:
    error = EventError([{"loc": "data.milestone", "msg": "unknown"}])
    answer = _client(error).get("/boom", headers={"accept": PROBLEM_JSON})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM_JSON
    body = answer.json()
    assert body["type"] == "urn:intermodal:problem:invalid"
    assert body["title"] == HTTPStatus(422).phrase
    assert body["status"] == 422
    assert body["detail"] == "data.milestone: unknown"
    assert body["problems"] == [{"loc": "data.milestone", "msg": "unknown"}]


def test_an_outside_system_s_words_stay_in_the_log() -> None:
    secretish = "Traceback in odoo/addons/base: password=hunter2"
    answer = _client(OdooError("ServerError", secretish, retryable=False)).get("/boom")
    assert answer.status_code == 502
    assert answer.json()["error"]["code"] == "upstream"
    assert "hunter2" not in answer.text


def test_api_error_headers_are_kept() -> None:
    error = ApiError(
        401, "unauthorized", "a bearer token is required", None, {"WWW-Authenticate": "Bearer"}
    )
    answer = _client(error).get("/boom", headers={"accept": PROBLEM_JSON})
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"


def test_an_unknown_path_still_answers_the_house_shape() -> None:
    answer = _client(RuntimeError()).get("/nowhere")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    problem = _client(RuntimeError()).get("/nowhere", headers={"accept": PROBLEM_JSON})
    assert problem.json()["status"] == 404 and problem.json()["title"] == "Not Found"


def test_the_webhook_fast_path_answers_problem_details_too(hub_client: HubClient) -> None:
    config = {"partners": {"acme": {"webhook_secrets": ["env:ERRORS_ACME_SECRET"]}}}
    with hub_client(config, {"ERRORS_ACME_SECRET": new_secret()}) as client:
        headers = {
            "content-type": "application/json",
            "webhook-id": "m-1",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1,bm90IGEgc2lnbmF0dXJl",
        }
        house = client.post("/v1/webhooks/acme", content=b"{}", headers=headers)
        assert house.status_code == 401
        assert house.json()["error"]["code"] == "bad_signature"
        asked = client.post(
            "/v1/webhooks/acme", content=b"{}", headers={**headers, "accept": PROBLEM_JSON}
        )
        assert asked.status_code == 401 and asked.headers["content-type"] == PROBLEM_JSON
        assert asked.json()["type"] == "urn:intermodal:problem:bad_signature"
        assert asked.json()["detail"] == house.json()["error"]["message"]
