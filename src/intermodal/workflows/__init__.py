"""Orchestrate (step 5 of the spine): the order-to-cash flows, as data.

- `flows/*.yaml`: one flow per file (order intake, execution, customs, billing, exceptions,
  SLA), each transition readable as a sentence; docs/flows.md is generated from them.
- `spec.py`: what a flow file may say, and the loader that names file, flow and field.
- `vocabulary.py`: the triggers, conditions and commands flows are written in.
- `engine.py`: the interpreter the applier calls with each applied event.
- `timers.py`: durable timers (and closed cases) back into the flows through the inbox.
- `tender.py`: the dispatch job as an X12 204.
"""
