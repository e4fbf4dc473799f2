"""Foresight: where a shipment is now, when it will arrive, and what looks wrong.

The assists here read the hub's governed data (canonical events, shipment state, cases,
charges) and write back through the same spine: positions and documents arrive as partner
messages, predictions and warnings leave as cases and outbox commands. None of them writes
to Odoo or a partner directly. Each assist is measured against a simple baseline in the
same run (bench/), and docs/visibility.md says how each is fed, retrained and turned off.

- `positions.py`: telematics fixes -> latest position and a thinned track per shipment.
- `eta.py`: arrival-time predictions (distance/speed baseline and a learned model);
  `eta_model.py` trains, scores and versions the model, `eta_refresh.py` runs the leader's
  refresh and retrain jobs, `history.py` simulates trip history to train and judge on.
- `warnings.py`: predicted-delay cases opened before an SLA breach.
- `anomalies.py`: unusual rates, gaps, dwells and orders in partners' event streams.
- `classify.py`: carriers' free-text exception reasons -> case kind and next step.
- `documents.py`: proofs of delivery and freight invoices read into events.
"""
