"""The HTTP application: partner ingress, shipment reads, receipts, health, admin.

`intermodal.api.app.create_app` builds it; `http` holds the plumbing every ingress route
shares. (Nothing is imported here, so connectors can use `api.errors` and `api.http`
without importing the whole application.)
"""
