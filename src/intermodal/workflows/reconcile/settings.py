"""The `reconcile:` configuration section (validated with the rest of the file by config.py).

reconcile:
  interval_seconds: 3600        # the hub runs a reconciliation this often (0: never)
  grace_hours: 24               # delivered and not invoiced for longer than this
  tolerance_percent: 2.0        # a final charge this far above the provisional one is fine
  tolerance_by_partner: {acme-carrier: 5.0}
  days_provisional: 7           # charges still provisional this long after delivery
  currency: EUR                 # figures in this currency (default: Odoo's company currency)
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Percent = Annotated[float, Field(ge=0, le=1000)]


class ReconcileConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interval_seconds: Annotated[float, Field(ge=0, le=30 * 86_400)] = 3600.0
    grace_hours: Annotated[float, Field(ge=0, le=24 * 366)] = 24.0
    tolerance_percent: Percent = 2.0
    tolerance_by_partner: dict[
        Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")], Percent
    ] = {}
    days_provisional: Annotated[float, Field(ge=0, le=366)] = 7.0
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None

    def tolerance_for(self, partner: str) -> float:
        return self.tolerance_by_partner.get(partner, self.tolerance_percent)
