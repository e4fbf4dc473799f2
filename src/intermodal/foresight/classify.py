"""Carriers' free-text exception reasons -> the case kind, its owner and a next step.

A carrier's exception reaches the hub as a milestone (`exception`, `delivery_failed`,
`customs_hold`) with a `reason`: the text of its JSON description, an EDIFACT FTX, or an
X12 214's AT7 codes (AT701 status, AT702 reason) that the partner's mapping turned into
words or, when its `reasons:` table lacks the code, left as the bare code. The exceptions
flow opens a case of the milestone's kind; this module suggests what the case really is.

Two deciders, the better one used:

- **Rules** (`rules`): the X12 code tables (element 1650, shipment status, and 1651, status
  reason; https://www.stedi.com/edi/x12-005010/element/1651 and .../x12-004030/element/1650)
  for texts that are codes, then keyword rules in a fixed order (customs before damage: a
  missing commercial invoice is a customs matter), then the case's own kind.
- **A learned model** (`train`): TF-IDF of words and of character n-grams (typos and other
  spellings of a word share most of their n-grams) into a logistic regression, trained on
  the cases people closed with a final kind (the tower's close form). A fixed share of them
  (by case id, so the same cases each time) is held out; the model decides only when its
  accuracy there beats the rules' on the same cases by `classify.margin`. Otherwise the
  rules go on deciding, and the training is recorded all the same (`classifier_models`).
  Even then, where the model is less sure than `classify.min_confidence` and a code or
  keyword rule matched, the rule decides: the model knows the wordings it was trained on,
  the rules were written for the ones it has not seen (bench/classify.py measures both).

The suggestion is written beside the case (`case_classifications`), with the rule or model
that decided; the case keeps the kind its flow gave it. `ExceptionClassifier` is the
leader's job: every `interval_seconds` it classifies the open cases that have no suggestion
yet, and every `retrain_hours` it trains again. A model is not stored: its training row
says which closed cases it learnt from, so a new leader trains the same model again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, and_, select

from intermodal.config import ClassifyConfig, Settings
from intermodal.engine.ids import iso, sortable_id, utcnow
from intermodal.store import Store
from intermodal.store.store import rows_in
from intermodal.store.tables import case_classifications, cases, classifier_models
from intermodal.workflows.vocabulary import DEFAULT_TEAMS

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)

_FALLBACK = "rule:case-kind"
MAX_TEXT = 4000
"""A reason longer than the canonical model's LongText is cut there before it is read."""


@dataclass(frozen=True)
class Cause:
    kind: str
    next_step: str


CAUSES: dict[str, Cause] = {
    "consignee_unavailable": Cause(
        "delivery_failed", "Agree a new delivery date or window with the consignee."
    ),
    "address": Cause(
        "delivery_failed",
        "Confirm the delivery address with the customer and send the correction to the carrier.",
    ),
    "refused": Cause(
        "delivery_failed",
        "Ask the customer why the consignee refused it; arrange a return or a new delivery.",
    ),
    "closed": Cause("delivery_failed", "Book a delivery when the consignee is open."),
    "damage": Cause(
        "carrier_exception", "Ask the carrier for photos and a damage report; open a claim."
    ),
    "lost": Cause(
        "carrier_exception", "Ask the carrier to trace the shipment; open a claim if not found."
    ),
    "equipment": Cause(
        "carrier_exception", "Ask the carrier for its recovery plan (truck, driver) and a new ETA."
    ),
    "accident": Cause(
        "carrier_exception", "Ask the carrier about the goods' condition and a recovery plan."
    ),
    "weather": Cause(
        "carrier_exception", "Tell the customer of the delay; ask the carrier for a new ETA."
    ),
    "missort": Cause("carrier_exception", "Ask the carrier to reroute it and for a new ETA."),
    "customs_documents": Cause(
        "customs_hold",
        "Send the broker the missing documents (commercial invoice, packing list, certificates).",
    ),
    "customs_duties": Cause(
        "customs_hold", "Arrange the duties and taxes with the importer of record."
    ),
    "customs_inspection": Cause(
        "customs_hold", "Ask the broker what customs need; keep the customer informed."
    ),
    "payment": Cause(
        "billing_dispute", "Check the account's payment terms and credit; release the hold."
    ),
    "charges": Cause(
        "billing_dispute", "Compare the carrier's charges with the quote; dispute the difference."
    ),
    "missed_pickup": Cause("sla_breach", "Book the pick-up again at the earliest slot."),
    "delay": Cause(
        "sla_breach", "Tell the customer the new delivery date; ask the carrier for a new ETA."
    ),
}
KIND_STEPS: dict[str, str] = {
    "delivery_failed": "Agree the next delivery attempt with the consignee and the carrier.",
    "carrier_exception": "Ask the carrier what happened and for a new ETA.",
    "customs_hold": "Ask the broker what customs need to release it.",
    "billing_dispute": "Check the charges and payment terms with the carrier and customer.",
    "sla_breach": "Tell the customer of the delay; ask the carrier for a new ETA.",
    "no_rate": "Enter the missing exchange rate in Odoo.",
    "anomaly": "Look at the partner's or lane's recent messages.",
}

# X12 element 1651, shipment status or appointment reason (AT702), the codes that name a
# cause. NS (normal status) names none.
AT7_REASONS: dict[str, str] = {
    "A1": "consignee_unavailable",  # missed delivery
    "A2": "address",  # incorrect address
    "A5": "lost",  # unable to locate
    "A6": "address",  # address corrected - delivery attempted
    "AA": "missort",  # mis-sort
    "AD": "consignee_unavailable",  # customer requested future delivery
    "AF": "accident",  # accident
    "AG": "consignee_unavailable",  # consignee related
    "AH": "equipment",  # driver related
    "AI": "equipment",  # mechanical breakdown
    "AJ": "delay",  # other carrier related
    "AK": "damage",  # damaged, rewrapped in hub
    "AN": "closed",  # holiday - closed
    "AO": "weather",  # weather or natural disaster related
    "AP": "customs_documents",  # awaiting export
    "AQ": "consignee_unavailable",  # recipient unavailable - delivery delayed
    "AR": "customs_documents",  # improper international paperwork
    "AS": "customs_documents",  # hold due to customs documentation problems
    "AT": "customs_inspection",  # unable to contact recipient for broker information
    "AU": "delay",  # civil event related delay
    "AW": "delay",  # past cut-off time
    "AX": "missed_pickup",  # insufficient pick-up time
    "AY": "missed_pickup",  # missed pick-up
    "B1": "closed",  # consignee closed
    "B4": "payment",  # held for payment
    "B5": "consignee_unavailable",  # held for consignee
    "BB": "delay",  # held per shipper
    "BC": "customs_documents",  # missing documents
    "BD": "customs_inspection",  # border clearance
    "BE": "weather",  # road conditions
    "BH": "delay",  # insufficient time to complete delivery
    "BN": "payment",  # failed to release billing
    "BO": "delay",  # railroad failed to meet schedule
    "BP": "damage",  # load shifted
    "BR": "accident",  # train derailment
    "BS": "refused",  # refused by customer
    "BT": "refused",  # returned to shipper
    "C2": "payment",  # credit hold
    "C8": "payment",  # collect on delivery required
    "C9": "payment",  # cash not available from consignee
    "CA": "customs_inspection",  # customs (import or export)
    "D1": "delay",  # carrier dispatch error
    "D2": "equipment",  # driver not available
    "F1": "customs_inspection",  # non-express clearance delay
}
# X12 element 1650, shipment status (AT701), the exception statuses.
AT7_STATUSES: dict[str, str] = {
    "A3": "refused",  # shipment returned to shipper
    "A7": "refused",  # refused by consignee
    "A9": "damage",  # shipment damaged
    "AH": "consignee_unavailable",  # attempted delivery
    "AP": "consignee_unavailable",  # delivery not completed
    "PR": "customs_inspection",  # U.S. customs hold at in-bond location
    "SD": "delay",  # shipment delayed
}
_CODE = r"[A-Z0-9]{2}"
_CODES = re.compile(
    rf"^(?:AT7\s*[*:+\s]\s*)?(?P<first>{_CODE})(?:\s*[*/:+]\s*(?P<second>{_CODE}))?"
    r"(?:\s*(?:[-:=]|$).*|(?<=[0-9])\s.*|(?<=[0-9][A-Z0-9])\s.*)?$",
    re.DOTALL,
)
"""A text that is codes: `AS`, `SD*AO`, `AT7*A9*NS`, `A1 - Missed Delivery`, and a code with
a digit followed by words (`B4 held for payment`). Two letters followed by words are read
as words (`AT the depot`), not as a code."""
_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # (cause, the word beginnings that name it); tried in this order, the first one wins
    ("customs_duties", (r"dut(y|ies)\b", "import tax", r"vat\b", r"tax(es)? (due|unpaid)")),
    (
        "customs_documents",
        (
            "paperwork", "commercial invoice", "packing list", "certificate of origin",
            r"export licen[cs]e", r"(missing|incomplete|incorrect|invalid) (customs )?doc",
        ),
    ),
    ("customs_inspection", (r"customs?\b", "clearance", "border", r"in-?bond", "broker",
                            "inspection")),
    (
        "payment",
        (
            "held for payment", "credit hold", r"c\.?o\.?d\b", "cash on delivery",
            "collect on delivery", r"payment (required|due|pending)", "unpaid",
        ),
    ),
    (
        "charges",
        (
            r"(rate|charges?|invoice|accessorial|billing)\b.{0,40}\b(dispute|discrepan|differ"
            r"|incorrect|wrong|over)",
            "overcharg", r"billing (error|issue)",
        ),
    ),
    ("refused", ("refus", "rejected by", r"declined by (the )?(consignee|recipient|customer)")),
    ("address", (r"addr(ess)?\b", "undeliverable as addressed", r"wrong (street|house)")),
    ("closed", (r"closed\b", r"holiday\b")),
    (
        "consignee_unavailable",
        (
            r"not (at )?(home|available|in|present)\b", "unavailable", "no one", "nobody",
            "absent", "no answer", "not reachable", "attempted",
        ),
    ),
    ("damage", ("damag", "crush", "broken", "leak", r"wet\b", "torn", "dent", "rewrap",
                "load shift")),
    (
        "lost",
        (
            r"lost\b", "cannot be located", "unable to locate", r"not found\b",
            r"missing (parcel|package|pallet|shipment|freight)", "trace",
        ),
    ),
    ("accident", ("accident", "collision", "crash", "derail")),
    (
        "equipment",
        (
            r"break ?down", "mechanical", r"flat (tyre|tire)", "engine", r"truck (fail|broke)",
            "equipment failure", r"driver (sick|unavailable|not available)",
        ),
    ),
    (
        "weather",
        (
            "weather", "storm", "snow", "flood", "hurricane", "typhoon", "blizzard", r"icy\b",
            r"fog\b", "natural disaster", "road condition",
        ),
    ),
    ("missort", (r"mis-?sort", r"mis-?rout", "missent", r"wrong (hub|terminal|depot)")),
    ("missed_pickup", (r"missed pick-? ?up", r"pick-? ?up (missed|not made|failed)",
                       "not picked up")),
    (
        "delay",
        (
            "delay", r"late\b", "behind schedule", r"missed (cut-?off|connection|departure)",
            r"will not (meet|make)", "reschedul", "congestion",
        ),
    ),
)  # fmt: skip
KEYWORD_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (cause, re.compile(r"\b(?:" + "|".join(words) + ")")) for cause, words in _KEYWORDS
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]+")
_SPACES = re.compile(r"\s+")


def clean(text: object) -> str:
    """A reason as the deciders read it: text (anything else reads as nothing), cut at
    `MAX_TEXT`, Unicode-normalised (NFKC: full-width letters and ligatures as plain ones),
    control and invisible formatting characters as spaces, runs of space as one."""
    if not isinstance(text, str):
        return ""
    text = unicodedata.normalize("NFKC", text[:MAX_TEXT])
    return _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()[:MAX_TEXT]


@dataclass(frozen=True)
class ExceptionText:
    """What is known of a case's exception: its text and where it came from."""

    text: str
    milestone: str = ""
    partner: str = ""
    case_kind: str = ""


@dataclass(frozen=True)
class Suggestion:
    kind: str
    cause: str
    next_step: str
    decided_by: str
    """`rule:at7:<code>`, `rule:keyword:<cause>`, `rule:case-kind` or `model:<model id>`."""
    confidence: float


def rules(item: ExceptionText, labels: Sequence[str]) -> Suggestion:
    """The rules' decision: code tables, then keywords, then the case's own kind."""
    text = clean(item.text)
    match = _CODES.match(text)
    if match is not None:
        first, second = match["first"], match["second"]
        for code, table, name in (
            (second, AT7_REASONS, "at7"),
            (first, AT7_REASONS, "at7"),
            (first, AT7_STATUSES, "at7-status"),
        ):
            cause = table.get(code or "")
            if cause is not None and CAUSES[cause].kind in labels:
                return Suggestion(
                    CAUSES[cause].kind, cause, CAUSES[cause].next_step, f"rule:{name}:{code}", 0.9
                )
    lowered = text.casefold()
    for cause, pattern in KEYWORD_RULES:
        if CAUSES[cause].kind in labels and pattern.search(lowered):
            return Suggestion(
                CAUSES[cause].kind, cause, CAUSES[cause].next_step, f"rule:keyword:{cause}", 0.7
            )
    kind = item.case_kind if item.case_kind in labels else "carrier_exception"
    if kind not in labels:
        kind = labels[0]
    return Suggestion(kind, "other", KIND_STEPS.get(kind, ""), _FALLBACK, 0.3)


def features(item: ExceptionText) -> str:
    """The model's input: the milestone and partner as tokens of their own, then the text."""
    milestone = re.sub(r"\W", "_", item.milestone)[:32]
    partner = re.sub(r"\W", "_", item.partner)[:64]
    return f"zzm{milestone} zzp{partner} {clean(item.text)}"


# -- the learned model ----------------------------------------------------------------------
@dataclass
class TextModel:
    """A fitted TF-IDF + logistic regression pipeline and the labels it chooses from."""

    pipeline: Pipeline
    labels: list[str]
    model_id: str = ""

    def predict(self, items: Sequence[ExceptionText]) -> list[tuple[str, float]]:
        if not items:
            return []
        with _one_thread():
            probabilities = self.pipeline.predict_proba([features(i) for i in items])
        classes = [str(c) for c in self.pipeline.classes_]
        out = []
        for row in probabilities:
            best = int(row.argmax())
            out.append((classes[best], float(row[best])))
        return out


def train(items: Sequence[ExceptionText], labels: Sequence[str], seed: int = 0) -> TextModel:
    """Fit the model on `items`, each labelled by its `case_kind` (the final kind)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    if len({i.case_kind for i in items}) < 2:
        raise ValueError("the training cases have fewer than two kinds")
    union = FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2,
                    max_features=200_000,
                ),
            ),
        ]
    )  # fmt: skip
    pipeline = Pipeline(
        [
            ("features", union),
            ("model", LogisticRegression(C=10.0, max_iter=2000, random_state=seed)),
        ]
    )
    with _one_thread():
        pipeline.fit([features(i) for i in items], [i.case_kind for i in items])
    return TextModel(pipeline, list(labels))


@contextmanager
def _one_thread() -> Iterator[None]:
    """BLAS on one thread: the model is small, and a BLAS pool on every core fought the
    hub's own threads for them (a training took 3 s instead of 0.25 s on a busy 2-core
    machine)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def held_out(case_id: str, fraction: float) -> bool:
    """Whether a case is in the held-out share: by a hash of its id, so the same cases are
    held out at every training and a case never moves between the two sides."""
    digest = hashlib.sha256(case_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


@dataclass
class Training:
    model: TextModel | None
    model_accuracy: float
    rules_accuracy: float
    cases: int
    holdout: int
    active: bool


def compare(examples: Sequence[tuple[str, ExceptionText]], config: ClassifyConfig) -> Training:
    """Train on the cases not held out, and measure the model and the rules on those held
    out. `examples` are (case id, exception labelled with its final kind)."""
    labels = list(config.labels)
    train_set = [e for cid, e in examples if not held_out(cid, config.holdout_fraction)]
    test_set = [e for cid, e in examples if held_out(cid, config.holdout_fraction)]
    rules_hits = sum(rules(_unlabelled(e), labels).kind == e.case_kind for e in test_set)
    rules_accuracy = rules_hits / len(test_set) if test_set else 0.0
    if len(train_set) < config.min_training_cases or not test_set:
        return Training(None, 0.0, rules_accuracy, len(train_set), len(test_set), False)
    try:
        model = train(train_set, labels)
    except ValueError:
        return Training(None, 0.0, rules_accuracy, len(train_set), len(test_set), False)
    unlabelled = [_unlabelled(e) for e in test_set]
    predicted = decide(unlabelled, labels, model, config.min_confidence)
    hits = sum(p.kind == e.case_kind for p, e in zip(predicted, test_set, strict=True))
    accuracy = hits / len(test_set)
    active = accuracy > rules_accuracy + config.margin
    return Training(model, accuracy, rules_accuracy, len(train_set), len(test_set), active)


def _unlabelled(item: ExceptionText) -> ExceptionText:
    """What the deciders see of a training case: its text, milestone and partner, and the
    kind its flow opened it as (not the final kind a person gave it)."""
    return ExceptionText(item.text, item.milestone, item.partner, _opened_as(item))


def _opened_as(item: ExceptionText) -> str:
    return {"delivery_failed": "delivery_failed", "customs_hold": "customs_hold"}.get(
        item.milestone, "carrier_exception"
    )


def decide(
    items: Sequence[ExceptionText],
    labels: Sequence[str],
    model: TextModel | None,
    min_confidence: float = 0.9,
) -> list[Suggestion]:
    """The model's kind when one decides (with the rules' cause and next step when they
    agree on the kind), else the rules'. Where the model is less sure than
    `min_confidence` and a code or keyword rule matched, the rule decides."""
    by_rules = [rules(i, labels) for i in items]
    if model is None:
        return by_rules
    out = []
    for ruled, (kind, confidence) in zip(by_rules, model.predict(items), strict=True):
        if confidence < min_confidence and ruled.decided_by != _FALLBACK:
            out.append(ruled)
            continue
        if ruled.kind == kind:
            cause, step = ruled.cause, ruled.next_step
        else:
            cause, step = "other", KIND_STEPS.get(kind, "")
        out.append(Suggestion(kind, cause, step, f"model:{model.model_id}", confidence))
    return out


# -- reading cases --------------------------------------------------------------------------
def exception_of(kind: str, detail: str | None) -> ExceptionText:
    """A case's exception from its `detail` (what the flow that opened it recorded)."""
    try:
        value = orjson.loads(detail or "{}")
    except orjson.JSONDecodeError:
        value = {}
    if not isinstance(value, dict):
        value = {}
    data = value.get("data") if isinstance(value.get("data"), dict) else {}
    assert isinstance(data, dict)
    milestone = data.get("milestone") if isinstance(data.get("milestone"), str) else ""
    partner = value.get("partner") if isinstance(value.get("partner"), str) else ""
    return ExceptionText(clean(data.get("reason")), str(milestone), str(partner), kind)


def training_examples(
    conn: Connection, config: ClassifyConfig, until: str | None = None
) -> list[tuple[str, ExceptionText]]:
    """Cases a person closed with a final kind among the labels (closed up to `until`),
    the newest `max_training_cases`, labelled with that final kind."""
    query = select(
        cases.c.case_id, cases.c.kind, cases.c.final_kind, cases.c.detail, cases.c.closed_at
    ).where(
        cases.c.status == "closed",
        cases.c.final_kind.in_(list(config.labels)),
        cases.c.kind.in_(list(config.kinds)),
    )
    if until is not None:
        query = query.where(cases.c.closed_at <= until)
    rows = conn.execute(
        query.order_by(cases.c.closed_at.desc(), cases.c.case_id.desc()).limit(
            config.max_training_cases
        )
    ).all()
    out = []
    for row in reversed(rows):
        seen = exception_of(row.kind, row.detail)
        out.append(
            (row.case_id, ExceptionText(seen.text, seen.milestone, seen.partner, row.final_kind))
        )
    return out


def suggestions(conn: Connection, case_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The suggestions for these cases, by case id, for the tower."""
    found = {}
    for row in rows_in(conn, select(case_classifications), case_classifications.c.case_id,
                       list(case_ids)):  # fmt: skip
        found[row.case_id] = {
            "kind": row.kind,
            "cause": row.cause,
            "team": row.team,
            "next_step": row.next_step,
            "decided_by": row.decided_by,
            "confidence": row.confidence,
        }
    return found


# -- the leader's job -----------------------------------------------------------------------
@dataclass
class ClassifyPass:
    classified: int
    trained: Training | None


class ExceptionClassifier:
    """Suggests a kind, owner and next step for each new exception case (leader only)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        if settings.foresight is None:
            raise ValueError("the configuration has no `foresight` section")
        self.store = store
        self.config = settings.foresight.classify
        workflows = settings.workflows
        self.teams = {str(k): v for k, v in (workflows.teams if workflows else {}).items()}
        self.model: TextModel | None = None
        self.trained_at: datetime | None = None
        self._loaded = False

    def team(self, kind: str) -> str:
        return self.teams.get(kind) or DEFAULT_TEAMS.get(kind, "operations")

    def load(self) -> None:
        """Train again the model of the newest training, from the same closed cases."""
        self._loaded = True
        with self.store.read() as conn:
            row = conn.execute(
                select(classifier_models).order_by(classifier_models.c.seq.desc()).limit(1)
            ).first()
            if row is None:
                return
            self.trained_at = datetime.fromisoformat(row.trained_at)
            if not row.active:
                return
            examples = training_examples(conn, self.config, row.trained_until)
        result = compare(examples, self.config)
        if result.model is not None:
            result.model.model_id = row.model_id
            self.model = result.model

    def retrain(self, now: datetime) -> Training:
        with self.store.read() as conn:
            examples = training_examples(conn, self.config)
            until = conn.execute(
                select(cases.c.closed_at)
                .where(cases.c.status == "closed", cases.c.final_kind.is_not(None))
                .order_by(cases.c.closed_at.desc())
                .limit(1)
            ).scalar()
        result = compare(examples, self.config)
        model_id = sortable_id("clf")
        with self.store.write() as conn:
            conn.execute(
                classifier_models.insert().values(
                    model_id=model_id,
                    trained_at=iso(now),
                    trained_until=until or iso(now),
                    cases=result.cases,
                    holdout=result.holdout,
                    model_accuracy=result.model_accuracy,
                    rules_accuracy=result.rules_accuracy,
                    active=int(result.active),
                    labels=orjson.dumps(list(self.config.labels)).decode(),
                )
            )
        if result.model is not None:
            result.model.model_id = model_id
        self.model = result.model if result.active else None
        self.trained_at = now
        log.info(
            "exception classifier trained on %d cases: model %.3f, rules %.3f on %d held out;"
            " %s decides",
            result.cases,
            result.model_accuracy,
            result.rules_accuracy,
            result.holdout,
            "the model" if result.active else "the rules",
        )
        return result

    def due(self, now: datetime) -> bool:
        if self.trained_at is None:
            return True
        return now - self.trained_at >= timedelta(hours=self.config.retrain_hours)

    def classify_open(self, now: datetime, batch: int = 500) -> int:
        """Suggest for the open cases of the configured kinds that have none yet."""
        with self.store.read() as conn:
            rows = conn.execute(
                select(cases.c.case_id, cases.c.kind, cases.c.detail)
                .select_from(
                    cases.outerjoin(
                        case_classifications,
                        and_(case_classifications.c.case_id == cases.c.case_id),
                    )
                )
                .where(
                    cases.c.status == "open",
                    cases.c.kind.in_(list(self.config.kinds)),
                    case_classifications.c.case_id.is_(None),
                )
                .order_by(cases.c.seq)
                .limit(batch)
            ).all()
        if not rows:
            return 0
        items = [exception_of(r.kind, r.detail) for r in rows]
        decided = decide(items, self.config.labels, self.model, self.config.min_confidence)
        insert = self.store.insert_ignoring(case_classifications, ["case_id"])
        values = [
            {
                "case_id": row.case_id,
                "kind": s.kind,
                "cause": s.cause,
                "team": self.team(s.kind),
                "next_step": s.next_step,
                "decided_by": s.decided_by[:128],
                "confidence": round(s.confidence, 4),
                "classified_at": iso(now),
            }
            for row, s in zip(rows, decided, strict=True)
        ]
        with self.store.write() as conn:
            self.store.execute_many(conn, insert, values)
        return len(values)

    def run_once(self, now: datetime | None = None) -> ClassifyPass:
        now = now or utcnow()
        if not self._loaded:
            self.load()
        # Without scikit-learn (the `foresight` extra) the rules decide alone.
        learns = find_spec("sklearn") is not None
        trained = self.retrain(now) if learns and self.due(now) else None
        classified = 0
        while (count := self.classify_open(now)) > 0:
            classified += count
            if count < 500:
                break
        return ClassifyPass(classified, trained)

    async def run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:
                log.exception(
                    "exception classification failed; next try in %ss",
                    self.config.interval_seconds,
                )
            await asyncio.sleep(self.config.interval_seconds)


def classify_texts(
    texts: Iterable[str], labels: Sequence[str], model: TextModel | None = None
) -> list[Suggestion]:
    """Suggestions for bare texts (no case around them), e.g. from a shell."""
    return decide([ExceptionText(t) for t in texts], labels, model)
