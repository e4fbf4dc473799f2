"""The tower's links into Odoo: the address form the configured Odoo opens, and, against
the Odoo test server, a link that opens the record."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from intermodal.config import Endpoint
from intermodal.dashboard import views
from intermodal_sim.odoo.testing import RunningSim, running_sim


def _odoo(url: str, **options: Any) -> Endpoint:
    return Endpoint(
        name="odoo",
        kind="odoo",
        url=url,
        secret_key=None,
        milestones=None,
        max_attempts=1,
        rate_per_second=0.0,
        timeout_seconds=10.0,
        batch_size=1,
        options={"database": "intermodal", "api_key": "env:X", **options},
    )


def test_json2_means_odoo_19_and_a_record_path_older_protocols_the_legacy_fragment() -> None:
    base = "https://erp.example.com/"
    assert views.odoo_link(_odoo(base, protocol="json2"), "sale.order", 17) == (
        "https://erp.example.com/odoo/sale.order/17"
    )
    # router.js: a model without a dot is written m-<model>, not mistaken for an action
    assert views.odoo_link(_odoo(base, protocol="json2"), "website", 3) == (
        "https://erp.example.com/odoo/m-website/3"
    )
    legacy = "https://erp.example.com/web#model=sale.order&id=17&view_type=form"
    assert views.odoo_link(_odoo(base, protocol="jsonrpc", login="bot"), "sale.order", 17) == legacy
    assert views.odoo_link(_odoo(base), "sale.order", 17) == legacy  # auto: every version
    assert views.odoo_link(None, "sale.order", 17) is None


@pytest.fixture(scope="module")
def odoo() -> Iterator[RunningSim]:
    with running_sim() as running:
        yield running


def test_the_link_the_tower_draws_opens_the_record_in_the_odoo_test_server(
    odoo: RunningSim,
) -> None:
    headers = {"Authorization": f"bearer {odoo.api_key}", "X-Odoo-Database": odoo.db}
    with httpx.Client(timeout=10) as http:
        (partner,) = http.post(
            f"{odoo.url}/json/2/res.partner/create",
            json={"vals_list": [{"name": "Tower Test Customer"}]},
            headers=headers,
        ).json()
        (order,) = http.post(
            f"{odoo.url}/json/2/sale.order/create",
            json={"vals_list": [{"partner_id": partner}]},
            headers=headers,
        ).json()
        link = views.odoo_link(_odoo(odoo.url, protocol="json2"), "sale.order", order)
        assert link is not None
        page = http.get(link)
        assert page.status_code == 200 and "Tower Test Customer" in page.text
        # The legacy form reaches the server as /web, whose page rewrites the fragment.
        legacy = views.odoo_link(_odoo(odoo.url), "sale.order", order)
        assert legacy is not None
        assert "location.replace('/odoo/'" in http.get(legacy.split("#")[0]).text
