"""Webhook signatures of partners that do not speak Standard Webhooks, checked on raw bytes.

EasyPost, Shopify, AfterShip, Shippo and many carriers sign the raw body with an HMAC, each
its own way: which header, which hash, hex or base64, a prefix, the body alone or a
timestamp and the body, how the secret becomes a key. One `VendorSignature` holds those
choices as data, and `PRESETS` names each vendor's, so a new partner is configuration, not
code. Like `signatures` (Standard Webhooks), verification compares digests as bytes in
constant time, tries every active key (rotation) and says why a message was refused:
400 for a header that cannot be read, 401 for one that does not prove the sender.

These vendors send no `webhook-id`; `verify` also gives the message id the inbox
deduplicates on: the partner's id header where it has one, else the body's SHA-256, so a
resend of the same bytes is a duplicate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from intermodal.ingress.signatures import MAX_MESSAGE_ID, SignatureError

Algorithm = Literal["sha1", "sha256", "sha512"]
Encoding = Literal["hex", "base64"]
Signed = Literal["body", "timestamp.body"]
Normalization = Literal["none", "nfkd"]

DIGEST_SIZES: dict[str, int] = {"sha1": 20, "sha256": 32, "sha512": 64}
MAX_HEADER = 2048
"""Longer signature headers are refused before they are parsed: no vendor sends one."""


@dataclass(frozen=True, slots=True)
class VendorSignature:
    """How one partner signs its webhooks. Header names are lower case, as ASGI gives them."""

    header: str
    """The header holding the signature, e.g. `x-hmac-signature`."""
    algorithm: Algorithm = "sha256"
    encoding: Encoding = "hex"
    prefix: str = ""
    """Text before the digest in the header, e.g. `hmac-sha256-hex=`."""
    signed: Signed = "body"
    """`body`, or `timestamp.body`: the timestamp, a dot, then the body."""
    signature_key: str | None = None
    """Set when the header is `key=value` pairs (`t=...,v1=...`): the key of the digest(s)."""
    timestamp_key: str | None = None
    """The key of the timestamp in those pairs (`t`)."""
    timestamp_header: str | None = None
    """Or a header of its own holding the timestamp (whole seconds since the epoch)."""
    tolerance_seconds: int = 300
    normalization: Normalization = "none"
    """`nfkd`: Unicode-normalise the secret before UTF-8 (EasyPost's client libraries do);
    `secret_normalization` in the configuration."""
    id_header: str | None = None
    """The header giving the message id for deduplication (`x-shopify-webhook-id`)."""
    name: str = "hmac"
    """The preset it came from, for messages and the docs."""

    @property
    def has_timestamp(self) -> bool:
        return self.signed == "timestamp.body"

    def problems(self) -> list[str]:
        """What makes this scheme unusable or unsafe, one sentence each (checked at start)."""
        found: list[str] = []
        if self.timestamp_key is not None and self.timestamp_header is not None:
            found.append("give timestamp_key or timestamp_header, not both")
        if self.timestamp_key is not None and self.signature_key is None:
            found.append(
                "timestamp_key reads a 't=...,v1=...' header: set signature_key too (e.g. v1)"
            )
        if self.signature_key is not None and self.signature_key == self.timestamp_key:
            found.append("signature_key and timestamp_key must differ")
        if self.signature_key is not None and self.prefix:
            found.append("prefix applies to a plain header value, not to key=value pairs")
        has_source = self.timestamp_key is not None or self.timestamp_header is not None
        if self.has_timestamp and not has_source:
            found.append(
                "signed: timestamp.body needs timestamp_header, or timestamp_key in a"
                " key=value signature header"
            )
        if not self.has_timestamp and has_source:
            found.append(
                "a timestamp that is not signed proves nothing: set signed: timestamp.body"
            )
        headers = [self.header, self.timestamp_header, self.id_header]
        given = [header for header in headers if header is not None]
        if len(set(given)) != len(given):
            found.append("header, timestamp_header and id_header must be different headers")
        return found

    def key(self, secret: str) -> bytes:
        """The HMAC key of a secret as the vendor uses it: its text in UTF-8."""
        if self.normalization == "nfkd":
            secret = unicodedata.normalize("NFKD", secret)
        return secret.encode("utf-8")

    def sign(self, key: bytes, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """The headers a sender of this scheme puts on `body`: to test a partner's
        configuration by hand, or a scheme in a property test."""
        headers: dict[str, str] = {}
        stamp = ""
        if self.has_timestamp:
            stamp = str(int(time.time()) if timestamp is None else timestamp)
        digest = self._digest(key, stamp if self.has_timestamp else None, body)
        text = digest.hex() if self.encoding == "hex" else base64.b64encode(digest).decode()
        if self.signature_key is None:
            headers[self.header] = self.prefix + text
        elif self.timestamp_key is not None:
            headers[self.header] = f"{self.timestamp_key}={stamp},{self.signature_key}={text}"
        else:
            headers[self.header] = f"{self.signature_key}={text}"
        if self.timestamp_header is not None:
            headers[self.timestamp_header] = stamp
        return headers

    def verify(
        self,
        keys: Sequence[bytes],
        headers: Mapping[str, str],
        body: bytes,
        now: float | None = None,
    ) -> str:
        """The message id, once one signature in the header matches one of the keys;
        SignatureError (400 or 401) otherwise."""
        value = headers.get(self.header)
        if not value:
            raise SignatureError(f"missing header: {self.header}", 401)
        if len(value) > MAX_HEADER:
            raise SignatureError(f"{self.header} is longer than {MAX_HEADER} characters", 400)
        given, stamp = self._read(value, headers)
        if self.has_timestamp:
            self._check_time(stamp, now)
        if not keys:
            raise SignatureError("this partner has no webhook secret configured", 401)
        for key in keys:
            expected = self._digest(key, stamp, body)
            for digest in given:
                if hmac.compare_digest(expected, digest):
                    return self._message_id(headers, body)
        raise SignatureError(
            f"no {self.header} signature matches this partner's secrets ({self.name})", 401
        )

    def _digest(self, key: bytes, stamp: str | None, body: bytes) -> bytes:
        """The HMAC of what the sender signed, without copying the body."""
        if stamp is None:
            return hmac.digest(key, body, self.algorithm)
        mac = hmac.new(key, stamp.encode() + b".", self.algorithm)
        mac.update(body)
        return mac.digest()

    def _read(self, value: str, headers: Mapping[str, str]) -> tuple[list[bytes], str | None]:
        """The digests the header carries, decoded, and the timestamp the sender signed."""
        stamp: str | None = None
        if self.signature_key is None:
            if not value.startswith(self.prefix):
                raise SignatureError(f"{self.header} must start with '{self.prefix}'", 400)
            texts = [value[len(self.prefix) :]]
        else:
            texts = []
            for part in value.split(","):
                name, equals, text = part.strip().partition("=")
                if not equals:
                    raise SignatureError(
                        f"{self.header} must be key=value pairs separated by commas", 400
                    )
                if name == self.signature_key:
                    texts.append(text)
                elif name == self.timestamp_key:
                    if stamp is not None:
                        raise SignatureError(f"{self.header} gives '{name}=' twice", 400)
                    stamp = text
            if not texts:
                raise SignatureError(f"{self.header} has no '{self.signature_key}=' entry", 400)
            if self.timestamp_key is not None and stamp is None:
                raise SignatureError(f"{self.header} has no '{self.timestamp_key}=' entry", 400)
        if self.timestamp_header is not None:
            stamp = headers.get(self.timestamp_header)
            if not stamp:
                raise SignatureError(f"missing header: {self.timestamp_header}", 401)
        return [self._decode(text) for text in texts], stamp

    def _decode(self, text: str) -> bytes:
        try:
            if self.encoding == "hex":
                digest = binascii.a2b_hex(text)
            else:
                digest = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise SignatureError(
                f"{self.header} does not hold a {self.encoding} digest", 400
            ) from None
        if len(digest) != DIGEST_SIZES[self.algorithm]:
            raise SignatureError(
                f"{self.header} does not hold a {self.algorithm} digest "
                f"({len(digest)} bytes, expected {DIGEST_SIZES[self.algorithm]})",
                400,
            )
        return digest

    def _check_time(self, stamp: str | None, now: float | None) -> None:
        where = self.timestamp_header or f"{self.header} '{self.timestamp_key}='"
        if stamp is None or not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
            raise SignatureError(f"{where} must be whole seconds since the epoch", 400)
        sent = int(stamp)
        current = time.time() if now is None else now
        if sent < current - self.tolerance_seconds:
            raise SignatureError(f"{where} is more than {self.tolerance_seconds}s old", 401)
        if sent > current + self.tolerance_seconds:
            raise SignatureError(
                f"{where} is more than {self.tolerance_seconds}s in the future", 401
            )

    def _message_id(self, headers: Mapping[str, str], body: bytes) -> str:
        """The partner's id for this message, else the body's hash: either way a resend
        of the same message finds the first one in the inbox."""
        if self.id_header is not None:
            given = headers.get(self.id_header)
            if given:
                if len(given) > MAX_MESSAGE_ID or not given.isprintable():
                    raise SignatureError(
                        f"{self.id_header} must be at most {MAX_MESSAGE_ID} printable characters",
                        400,
                    )
                return given
        return "sha256:" + hashlib.sha256(body).hexdigest()


PRESETS: dict[str, VendorSignature] = {
    # https://docs.easypost.com/guides/webhooks-guide and the client libraries'
    # validate_webhook: hex HMAC-SHA256 of the raw body, the secret NFKD-normalised.
    "easypost": VendorSignature(
        header="x-hmac-signature",
        prefix="hmac-sha256-hex=",
        normalization="nfkd",
        name="easypost",
    ),
    # https://shopify.dev/docs/apps/build/webhooks/verify-deliveries: base64 HMAC-SHA256
    # of the raw body with the app's client secret; X-Shopify-Webhook-Id for duplicates.
    "shopify": VendorSignature(
        header="x-shopify-hmac-sha256",
        encoding="base64",
        id_header="x-shopify-webhook-id",
        name="shopify",
    ),
    # https://www.aftership.com/docs/tracking/webhook/webhook-signature: base64
    # HMAC-SHA256 of the raw body with the account's webhook secret.
    "aftership": VendorSignature(
        header="aftership-hmac-sha256",
        encoding="base64",
        name="aftership",
    ),
    # https://docs.goshippo.com/docs/tracking/webhooksecurity: `t=<seconds>,v1=<hex>`,
    # HMAC-SHA256 of "<t>.<raw body>".
    "shippo": VendorSignature(
        header="shippo-auth-signature",
        signed="timestamp.body",
        signature_key="v1",
        timestamp_key="t",
        name="shippo",
    ),
}
"""Named schemes: `signature: {preset: easypost}`. `standard-webhooks` is not here: it is
the default path (`signatures`), with no `VendorSignature` at all."""


__all__ = ["PRESETS", "VendorSignature"]
