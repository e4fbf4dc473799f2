"""Observe (step 7 of the spine): what the hub is doing, seen from outside.

`metrics` (Prometheus: counters on the hot path, gauges computed at scrape time), `logs`
(structured JSON with correlation ids and personal data redacted), `traces`
(OpenTelemetry spans from ingress to the Odoo call) and `memory` (keeping the resident
set flat after bursts). The audit chain lives in `security/audit.py`.
"""
