"""intermodal: an integration hub for logistics companies that run Odoo.

Every partner message follows one path (see docs/architecture.md): ingress -> inbox ->
normalize -> apply -> orchestrate -> outbox -> delivery, observed at every step.
"""

__version__ = "0.1.0"
