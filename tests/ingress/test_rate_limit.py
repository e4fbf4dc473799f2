"""Per-partner rate limits on ingress: the token bucket's promise as a property, and the
429 with Retry-After through a running hub on all three routes (webhooks, batches, EDI),
while a partner without a limit, and the limited partner's budget, are left alone by
requests that fail authentication."""

from __future__ import annotations

import math
import time
import timeit
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from intermodal.config import Settings
from intermodal.ingress.rate_limit import RateLimits, TokenBucket
from intermodal.ingress.signatures import sign
from intermodal.observe.metrics import Metrics
from intermodal.security.secrets import Secret, webhook_key
from intermodal_sim.testing import running_hub
from tests.conftest import ADMIN, ADMIN_TOKEN_REF, new_secret

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "partners"
TOKEN = "acme-batch-token-0123456789abcdef"
X12 = (EXAMPLES / "ridgeline" / "sample_214.x12").read_bytes()


# -- the bucket ------------------------------------------------------------------------------


@given(
    rate=st.floats(min_value=0.5, max_value=1000),
    capacity=st.integers(min_value=1, max_value=50),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=300),
)
def test_no_window_admits_more_than_burst_plus_rate_times_its_length(
    rate: float, capacity: int, gaps: list[float]
) -> None:
    bucket = TokenBucket(rate, capacity, now=0.0)
    now, admitted = 0.0, []
    for gap in gaps:
        now += gap
        if bucket.take(now) == 0.0:
            admitted.append(now)
    for i, start in enumerate(admitted):
        for j in range(i, len(admitted)):
            span = admitted[j] - start
            assert j - i + 1 <= capacity + rate * span + 1e-6


@given(
    rate=st.floats(min_value=0.5, max_value=1000),
    capacity=st.integers(min_value=1, max_value=50),
    gaps=st.lists(st.floats(min_value=0, max_value=0.01), min_size=1, max_size=200),
)
def test_the_wait_it_names_is_when_a_request_is_taken_again(
    rate: float, capacity: int, gaps: list[float]
) -> None:
    """A refused sender that waits what it was told is taken: Retry-After is honest."""
    bucket = TokenBucket(rate, capacity, now=0.0)
    now = 0.0
    for gap in gaps:
        now += gap
        wait = bucket.take(now)
        if wait:
            assert wait <= 1 / rate + 1e-9
            assert bucket.take(now + wait + 1e-9) == 0.0
            return
    # never refused: then no more than the burst plus the refill was asked for
    assert len(gaps) <= capacity + rate * now + 1e-6


def test_a_quiet_partner_gets_its_whole_burst_and_no_more() -> None:
    bucket = TokenBucket(rate=10, capacity=5, now=0.0)
    assert [bucket.take(100.0) for _ in range(5)] == [0.0] * 5  # idle for long: still 5
    assert bucket.take(100.0) == pytest.approx(0.1)


def test_the_check_costs_well_under_a_microsecond(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    """It runs on every webhook: the CPU time of a call (the cheapest of many short
    rounds, timed by this thread's own clock, so that neither a busy machine's other
    processes nor a preemption count) is far below 1 us for a partner with and without a
    limit."""
    settings = make_settings(
        {
            "hub": {"database": sqlite_url},
            "partners": {
                "free": {},
                "limited": {"rate_limit": {"per_second": 1_000_000, "burst": 1_000_000}},
            },
        }
    )
    limits = RateLimits(settings.partners)
    metrics = Metrics()
    for partner in ("free", "limited"):
        rounds = timeit.repeat(
            "check(partner, 'webhook', metrics)",
            globals={"check": limits.check, "partner": partner, "metrics": metrics},
            timer=time.thread_time,
            number=2_000,
            repeat=150,
        )
        per_call = min(rounds) / 2_000
        assert per_call < 0.5e-6, f"{partner}: {per_call * 1e9:.0f} ns per check"


# -- through a running hub -------------------------------------------------------------------


@dataclass
class LimitedHub:
    url: str
    keys: dict[str, bytes]

    def webhook(self, partner: str, msg_id: str, key: bytes | None = None) -> httpx.Response:
        body = orjson.dumps(_event(msg_id))
        ts = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(key or self.keys[partner], msg_id, ts, body),
        }
        return httpx.post(f"{self.url}/v1/webhooks/{partner}", content=body, headers=headers)

    def batch(self, msg_id: str) -> httpx.Response:
        return httpx.post(
            f"{self.url}/v1/events",
            content=orjson.dumps([_event(msg_id)]),
            headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
        )

    def edi(self, control: int) -> httpx.Response:
        body = X12.replace(b"000000214", f"{control:09d}".encode())
        return httpx.post(
            f"{self.url}/v1/edi/acme",
            content=body,
            headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/edi-x12"},
        )


def _event(event_id: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "acme",
        "type": "intermodal.shipment.milestone",
        "subject": "SHP-RL-1",
        "time": "2026-11-29T08:00:00Z",
        "data": {"milestone": "picked_up", "occurred_at": "2026-11-29T08:00:00Z"},
    }


@pytest.fixture
def limited_hub(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings], db_url: str
) -> Iterator[LimitedHub]:
    """acme: 3 requests at once, then one every 2 s (or as the test's parameter says),
    over webhooks, batches and EDI together; other: no limit. Slow rates, so that a busy
    test machine refills no token between requests meant to be refused."""
    per_second = getattr(request, "param", 0.5)
    secrets = {"acme": new_secret(), "other": new_secret()}
    settings = make_settings(
        {
            "hub": {"database": db_url, "admin_token": ADMIN_TOKEN_REF},
            "partners": {
                "acme": {
                    "webhook_secrets": ["env:RL_ACME_SECRET"],
                    "tokens": [{"token": "env:RL_ACME_TOKEN", "scopes": ["events:write"]}],
                    "edi": {"format": "x12", "ack": False},
                    "rate_limit": {"per_second": per_second, "burst": 3},
                },
                "other": {"webhook_secrets": ["env:RL_OTHER_SECRET"]},
            },
        },
        env={
            "RL_ACME_SECRET": secrets["acme"],
            "RL_OTHER_SECRET": secrets["other"],
            "RL_ACME_TOKEN": TOKEN,
        },
    )
    with running_hub(settings) as url:
        yield LimitedHub(url, {name: webhook_key(Secret(s)) for name, s in secrets.items()})


def _refused(answer: httpx.Response) -> float:
    assert answer.status_code == 429, answer.text
    assert answer.json()["error"]["code"] == "rate_limited"
    assert "acme" in answer.json()["error"]["message"]
    return float(answer.headers["retry-after"])


def test_a_partner_over_its_limit_gets_429_and_others_are_not_slowed(
    limited_hub: LimitedHub,
) -> None:
    hub = limited_hub
    answers = [hub.webhook("acme", f"w-{i}").status_code for i in range(3)]
    assert answers == [202, 202, 202]  # the burst
    retry_after = _refused(hub.webhook("acme", "w-3"))
    assert 1 <= retry_after <= 2  # the next token, due within 2 s, in whole seconds
    # another partner, at the same moment, without a limit of its own
    assert [hub.webhook("other", f"o-{i}").status_code for i in range(10)] == [202] * 10
    # a refused webhook was not stored: sent again after Retry-After, it is new (202)
    time.sleep(retry_after)
    assert hub.webhook("acme", "w-3").status_code == 202


@pytest.mark.parametrize("limited_hub", [0.01], indirect=True)
def test_the_budget_is_shared_by_webhooks_batches_and_edi(limited_hub: LimitedHub) -> None:
    hub = limited_hub
    assert hub.webhook("acme", "w-a").status_code == 202
    assert hub.batch("b-a").status_code == 202
    assert hub.edi(300).status_code in (200, 202)
    _refused(hub.batch("b-b"))
    _refused(hub.edi(301))
    _refused(hub.webhook("acme", "w-b"))
    metrics = httpx.get(f"{hub.url}/metrics", headers=ADMIN).text
    for channel in ("webhook", "batch", "edi"):
        line = (
            "intermodal_ingress_messages_total"
            f'{{channel="{channel}",partner="acme",result="rate_limited"}} 1.0'
        )
        assert line in metrics, channel


def test_requests_that_fail_authentication_do_not_spend_the_partner_s_budget(
    limited_hub: LimitedHub,
) -> None:
    """Otherwise anyone could keep a partner out by sending junk in its name."""
    hub = limited_hub
    forged = webhook_key(Secret(new_secret()))
    for i in range(20):
        assert hub.webhook("acme", f"f-{i}", key=forged).status_code == 401
    bad_token = httpx.post(
        f"{hub.url}/v1/events",
        content=b"[]",
        headers={"authorization": "Bearer nope-nope-nope", "content-type": "application/json"},
    )
    assert bad_token.status_code == 401
    assert [hub.webhook("acme", f"g-{i}").status_code for i in range(3)] == [202] * 3


def test_rate_limit_configuration(make_settings: Callable[..., Settings], sqlite_url: str) -> None:
    def partner(limit: Any) -> dict[str, Any]:
        return {"hub": {"database": sqlite_url}, "partners": {"p": {"rate_limit": limit}}}

    settings = make_settings(partner({"per_second": 2.5}))
    limit = settings.partners["p"].rate_limit
    assert limit is not None and limit.capacity == math.ceil(2.5)  # default: a second's worth
    assert make_settings(partner(None)).partners["p"].rate_limit is None
    for bad in (
        {"per_second": 0},
        {"per_second": 5, "burst": 0},
        {"burst": 5},
        {"per_second": 1, "x": 1},
    ):
        with pytest.raises(Exception, match="rate_limit"):
            make_settings(partner(bad))
