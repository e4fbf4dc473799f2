"""Rotating a signing secret without a moment where the two sides disagree.

The hub already accepts several active secrets: a partner's webhook verifies with any of
its `webhook_secrets`, and an endpoint's delivery is signed with every one of its
`secret`/`secrets` (one `v1,` entry each), so a receiver that knows either accepts it.
A rotation is therefore two configuration changes with the partner's switch between
them: add the new secret next to the old (overlap), then, once the partner uses only
the new one, remove the old (retirement). `intermodal secret rotate` writes the new
secret and says each change; this module works out what to say, from the configuration
as written (references, never values).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from intermodal.config import STANDARD_WEBHOOKS, FileConfig
from intermodal.errors import ConfigurationError
from intermodal.yaml_loader import load_yaml

Section = Literal["partners", "endpoints"]


class RotationError(ConfigurationError):
    """A rotation that cannot be planned: no such partner, no secret to rotate, a secret to
    retire that is not configured or is the last one."""


@dataclass(frozen=True, slots=True)
class SecretHolder:
    """A partner (webhook secrets it signs with) or an endpoint (secrets the hub signs
    with), and its active secret references in the order the configuration lists them."""

    section: Section
    name: str
    refs: tuple[str, ...]

    @property
    def key(self) -> str:
        """Where its list lives in the configuration."""
        field = "webhook_secrets" if self.section == "partners" else "secrets"
        return f"{self.section}.{self.name}.{field}"

    @property
    def who(self) -> str:
        return f"partner {self.name}" if self.section == "partners" else f"endpoint {self.name}"

    def snippet(self, refs: list[str]) -> str:
        """The YAML to put in the configuration for these active references."""
        entry: dict[str, Any]
        if self.section == "partners":
            entry = {"webhook_secrets": refs}
        else:  # `secret` signs first; the others follow under `secrets`
            entry = {"secret": refs[0]} | ({"secrets": refs[1:]} if refs[1:] else {})
        text = yaml.safe_dump({self.section: {self.name: entry}}, sort_keys=False)
        return "".join(f"    {line}\n" for line in text.splitlines())


def read_holder(config: Path, section: Section, name: str) -> SecretHolder:
    """The partner or endpoint `name` as the configuration file lists it.

    The caller has loaded the configuration already (so it is valid); this reads the
    references themselves, which the loaded settings no longer hold.
    """
    raw = load_yaml(config.read_text(encoding="utf-8")) or {}
    parsed = FileConfig.model_validate({k: v for k, v in raw.items() if v is not None})
    if section == "partners":
        partner = parsed.partners.get(name)
        if partner is None:
            raise RotationError(f"no partner named '{name}' in {config}{_known(parsed.partners)}")
        if not partner.webhook_secrets:
            raise RotationError(
                f"partner {name} has no webhook_secrets to rotate (it authenticates with"
                " tokens, or sends nothing signed)"
            )
        given = partner.signature
        if given is not None and STANDARD_WEBHOOKS not in (given.preset, given.scheme):
            raise RotationError(
                f"partner {name} signs its own way (partners.{name}.signature): its platform"
                " issues the secret, not the hub. Save the new one to a file only you can"
                f" read, list it next to the current one in partners.{name}.webhook_secrets,"
                f" restart, and once {name} signs with it, run"
                f" `intermodal secret rotate --partner {name} --retire OLD`"
            )
        return SecretHolder(section, name, tuple(partner.webhook_secrets))
    endpoint = parsed.endpoints.get(name)
    if endpoint is None:
        raise RotationError(f"no endpoint named '{name}' in {config}{_known(parsed.endpoints)}")
    refs = ([endpoint.secret] if endpoint.secret else []) + list(endpoint.secrets)
    if not refs:
        raise RotationError(f"endpoint {name} signs nothing (no secret) to rotate")
    return SecretHolder(section, name, tuple(refs))


def _known(found: dict[str, Any]) -> str:
    return f" (there are: {', '.join(sorted(found))})" if found else ""


def overlap_steps(
    holder: SecretHolder, new_ref: str, fingerprints: dict[str, str], config: Path
) -> str:
    """What to do after the new secret is written: both active, then the partner's switch."""
    both = [*holder.refs, new_ref]
    lines = [
        f"1. Overlap: make both secrets active in {config} ({holder.key}):",
        "",
        holder.snippet(both),
        "   and restart the hub: it reads secrets when it starts.",
        *_fingerprints(both, fingerprints),
    ]
    if holder.section == "partners":
        lines += [
            f"   Webhooks from {holder.name} then verify with the old secret or the new.",
            "",
            f"2. Give {holder.name} the new secret over a channel you trust (not e-mail in"
            " clear); it switches its signing to the new secret.",
            "",
            f"3. Once {holder.name} signs with the new secret only, retire the old one:",
        ]
    else:
        lines += [
            f"   Each delivery to {holder.name} then carries a signature with either secret.",
            "",
            f"2. Give {holder.name}'s operator the new secret over a channel you trust; its"
            " receiver switches to verifying with the new secret.",
            "",
            f"3. Once {holder.name} verifies with the new secret, retire the old one:",
        ]
    section = "--partner" if holder.section == "partners" else "--endpoint"
    lines += [
        "",
        *(
            f"     intermodal secret rotate {section} {holder.name} --retire {ref}"
            f" --config {config}"
            for ref in holder.refs
        ),
    ]
    return "\n".join(lines) + "\n"


def retire_steps(holder: SecretHolder, old: str, config: Path) -> str:
    """What to remove, once the partner no longer uses `old`."""
    if old not in holder.refs:
        raise RotationError(
            f"{old} is not one of {holder.key}: {', '.join(holder.refs)}"
            " (give the reference as the configuration writes it)"
        )
    kept = [ref for ref in holder.refs if ref != old]
    if not kept:
        without = (
            f"every webhook from {holder.name} is refused"
            if holder.section == "partners"
            else f"deliveries to {holder.name} go unsigned"
        )
        raise RotationError(
            f"{old} is the only active secret of {holder.who}: without it {without}."
            f" Rotate first: intermodal secret rotate --{holder.section[:-1]} {holder.name}"
        )
    lines = [
        f"Retire {old} from {holder.who}: in {config}, make {holder.key} read",
        "",
        holder.snippet(kept),
        "and restart the hub. From then on only the secret(s) above are active.",
    ]
    kind, _, where = old.partition(":")
    if kind == "file":
        path = Path(where) if Path(where).is_absolute() else config.parent / where
        lines.append(f"Then delete {path}: no process needs it any more.")
    else:
        lines.append(f"Then remove the variable {where} from the hub's environment.")
    return "\n".join(lines) + "\n"


def _fingerprints(refs: list[str], fingerprints: dict[str, str]) -> list[str]:
    known = [ref for ref in refs if ref in fingerprints]
    if not known:
        return []
    width = max(len(ref) for ref in known)
    return [
        "   Their fingerprints, to tell them apart without showing them:",
        *(f"     {ref:<{width}}  {fingerprints[ref]}" for ref in known),
    ]


__all__ = ["RotationError", "SecretHolder", "overlap_steps", "read_holder", "retire_steps"]
