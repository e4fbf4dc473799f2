"""Exception classification: the learned model's accuracy against the rules', same texts.

The texts are the simulator's labelled carrier exceptions (intermodal_sim.exception_texts:
seventeen causes in seven styles, from X12 AT7 codes to German, with typos, abbreviations,
references). Each plays a case a person closed with its final kind. Two held-out sets:

- held-out texts: the classifier's own split (`held_out`, a quarter of the cases by id),
  as the hub measures it before letting the model decide. Wordings repeat across the split,
  as a carrier's do;
- unseen wordings: every text of a quarter of the wordings is held out, so the model is
  judged on phrasings it never saw (what the rules were written for).

The peer is the rules baseline (X12 code tables, keyword rules, the case's own kind) on
the same held-out texts, in the same run. Also printed: training time and suggestions per
second.

    python bench/classify.py [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import print_header, result_line
from intermodal.config import ClassifyConfig
from intermodal.foresight.classify import ExceptionText, compare, decide, rules, train
from intermodal_sim.exception_texts import texts


def _opened_as(milestone: str) -> str:
    return milestone if milestone in ("delivery_failed", "customs_hold") else "carrier_exception"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer texts (< 1 minute)")
    args = parser.parse_args()
    print_header("exception classification: model vs rules", args.quick)
    n = 1200 if args.quick else 6000
    config = ClassifyConfig()
    labels = list(config.labels)
    labelled = texts(11, n)
    examples = [
        (f"case-{i:06d}", ExceptionText(t.text, t.milestone, t.carrier, t.kind))
        for i, t in enumerate(labelled)
    ]
    started = time.perf_counter()
    held = compare(examples, config)
    seconds = time.perf_counter() - started
    print(
        f"held-out texts: {held.cases} trained, {held.holdout} held out;"
        f" model {held.model_accuracy:.3f}, rules {held.rules_accuracy:.3f};"
        f" trained and measured in {seconds:.1f} s; the model decides: {held.active}"
    )

    def unseen(phrase: str) -> bool:
        return hashlib.sha256(phrase.encode()).digest()[0] < 64  # a quarter of the wordings

    train_set = [e for (_, e), t in zip(examples, labelled, strict=True) if not unseen(t.phrase)]
    test = [(e, t) for (_, e), t in zip(examples, labelled, strict=True) if unseen(t.phrase)]
    model = train(train_set, labels)
    items = [
        ExceptionText(e.text, e.milestone, e.partner, _opened_as(e.milestone)) for e, _ in test
    ]
    started = time.perf_counter()
    by_model = decide(items, labels, model, config.min_confidence)
    per_second = len(items) / (time.perf_counter() - started)
    by_rules = [rules(i, labels) for i in items]
    model_unseen = sum(s.kind == t.kind for s, (_, t) in zip(by_model, test, strict=True)) / len(
        test
    )
    rules_unseen = sum(s.kind == t.kind for s, (_, t) in zip(by_rules, test, strict=True)) / len(
        test
    )
    print(
        f"unseen wordings: {len(train_set)} trained, {len(test)} held out;"
        f" model {model_unseen:.3f}, rules {rules_unseen:.3f}"
    )
    styles = sorted({t.style for _, t in test})
    for style in styles:
        pairs = [(m, r, t) for m, r, (_, t) in zip(by_model, by_rules, test, strict=True)
                 if t.style == style]  # fmt: skip
        m = sum(x.kind == t.kind for x, _, t in pairs) / len(pairs)
        r = sum(x.kind == t.kind for _, x, t in pairs) / len(pairs)
        print(f"  {style:8s} {len(pairs):5d} texts  model {m:.3f}  rules {r:.3f}")
    print(f"suggestions by the model: {per_second:,.0f}/s")
    print(
        result_line(
            "classify", "accuracy_heldout", held.model_accuracy, "share", held.rules_accuracy
        )
    )
    print(result_line("classify", "accuracy_unseen_wordings", model_unseen, "share", rules_unseen))


if __name__ == "__main__":
    main()
