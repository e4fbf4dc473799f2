"""A route marked `deprecated(...)` says so on every answer it gives, errors included:
`Deprecation` (RFC 9745), `Sunset` (RFC 8594) and `Link`s to the policy and the successor;
the OpenAPI description marks it and documents those headers. No route of the hub is
superseded today, so the mechanism is tried on a route of this test, served next to the
hub's own routes by the hub's own application, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp

from intermodal.api.app import create_app
from intermodal.api.errors import ApiError
from intermodal.api.lifecycle import Deprecation, deprecated
from intermodal.config import load_config
from intermodal_sim.testing import serve_in_thread

SINCE, SUNSET = date(2027, 1, 4), date(2027, 7, 5)


def fastapi_inside(app: ASGIApp) -> FastAPI:
    """The FastAPI application inside the hub's wrappers (request log, webhook fast path)."""
    found: Any = app
    while not isinstance(found, FastAPI):
        found = found.app
    return found


@pytest.fixture(scope="module")
def hub_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("deprecation")
    (folder / "hub.yaml").write_text(
        yaml.safe_dump({"hub": {"database": f"sqlite:///{folder / 'hub.db'}"}})
    )
    app = create_app(load_config(folder / "hub.yaml"), dispatch=False)
    router = APIRouter()

    @router.get("/v1/test-old/{thing}", **deprecated(SINCE, SUNSET, successor="/v1/test-new"))
    async def old(thing: str) -> dict[str, str]:
        if thing == "missing":
            raise ApiError(404, "not_found", f"no thing '{thing}'")
        return {"thing": thing}

    @router.get("/v1/test-new")
    async def new() -> dict[str, str]:
        return {"thing": "new"}

    fastapi_inside(app).include_router(router)
    with serve_in_thread(app) as url:
        yield url


def test_a_deprecated_routes_answers_carry_the_headers_errors_included(hub_url: str) -> None:
    with httpx.Client(base_url=hub_url) as client:
        for path, status in [("/v1/test-old/a", 200), ("/v1/test-old/missing", 404)]:
            answer = client.get(path)
            assert answer.status_code == status
            assert answer.headers["deprecation"] == f"@{int(_midnight(SINCE).timestamp())}"
            assert parsedate_to_datetime(answer.headers["sunset"]) == _midnight(SUNSET)
            assert answer.headers["sunset"] == "Mon, 05 Jul 2027 00:00:00 GMT"
            links = answer.headers["link"]
            assert '</docs>; rel="deprecation"; type="text/html"' in links
            assert '</v1/test-new>; rel="successor-version"' in links
        for path in ("/v1/test-new", "/healthz"):
            answer = client.get(path)
            assert answer.status_code == 200
            assert not {"deprecation", "sunset", "link"} & set(answer.headers)


def test_the_description_marks_it_and_documents_the_headers(hub_url: str) -> None:
    spec = httpx.get(f"{hub_url}/openapi.json").json()
    operation = spec["paths"]["/v1/test-old/{thing}"]["get"]
    assert operation["deprecated"] is True
    assert operation["description"].startswith(
        "Deprecated since 2027-01-04; answers until 2027-07-05. Use `/v1/test-new` instead."
    )
    for status, answer in operation["responses"].items():
        assert {"Deprecation", "Sunset", "Link"} <= set(answer["headers"]), status
    assert "404" in operation["responses"]  # the kind's error answers, as for any route
    assert "deprecated" not in spec["paths"]["/v1/test-new"]["get"]


def test_a_sunset_sooner_than_the_policys_notice_is_refused() -> None:
    with pytest.raises(ValueError, match="only 30 days after the deprecation"):
        deprecated(date(2027, 1, 1), date(2027, 1, 31))
    notice = Deprecation(_midnight(SINCE), _midnight(SUNSET))
    assert Deprecation.from_extension(notice.extension()) == notice
    assert [name for name, _ in notice.headers()] == [b"deprecation", b"sunset", b"link"]


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def test_no_route_is_left_deprecated_without_a_sunset(tmp_path: Path) -> None:
    """FastAPI's bare `deprecated=True` gives no dates: every deprecated route of the hub
    goes through `deprecated(...)`, so its answers and description say until when."""
    (tmp_path / "hub.yaml").write_text(yaml.safe_dump({"hub": {"database": "sqlite://"}}))
    spec = fastapi_inside(create_app(load_config(tmp_path / "hub.yaml"))).openapi()
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            if operation.get("deprecated"):
                assert "x-deprecation" in operation, f"{method.upper()} {path}"
