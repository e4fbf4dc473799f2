"""`endpoints.<name>.options` of a ParcelPro carrier endpoint."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints


class ParcelProSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    carrier: Literal["parcelpro"] = "parcelpro"
    api_key: Annotated[str, StringConstraints(pattern=r"^(env|file):.+$")]
    """A secret reference; the key itself never sits in the configuration file."""
