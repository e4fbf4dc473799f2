"""The `sync:` configuration section (validated with the rest of the file by config.py).

sync:
  endpoint: odoo                 # an `odoo` endpoint: where master data is read from
  interval_seconds: 900          # the hub syncs this often (0: only `intermodal sync`)
  models: [res.partner, delivery.carrier, product.product, res.currency, res.currency.rate]
  page_size: 200
  overlap_seconds: 10            # re-read this much before the cursor (late commits)
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SyncModel = Literal[
    "res.company", "res.currency", "res.currency.rate", "res.partner", "delivery.carrier",
    "product.product",
]  # fmt: skip


class SyncConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    interval_seconds: Annotated[float, Field(ge=0, le=7 * 86_400)] = 900.0
    models: list[SyncModel] | None = None
    """None: every model the sync knows (intermodal.connectors.odoo.sync.batch.MODELS)."""
    page_size: Annotated[int, Field(ge=1, le=5000)] = 200
    overlap_seconds: Annotated[float, Field(ge=0, le=3600)] = 10.0
