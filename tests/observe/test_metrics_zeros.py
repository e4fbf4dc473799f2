"""A fresh hub exports its backlogs as zeros, one series per configured endpoint.

An alert such as `intermodal_dead_letters > 0` and a dashboard panel need the series to
exist before anything goes wrong; a missing series reads as "no data", not as zero.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from intermodal.config import Settings
from intermodal_sim.testing import running_hub
from tests.conftest import ADMIN, ADMIN_TOKEN_REF, new_secret

BACKLOGS = ("intermodal_outbox_pending", "intermodal_outbox_retrying", "intermodal_dead_letters")


def test_a_fresh_hub_exports_zero_backlogs_for_every_configured_endpoint(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    settings = make_settings(
        {
            "hub": {"database": sqlite_url, "admin_token": ADMIN_TOKEN_REF},
            "partners": {"acme": {"webhook_secrets": ["env:ACME_S"]}},
            "endpoints": {
                "portal": {"url": "http://127.0.0.1:9/hooks"},
                "tms-tenders": {"kind": "edi", "url": "http://127.0.0.1:9/edi", "milestones": []},
            },
        },
        env={"ACME_S": new_secret()},
    )
    with running_hub(settings) as url:
        text = httpx.get(f"{url}/metrics", headers=ADMIN).text
    samples = {
        family.name: {tuple(sorted(s.labels.items())): s.value for s in family.samples}
        for family in text_string_to_metric_families(text)
    }
    expected = {(("endpoint", "portal"),): 0.0, (("endpoint", "tms-tenders"),): 0.0}
    for name in BACKLOGS:
        assert samples.get(name) == expected, name
