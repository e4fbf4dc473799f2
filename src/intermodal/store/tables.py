"""The hub's tables, in SQLAlchemy Core: one schema for SQLite and PostgreSQL.

Timestamps are stored as ISO-8601 UTC text with microseconds and a `Z`
(`intermodal.engine.ids.iso`, the one formatter): they sort the same in both backends,
read the same in a SQL shell, and never lose their zone.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import sqlite

from intermodal.outbox.kinds import INVOICE_COMMAND

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid (and so auto-incrementing).
SeqType = BigInteger().with_variant(sqlite.INTEGER(), "sqlite")
Timestamp = String(40)

inbox = Table(
    "inbox",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("receipt_id", String(40), nullable=False, unique=True),
    Column("partner", String(64), nullable=False),
    Column("message_id", String(256), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("content_type", String(128), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("received_at", Timestamp, nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("processed_at", Timestamp),
    Column("error", Text),
    # The partition of the message's shipment (engine/partitions.py): NULL until known,
    # SPAN (-1) when its events touch shipments of several partitions.
    Column("partition", Integer),
    UniqueConstraint("partner", "message_id"),
    Index(
        "ix_inbox_pending",
        "seq",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
    Index(
        "ix_inbox_pending_partition",
        "partition",
        "seq",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
    Index(
        "ix_inbox_unrouted",
        "seq",
        sqlite_where=text("status = 'pending' AND (partition IS NULL OR partition < 0)"),
        postgresql_where=text("status = 'pending' AND (partition IS NULL OR partition < 0)"),
    ),
)

events = Table(
    "events",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("event_id", String(256), nullable=False),
    Column("partner", String(64), nullable=False),
    Column("source", String(512), nullable=False),
    Column("type", String(64), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("time", Timestamp, nullable=False),
    Column("milestone", String(32)),
    Column("occurred_at", Timestamp),
    Column("meaning_key", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("inbox_seq", BigInteger, nullable=False),
    Column("receipt_id", String(40), nullable=False),
    Column("recorded_at", Timestamp, nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("data", Text, nullable=False),
    Index("ix_events_subject", "subject", "seq"),
    Index("ix_events_receipt", "receipt_id"),
    # Only the first copy of an event is unique; later copies are kept, flagged duplicate.
    Index(
        "ux_events_partner_event",
        "partner",
        "event_id",
        unique=True,
        sqlite_where=text("outcome != 'duplicate'"),
        postgresql_where=text("outcome != 'duplicate'"),
    ),
    Index(
        "ux_events_meaning",
        "meaning_key",
        unique=True,
        sqlite_where=text("outcome != 'duplicate'"),
        postgresql_where=text("outcome != 'duplicate'"),
    ),
)

shipments = Table(
    "shipments",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("state", String(32)),
    Column("state_at", Timestamp),
    Column("main_milestone", String(32)),
    Column("main_at", Timestamp),
    Column("main_event_id", String(256)),
    Column("side_milestone", String(32)),
    Column("side_at", Timestamp),
    Column("side_event_id", String(256)),
    Column("terminal_milestone", String(32)),
    Column("terminal_at", Timestamp),
    Column("terminal_event_id", String(256)),
    Column("document", Text, nullable=False, server_default="{}"),
    Column("events_count", Integer, nullable=False, server_default="0"),
    Column("late_count", Integer, nullable=False, server_default="0"),
    Column("duplicate_count", Integer, nullable=False, server_default="0"),
    Column("violation_count", Integer, nullable=False, server_default="0"),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index("ix_shipments_state", "state"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("command_id", String(80), nullable=False, unique=True),
    Column("endpoint", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("subject", String(128)),
    Column("payload", LargeBinary, nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Timestamp, nullable=False),
    Column("lease_until", Timestamp),
    Column("last_error", Text),
    Column("created_at", Timestamp, nullable=False),
    Column("delivered_at", Timestamp),
    Index(
        "ix_outbox_due",
        "next_attempt_at",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
    # The dispatcher's per-subject order check looks up earlier pending commands here.
    Index(
        "ix_outbox_subject_pending",
        "endpoint",
        "subject",
        "seq",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("command_id", String(80), nullable=False, unique=True),
    Column("endpoint", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("subject", String(128)),
    Column("payload", LargeBinary, nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("created_at", Timestamp, nullable=False),
    Column("dead_at", Timestamp, nullable=False),
    Index("ix_dead_letters_endpoint", "endpoint", "seq"),
    # A dead letter holds its subject's later commands: the claim looks them up here.
    Index("ix_dead_letters_endpoint_subject", "endpoint", "subject"),
)

endpoint_state = Table(
    "endpoint_state",
    metadata,
    # One row per endpoint, shared by every node's dispatcher: the circuit breaker and
    # the rate limit's token bucket. Times are seconds since the epoch (time.time()).
    Column("endpoint", String(64), primary_key=True),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("opened_at", Float),
    Column("tokens", Float, nullable=False, server_default="0"),
    Column("tokens_at", Float, nullable=False, server_default="0"),
)

timers = Table(
    "timers",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("timer_id", String(128), nullable=False, unique=True),
    Column("subject", String(128)),
    Column("kind", String(64), nullable=False),
    Column("due_at", Timestamp, nullable=False),
    Column("payload", Text, nullable=False, server_default="{}"),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("fired_at", Timestamp),
    Index(
        "ix_timers_due",
        "due_at",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
)

# One hash chain per partition (security/audit.py): `chain_seq` numbers a chain's rows
# 1, 2, 3...; `seq` is only a row's address, handed out by the database, so appenders of
# different chains need no common lock.
audit = Table(
    "audit",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("chain", Integer, nullable=False, server_default="0"),
    Column("chain_seq", BigInteger, nullable=False),
    Column("at", Timestamp, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(256)),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_chain_chain_seq", "chain", "chain_seq", unique=True),
)

# Control numbers of outbound EDI interchanges, one row per (partner, kind), bumped by an
# atomic upsert (see intermodal.edi.control).
edi_control_numbers = Table(
    "edi_control_numbers",
    metadata,
    Column("partner", String(200), primary_key=True),
    Column("kind", String(40), primary_key=True),
    Column("last", BigInteger, nullable=False),
)

# Where the Odoo write_date poller has read up to, per partner and model (the record id
# breaks ties between records written in the same second).
odoo_capture_cursors = Table(
    "odoo_capture_cursors",
    metadata,
    Column("partner", String(64), primary_key=True),
    Column("model", String(128), primary_key=True),
    Column("write_date", String(32), nullable=False),
    Column("record_id", Integer, nullable=False),
    Column("updated_at", String(40), nullable=False),
)

# Exception cases: a failed delivery, a carrier exception, a customs hold, an
# SLA breach or a billing dispute, owned by a team, open until its condition clears. The
# case id is stable (subject + kind + what opened it), so a replay never opens a second.
cases = Table(
    "cases",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("case_id", String(80), nullable=False, unique=True),
    Column("subject", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("team", String(64), nullable=False),
    Column("status", String(16), nullable=False, server_default="open"),
    Column("reason", Text, nullable=False, server_default=""),
    Column("opened_at", Timestamp, nullable=False),
    Column("closed_at", Timestamp),
    Column("detail", Text, nullable=False, server_default="{}"),
    # The kind a person closing the case said it really was (the tower's close form,
    # migration 0017): what the exception classifier learns from (foresight/classify.py).
    Column("final_kind", String(32)),
    Index("ix_cases_status_opened", "status", "opened_at"),
    Index("ix_cases_subject", "subject"),
)

# One row per reconciliation run: the figure per category and the full report
# (JSON), so the control tower and `intermodal reconcile` show the same results.
reconciliation_runs = Table(
    "reconciliation_runs",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("run_id", String(40), nullable=False, unique=True),
    Column("started_at", Timestamp, nullable=False),
    Column("finished_at", Timestamp),
    Column("status", String(16), nullable=False, server_default="running"),
    Column("figures", Text, nullable=False, server_default="{}"),
    Column("report", Text, nullable=False, server_default="{}"),
)

# Master data copied from Odoo by the batch sync (intermodal.connectors.odoo.sync): customers and
# carriers (res.partner, delivery.carrier), products, currencies and companies, one row per
# Odoo record. `key` is the record's business key (a reference, code or ISO currency code)
# so that mappings and flows can look a record up without knowing Odoo's ids.
master_data = Table(
    "master_data",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("odoo_id", Integer, primary_key=True, autoincrement=False),
    Column("key", String(256), nullable=False),
    Column("data", Text, nullable=False),
    Column("write_date", String(32), nullable=False),
    Column("synced_at", Timestamp, nullable=False),
    Index("ix_master_data_kind_key", "kind", "key"),
)

# Odoo's currency rates (res.currency.rate): `rate` is how many units of the
# currency one unit of the company currency buys, as of `day`; company_id 0 is a rate Odoo
# keeps for every company. The rate is decimal text so that no backend rounds it.
currency_rates = Table(
    "currency_rates",
    metadata,
    Column("odoo_id", Integer, primary_key=True, autoincrement=False),
    Column("currency", String(3), nullable=False),
    Column("company_id", Integer, nullable=False),
    Column("day", String(10), nullable=False),
    Column("rate", String(40), nullable=False),
    Column("write_date", String(32), nullable=False),
    Column("synced_at", Timestamp, nullable=False),
    Index("ix_currency_rates_lookup", "currency", "company_id", "day"),
)

# Leases (store/leases.py): one holder at a time per name (`leader` for the hub's
# singletons; partitions may take one each). `token` grows by one on every acquisition
# and fences writers that lost the lease; `renewed_at` is the holder's last heartbeat.
leases = Table(
    "leases",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("token", BigInteger, nullable=False),
    Column("acquired_at", Timestamp, nullable=False),
    Column("renewed_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
)

# Bearer tokens the hub issued (`intermodal token new`, security/tokens.py), kept as their
# SHA-256 only: the token itself is shown once and never stored. `customers` is a JSON list
# (NULL: every customer of the partner); `last_used_at` is written at most once a minute.
tokens = Table(
    "tokens",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("partner", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Column("scopes", Text, nullable=False),
    Column("customers", Text),
    Column("label", String(200), nullable=False, server_default=""),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp),
    Column("revoked_at", Timestamp),
    Column("last_used_at", Timestamp),
    Index("ix_tokens_partner", "partner"),
)

# Facts about the database the hub must agree with, e.g. the number of partitions its
# inbox was routed with (engine/partitions.py).
hub_meta = Table(
    "hub_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Control tower sessions (dashboard/auth.py, migration 0014): the cookie holds a random
# id and the store only its SHA-256, so a copy of the database logs nobody in. Ending a
# session deletes its row; `expires_at` is the absolute end, `last_seen_at` the idle one.
tower_sessions = Table(
    "tower_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("user", String(256), nullable=False),
    Column("source", String(16), nullable=False),  # password | oidc
    Column("role", String(16), nullable=False),
    Column("credential", String(64)),  # the password hash's tag (password logins)
    Column("csrf", String(64), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("last_seen_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Index("ix_tower_sessions_user", "user"),
    Index("ix_tower_sessions_expires_at", "expires_at"),
)

# Failed tower logins per account (`user:<sha256 of the name>`) and per client address
# (`addr:<address>`), shared by every worker and node: the back-off holds under
# concurrency because an attempt is counted before its password is checked.
tower_login_failures = Table(
    "tower_login_failures",
    metadata,
    Column("key", String(96), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", Timestamp, nullable=False),
    Column("locked_until", Timestamp),
)

# Indexes for the gauges counted at scrape time (observe/metrics.py,
# migration 0008): a partner's newest inbox message, and the shipments Odoo has an
# invoice for (partial: only those outbox rows are indexed; workflows/billing.py).
_INVOICED = f"kind = '{INVOICE_COMMAND}' AND status = 'delivered'"
Index("ix_inbox_partner_received", inbox.c.partner, inbox.c.received_at)
Index(
    "ix_outbox_invoiced_subject",
    outbox.c.subject,
    sqlite_where=text(_INVOICED),
    postgresql_where=text(_INVOICED),
)

# -- foresight: arrival times (foresight/eta_model.py, foresight/eta_refresh.py; migration 0016)
# One row per training of the arrival-time model: its held-out score against the baseline
# and, when it beat the baseline, the model itself (a pickle, checked by its SHA-256). The
# newest `active` version is the one the ETAs use; `rejected` ones are kept as the record
# of why the baseline goes on.
eta_models = Table(
    "eta_models",
    metadata,
    Column("version", SeqType, primary_key=True, autoincrement=True),
    Column("trained_at", Timestamp, nullable=False),
    Column("status", String(16), nullable=False),  # active | rejected | retired
    Column("reason", Text, nullable=False, server_default=""),
    Column("train_trips", Integer, nullable=False, server_default="0"),
    Column("held_out_trips", Integer, nullable=False, server_default="0"),
    Column("model_mae_min", Float),
    Column("baseline_mae_min", Float),
    Column("metrics", Text, nullable=False, server_default="{}"),
    Column("sklearn_version", String(32), nullable=False),
    Column("model", LargeBinary),
    Column("model_sha256", String(64)),
    Index("ix_eta_models_status", "status", "version"),
)

# Each active shipment's latest arrival times (one row per shipment, written by the leader's
# refresh job, never by the applier): the estimate as JSON, the ETA last sent to Odoo and
# the customers, and the early-warning state (the open predicted_delay case, and how many
# refreshes in a row were over (> 0) or back under (< 0) the deadline).
eta_predictions = Table(
    "eta_predictions",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("computed_at", Timestamp, nullable=False),
    Column("method", String(16)),  # model | baseline; NULL: no ETA (detail says why)
    Column("model_version", BigInteger),
    Column("eta", Timestamp),
    Column("eta_p10", Timestamp),
    Column("eta_p90", Timestamp),
    Column("deadline", Timestamp),
    Column("detail", Text, nullable=False, server_default="{}"),
    Column("published_eta", Timestamp),
    Column("published_at", Timestamp),
    Column("warning_case_id", String(80)),
    Column("warning_streak", Integer, nullable=False, server_default="0"),
    # The first estimate made on the road, with the baseline's beside it: scored against
    # the real arrival when the shipment is delivered (eta_outcomes).
    Column("first_at", Timestamp),
    Column("first_method", String(16)),
    Column("first_eta", Timestamp),
    Column("first_baseline_eta", Timestamp),
    Index("ix_eta_predictions_computed", "computed_at"),
)

# One row per delivered shipment that had an ETA on the road: how far its first on-road
# ETA (by the method then in use) and the baseline's were from the real arrival, and the
# last ETA's error. The tower charts ETA accuracy over time from it; the demo reports it.
eta_outcomes = Table(
    "eta_outcomes",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("delivered_at", Timestamp, nullable=False),
    Column("first_at", Timestamp, nullable=False),
    Column("first_method", String(16)),
    Column("first_eta", Timestamp, nullable=False),
    Column("first_baseline_eta", Timestamp),
    Column("error_min", Float),
    Column("baseline_error_min", Float),
    Column("last_error_min", Float),
    Column("recorded_at", Timestamp, nullable=False),
    Index("ix_eta_outcomes_delivered", "delivered_at"),
)

# -- positions (foresight/positions.py) ------------------------------------------------
# The latest fix per shipment, with what the hub made of that shipment's fixes: `counts`
# (JSON: fixes, latest, tracked, thinned, duplicate, rejected by reason), the suspect fix
# (JSON: a refused jump that a second fix may confirm), the newest track point (`tail`,
# JSON) and the last refusal. `version` guards the row: a writer that decided from an
# older row is refused and its batch decided again. Not a shipment's history: fixes are
# never events, never commands.
positions_latest = Table(
    "positions_latest",
    metadata,
    Column("shipment_key", String(128), primary_key=True),
    Column("recorded_at", Timestamp),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("speed_kmh", Float),
    Column("heading", Float),
    Column("accuracy_m", Float),
    Column("vehicle_id", String(128)),
    Column("partner", String(64)),
    Column("suspect", Text),
    Column("tail", Text),
    Column("track_points", Integer, nullable=False, server_default="0"),
    Column("counts", Text, nullable=False, server_default="{}"),
    Column("last_rejection", Text),
    Column("version", Integer, nullable=False, server_default="0"),
    Column("updated_at", Timestamp, nullable=False),
)

# The thinned track: a point per `track_interval` standing, per `track_distance_km` moving.
positions_track = Table(
    "positions_track",
    metadata,
    Column("shipment_key", String(128), primary_key=True),
    Column("recorded_at", Timestamp, primary_key=True),
    Column("latitude", Float, nullable=False),
    Column("longitude", Float, nullable=False),
    Column("speed_kmh", Float),
    Column("heading", Float),
    Column("accuracy_m", Float),
)

# Which shipment a vehicle carries from when: positions that name only the vehicle
# (`vehicle:<id>` subjects) are filed under the assignment in force at their time.
vehicle_assignments = Table(
    "vehicle_assignments",
    metadata,
    Column("vehicle_id", String(128), primary_key=True),
    Column("assigned_at", Timestamp, primary_key=True),
    Column("shipment_key", String(128), nullable=False),
    Column("until", Timestamp),
    Column("partner", String(64), nullable=False),
    Column("recorded_at", Timestamp, nullable=False),
    Index("ix_vehicle_assignments_shipment_key", "shipment_key"),
)


# -- foresight: anomalies and exception classification (migration 0017) --------------------
# What the anomaly detectors (foresight/anomalies.py) found and still find: one row per
# anomaly (`key`: detector and subject) from the pass that first found it until the pass
# that finds it normal again, naming the case it opened. A person closing that case early
# leaves the row, so the same ongoing anomaly is not raised again until it has cleared.
anomaly_state = Table(
    "anomaly_state",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("detector", String(16), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("case_id", String(80), nullable=False),
    Column("score", Float, nullable=False),
    Column("since", Timestamp, nullable=False),
    Column("last_seen", Timestamp, nullable=False),
)

# The exception classifier's suggestion for a case (foresight/classify.py): the kind, owner
# and next step, and which rule or model decided (`decided_by`: `rule:at7:AS`,
# `rule:keyword:damage`, `model:<id>`). One row per case; the case itself keeps its kind.
case_classifications = Table(
    "case_classifications",
    metadata,
    Column("case_id", String(80), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("cause", String(64), nullable=False),
    Column("team", String(64), nullable=False),
    Column("next_step", Text, nullable=False),
    Column("decided_by", String(128), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("classified_at", Timestamp, nullable=False),
)

# Each training of the exception classifier: the closed cases it learnt from (those with a
# final kind closed up to `trained_until`, so the same model can be trained again from the
# same rows), its held-out accuracy against the rules' on the same cases, and whether it
# decides (`active`: it beat the rules by the configured margin).
classifier_models = Table(
    "classifier_models",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("model_id", String(40), nullable=False, unique=True),
    Column("trained_at", Timestamp, nullable=False),
    Column("trained_until", Timestamp, nullable=False),
    Column("cases", Integer, nullable=False),
    Column("holdout", Integer, nullable=False),
    Column("model_accuracy", Float, nullable=False),
    Column("rules_accuracy", Float, nullable=False),
    Column("active", Integer, nullable=False),
    Column("labels", Text, nullable=False),
)

# Each proof of delivery or freight invoice received (its file is the inbox row of
# `receipt_id`, channel `document`) and its reading: status `received` until the reader
# has read it, then `read`, `unmatched` (no shipment named), `unreadable` or `refused`
# (foresight/documents_reader.py); `result` holds the fields, what could not be read and
# the invoice's match, as JSON.
documents = Table(
    "documents",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("document_id", String(40), nullable=False, unique=True),
    Column("partner", String(64), nullable=False),
    Column("receipt_id", String(40), nullable=False, unique=True),
    Column("message_id", String(256), nullable=False),
    Column("filename", String(256)),
    Column("content_type", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("received_at", Timestamp, nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("status", String(16), nullable=False, server_default="received"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("kind", String(16)),
    Column("method", String(16)),
    Column("confidence", Float),
    Column("shipment_key", String(128)),
    Column("read_at", Timestamp),
    Column("read_seconds", Float),
    Column("result", Text, nullable=False, server_default="{}"),
    Column("error", Text),
    Index("ix_documents_status_seq", "status", "seq"),
    Index("ix_documents_shipment_key", "shipment_key"),
)
