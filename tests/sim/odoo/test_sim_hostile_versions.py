"""Hostile bodies never crash the sim; the 17 and 18 wire differences; CLI option checks."""

from __future__ import annotations

import json
import xmlrpc.client

import httpx
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intermodal_sim.odoo.cli import build_config
from intermodal_sim.odoo.testing import RunningSim, running_sim

JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "ids",
                    "domain",
                    "fields",
                    "context",
                    "vals",
                    "vals_list",
                    "service",
                    "method",
                    "args",
                    "params",
                    "limit",
                    "x",
                ]
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=8,
)
BODIES = st.one_of(st.binary(max_size=64), JSON_VALUES.map(lambda v: json.dumps(v).encode()))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=BODIES,
    target=st.sampled_from(
        [
            "/jsonrpc",
            "/json/2/res.partner/search_read",
            "/json/2/sale.order/write",
            "/xmlrpc/2/object",
            "/xmlrpc/common",
            "/web/session/authenticate",
            "/web/dataset/call_kw",
        ]
    ),
)
def test_hostile_bodies_get_faithful_errors(
    http: httpx.Client, sim: RunningSim, body: bytes, target: str
) -> None:
    headers = {"Content-Type": "application/json", "Authorization": f"bearer {sim.api_key}"}
    response = http.post(target, content=body, headers=headers)
    if target.startswith("/xmlrpc"):
        # addons/rpc/controllers/xmlrpc.py: always 200 with a methodResponse
        assert response.status_code == 200
        with pytest.raises(xmlrpc.client.Fault):
            xmlrpc.client.loads(response.content)
    elif target.startswith("/json/2"):
        # odoo/http.py Json2Dispatcher.handle_error: a JSON body naming the error
        if response.status_code != 200:
            assert set(response.json()) == {"name", "message", "arguments", "context", "debug"}
    else:
        # odoo/http.py JsonRPCDispatcher: 400 text for bodies that are not JSON-RPC, else 200
        assert response.status_code in (200, 400)
        if response.status_code == 200:
            assert "error" in response.json() or "result" in response.json()


@pytest.mark.parametrize("major", [17, 18])
def test_older_majors(major: int) -> None:
    with running_sim(version=major) as sim, httpx.Client(base_url=sim.url) as http:

        def rpc(*args: object) -> dict:
            return http.post(
                "/jsonrpc",
                json={
                    "params": {
                        "service": "object",
                        "method": "execute_kw",
                        "args": [sim.db, 2, "admin", *args],
                    }
                },
            ).json()

        # odoo/http.py (<=18) serialize_exception: code 200, `debug` before `message`
        error = rpc("res.partner", "nope", [[1]])["error"]
        assert error["code"] == 200 and list(error["data"])[:2] == ["name", "debug"]
        assert "mobile" in rpc("res.partner", "fields_get", [], {"attributes": ["type"]})["result"]
        names = rpc(
            "res.partner",
            "name_search",
            [],
            {("args" if major == 17 else "domain"): [], "name": "Azure"},
        )
        assert names["result"][0][1] == "Azure Interior"
        # no JSON-2 before 19: a JSON request to it is Odoo's JSON-RPC 404 error object
        lost = http.post(
            "/json/2/res.partner/search",
            json={"domain": []},
            headers={"Authorization": f"bearer {sim.api_key}"},
        )
        assert lost.status_code == 200 and lost.json()["error"]["code"] == 404
        states = rpc("account.move", "fields_get", [["payment_state"]])["result"]
        assert ("blocked" in {s[0] for s in states["payment_state"]["selection"]}) == (major >= 18)
        message = rpc("res.partner", "message_post", [[6]], {"body": "hi"})["result"]
        assert isinstance(message, int)  # @api.returns up to 18


def test_cli_validates_options() -> None:
    with pytest.raises(typer.BadParameter, match=r"unknown fault"):
        build_config("intermodal", None, "bogus=1", None, 19, None)
    with pytest.raises(typer.BadParameter):
        build_config("intermodal", None, None, None, 16, None)
    config = build_config("acme", None, "seed=1,latency=5ms", "k", 18, None)
    assert (config.db, config.version, config.api_key) == ("acme", 18, "k")
