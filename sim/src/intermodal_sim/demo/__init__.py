"""`intermodal demo`: the whole story on one machine, in a few minutes.

`world` starts the Odoo test server, the partners' endpoints and the hub (configured by a
YAML file it writes, as a user would); `day` plays a day of freight against them through
the same HTTP doors real partners use; `summary` reads what happened from the hub's store
and from Odoo. Nothing in the demo reaches into the hub's internals, so what it shows is
what a user's own partners would get.
"""
