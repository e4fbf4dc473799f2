"""A store with a test's own tables beside the hub's, for tests of the store's helpers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import MetaData

from intermodal.store import Store, open_store


@contextmanager
def store_with(url: str, meta: MetaData) -> Iterator[Store]:
    """A migrated store at `url` with `meta`'s tables, dropped again afterwards."""
    store = open_store(url)
    meta.create_all(store.engine)
    try:
        yield store
    finally:
        meta.drop_all(store.engine)
        store.dispose()
