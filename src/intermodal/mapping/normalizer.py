"""The hub's normalizer: each partner's mapping, or canonical CloudEvents when it has none.

Mappings are re-read when their file changes, so fixing a mapping and replaying the
quarantined messages needs no restart. A changed file that no longer loads is logged and
the last good version stays in use: a half-saved edit must not quarantine live traffic.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from intermodal.config import Settings
from intermodal.edi.errors import Mode
from intermodal.engine.normalize import Normalized, canonical
from intermodal.mapping.spec import Mapping, MappingError, load_mapping

log = logging.getLogger(__name__)

CANONICAL_CHANNELS = frozenset({"batch", "document"})
"""Channels whose messages are canonical by contract: the `/v1/events` batch API, and the
events the hub read from a partner's document (foresight/documents_reader.py)."""


@dataclass
class _Loaded:
    mapping: Mapping
    mtime_ns: int


class MappingNormalizer:
    """`Normalizer` for `Applier(normalize=...)`: per-partner mappings, canonical fallback."""

    def __init__(self, settings: Settings) -> None:
        self._files: dict[str, tuple[Path, Mode]] = {}
        for name, partner in settings.partners.items():
            if partner.mapping is not None:
                mode: Mode = partner.edi.mode if partner.edi is not None else "reject"
                self._files[name] = (partner.mapping, mode)
        self._loaded: dict[str, _Loaded] = {}
        self._lock = threading.Lock()
        for name in self._files:  # a broken mapping stops the hub at start, not later
            self._load(name, strict=True)

    def mapping(self, partner: str) -> Mapping | None:
        """The partner's current mapping (re-read if its file changed), or None."""
        if partner not in self._files:
            return None
        return self._load(partner, strict=False)

    def _load(self, partner: str, strict: bool) -> Mapping:
        path, mode = self._files[partner]
        with self._lock:
            loaded = self._loaded.get(partner)
            try:
                mtime = path.stat().st_mtime_ns
            except OSError:
                if loaded is None or strict:
                    raise MappingError([f"cannot read {path}"]) from None
                return loaded.mapping
            if loaded is not None and loaded.mtime_ns == mtime:
                return loaded.mapping
            try:
                mapping = load_mapping(path, partner, mode)
            except MappingError:
                if loaded is None or strict:
                    raise
                log.exception("mapping of partner %s changed but does not load", partner)
                loaded.mtime_ns = mtime  # log once per change, keep the last good one
                return loaded.mapping
            self._loaded[partner] = _Loaded(mapping, mtime)
            return mapping

    def __call__(self, partner: str, channel: str, content_type: str, body: bytes) -> Normalized:
        mapping = None if channel in CANONICAL_CHANNELS else self.mapping(partner)
        if mapping is None:
            return canonical(partner, channel, content_type, body)
        return mapping.normalize(body)
