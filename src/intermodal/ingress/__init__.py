"""Ingress: how messages get in. Standard Webhooks verification on the raw bytes, and
the request handling that hands verified messages to the inbox."""
