"""Observability: structured logs (with PII redaction), and later metrics and traces."""
