"""WMS simulator: pick/pack/ship requests in, pick, pack and ship confirmations (short
picks as exceptions) out to the hub as signed webhooks."""
