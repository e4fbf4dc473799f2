"""res.partner <-> canonical `Party`: customers and carriers, keyed by `res.partner.ref`."""

from __future__ import annotations

from typing import Any

from intermodal.canonical.model import Party, PartyRole
from intermodal.connectors.odoo.mappings.envelope import Envelope, parse_data
from intermodal.connectors.odoo.ops import STAGE_PARTNERS, MappingError, Op, Ref, Upsert

COMMAND_TYPE = "intermodal.odoo.partner.upsert"


def partner_ref(party: Party) -> Ref:
    """How the hub names a party's res.partner: its Odoo id when known, else its reference."""
    if party.odoo_partner_id is not None:
        return Ref("res.partner", "id", party.odoo_partner_id)
    if party.reference is None:
        raise MappingError(f"party '{party.name}' has neither a reference nor an odoo_partner_id")
    return Ref("res.partner", "ref", party.reference)


def partner_values(party: Party) -> dict[str, Any]:
    values: dict[str, Any] = {"name": party.name, "is_company": True}
    if party.role is PartyRole.CARRIER:
        values["supplier_rank"] = 1
    else:
        values["customer_rank"] = 1
    if party.email is not None:
        values["email"] = party.email
    if party.phone is not None:
        values["phone"] = party.phone
    address = party.address
    if address is not None:
        values.update(
            {
                "street": address.street or False,
                "street2": address.street2 or False,
                "city": address.city or False,
                "zip": address.postal_code or False,
                "country_id": Ref("res.country", "code", address.country),
            }
        )
    return values


def partner_upsert(party: Party) -> Upsert:
    """Create the party in Odoo unless its reference exists, and keep its details current."""
    return Upsert(partner_ref(party), partner_values(party), stage=STAGE_PARTNERS)


def build(envelope: Envelope, _policy: Any) -> list[Op]:
    party = parse_data(Party, envelope)
    if party.odoo_partner_id is not None:
        # A partner Odoo already has: update it, never create another.
        return [Upsert(partner_ref(party), partner_values(party), stage=STAGE_PARTNERS)]
    return [partner_upsert(party)]
