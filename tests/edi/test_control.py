"""Control numbers in the store: increasing, per partner and kind, unique under concurrency,
on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from intermodal.edi.control import LIMITS, ControlNumbers, MemoryControlNumbers, edi_control_numbers
from intermodal.edi.errors import Segment
from intermodal.edi.x12 import Party, build_interchange, generate_x12, parse_x12
from intermodal.store import open_store


def test_numbers_increase_per_partner_and_kind(db_url: str) -> None:
    store = open_store(db_url)
    try:
        numbers = ControlNumbers(store)
        assert [numbers.next("acme", "ISA") for _ in range(3)] == [1, 2, 3]
        assert numbers.next("acme", "GS") == 1
        assert numbers.next("other", "ISA") == 1
        assert numbers.peek("acme", "ISA") == 3
        # a second allocator (another process, a restart) continues where the first stopped
        assert ControlNumbers(store).next("acme", "ISA") == 4
        with store.write() as conn:  # inside the caller's transaction
            assert numbers.next("acme", "ISA", conn) == 5
    finally:
        store.dispose()


def test_concurrent_allocations_never_repeat(db_url: str) -> None:
    store = open_store(db_url)
    try:
        numbers = ControlNumbers(store)
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(lambda _: numbers.next("acme", "ISA"), range(200)))
        assert sorted(got) == list(range(1, 201))
    finally:
        store.dispose()


def test_numbers_wrap_to_one_after_nine_digits(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    try:
        numbers = ControlNumbers(store)
        numbers.next("acme", "ISA")

        with store.write() as conn:
            conn.execute(edi_control_numbers.update().values(last=LIMITS["ISA"] - 1))
        assert [numbers.next("acme", "ISA") for _ in range(3)] == [LIMITS["ISA"], 1, 2]
    finally:
        store.dispose()
    memory = MemoryControlNumbers({("acme", "ISA"): LIMITS["ISA"]})
    assert memory.next("acme", "ISA") == 1


def test_interchanges_built_from_the_store_carry_its_numbers(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    try:
        numbers = ControlNumbers(store)
        body = [Segment.of("B10", "PRO-1", "SHIP-1", "ABCD")]
        docs = [
            build_interchange(
                [("214", body)],
                sender=Party("02", "ABCD"),
                receiver=Party("ZZ", "SHIPPERID"),
                control=numbers,
                partner="acme",
            )
            for _ in range(2)
        ]
        parsed = [parse_x12(generate_x12(d)).interchanges[0] for d in docs]
        assert [p.control_number for p in parsed] == ["000000001", "000000002"]
        assert [p.groups[0].control_number for p in parsed] == ["1", "2"]
    finally:
        store.dispose()
