"""Carrier simulators: `parcelpro` (JSON, bearer key, kg/cm, cents, status codes) and
`freightline` (form-encoded, HTTP Basic, lb/in, decimal strings, status words, faults in
200 answers). They answer the connectors in `intermodal.connectors.carriers`."""
