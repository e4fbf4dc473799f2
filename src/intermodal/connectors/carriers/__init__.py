"""Carrier connectors: one contract (`contract.py`), one folder per carrier, rate shopping
with health-aware fallback (`shopping.py`), compensations through the outbox (`sink.py`)."""
