"""`endpoints.<name>.options` of a FreightLine carrier endpoint."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

SecretRef = Annotated[str, StringConstraints(pattern=r"^(env|file):.+$")]


class FreightLineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    carrier: Literal["freightline"] = "freightline"
    username: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    password: SecretRef
    """A secret reference; the password itself never sits in the configuration file."""
