"""Secrets, credentials and their scopes, and the tamper-evident audit chain.

Secrets are only ever referenced from configuration (an environment variable or a file),
held in `Secret` objects that never print their value, and compared in constant time.
"""
