"""The claim rule as a state machine: two dispatchers on one PostgreSQL database, their
claims left open (uncommitted) for as long as Hypothesis likes, deliveries succeeding or
failing in any interleaving. Property: every shipment's commands are sent in the order
they were enqueued, each attempt only after every earlier command was delivered.

This is the race the per-subject advisory lock closes: without it, a claim that starts
while another dispatcher's claim of an earlier command is uncommitted takes the later one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Connection, delete

from intermodal.config import Settings
from intermodal.outbox.dispatcher import DeliveryOutcome, Dispatcher
from intermodal.store import Store, open_store
from intermodal.store.tables import dead_letters, outbox
from tests.outbox.helpers import command

SUBJECTS = ["SHP-A", "SHP-B", "SHP-C"]
NODES = [0, 1]


class ClaimOrder(RuleBasedStateMachine):
    stores: list[Store]
    config: Settings

    def __init__(self) -> None:
        super().__init__()
        self.nodes = [Dispatcher(s, self.config, claim_batch=3) for s in self.stores]
        self.open: dict[int, tuple[Connection, Any, list[Any]]] = {}
        self.held: dict[int, list[Any]] = defaultdict(list)
        self.enqueued: dict[str, int] = defaultdict(int)
        self.delivered: dict[str, int] = defaultdict(int)
        """How many of each subject's commands were delivered (they must be its first n)."""

    @initialize()
    def empty(self) -> None:
        with self.stores[0].write() as conn:
            conn.execute(delete(outbox))
            conn.execute(delete(dead_letters))

    @rule(subject=st.sampled_from(SUBJECTS), count=st.integers(1, 3))
    def enqueue(self, subject: str, count: int) -> None:
        first = self.enqueued[subject]
        with self.stores[0].write() as conn:
            from intermodal.outbox.command import enqueue

            enqueue(conn, [command(subject, n) for n in range(first, first + count)])
        self.enqueued[subject] += count

    @precondition(lambda self: len(self.open) < len(NODES))
    @rule(node=st.sampled_from(NODES))
    def begin_claim(self, node: int) -> None:
        """A claim runs up to its commit and stays open there."""
        if node in self.open:
            return
        conn = self.stores[node].engine.connect()
        transaction = conn.begin()
        self.open[node] = (conn, transaction, self.nodes[node]._claim_in(conn))

    @rule(node=st.sampled_from(NODES))
    def commit_claim(self, node: int) -> None:
        if node not in self.open:
            return
        conn, transaction, rows = self.open.pop(node)
        transaction.commit()
        conn.close()
        self.held[node].extend(rows)

    @rule(node=st.sampled_from(NODES), ok=st.booleans(), data=st.data())
    def deliver(self, node: int, ok: bool, data: st.DataObject) -> None:
        """Send the node's earliest held command of one subject; record the outcome as the
        dispatcher does (a failure defers the node's later ones of that subject)."""
        held = self.held[node]
        if not held:
            return
        subjects = sorted({r.subject for r in held})
        subject = data.draw(st.sampled_from(subjects))
        lane = sorted((r for r in held if r.subject == subject), key=lambda r: r.seq)
        row = lane[0]
        n = int(row.command_id.rsplit("_", 1)[1])
        assert n == self.delivered[subject], (
            f"{subject}: command {n} sent while {self.delivered[subject]} was the next due"
        )
        dispatcher = self.nodes[node]
        by_seq = {r.seq: r for r in lane}
        if ok:
            outcomes = [DeliveryOutcome(row.seq, "delivered")]
            self.delivered[subject] += 1
            gone = [row]
        else:
            outcomes = [DeliveryOutcome(r.seq, "retry" if r is row else "deferred") for r in lane]
            gone = lane
        dispatcher._record(by_seq, outcomes)
        self.held[node] = [r for r in held if r not in gone]

    @invariant()
    def nothing_delivered_twice_or_out_of_order(self) -> None:
        for subject, count in self.delivered.items():
            assert count <= self.enqueued[subject]

    def teardown(self) -> None:
        for conn, transaction, _rows in self.open.values():
            transaction.rollback()
            conn.close()


def test_claims_keep_each_shipments_order_across_dispatchers(
    pg_url: str, make_settings: Callable[..., Settings]
) -> None:
    config = make_settings(
        {
            "partners": {},
            "endpoints": {"portal": {"url": "http://127.0.0.1:9/hooks"}},
            "delivery": {"lease_seconds": 600, "backoff_base_seconds": 0.000001},
        }
    )
    stores = [open_store(pg_url), open_store(pg_url)]
    ClaimOrder.stores, ClaimOrder.config = stores, config
    try:
        run_state_machine_as_test(
            ClaimOrder,
            settings=settings(
                max_examples=60,
                stateful_step_count=40,
                deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        for s in stores:
            s.dispose()
