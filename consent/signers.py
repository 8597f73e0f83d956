"""Who signed an authorization: an organisation, or a member with a key an organisation certified.

An **organisation** signature (the case system's key, in hedui's trust store) vouches for every member
named in the payload: the organisation collected their wet signatures and fingerprints on the paper
form, whose hash is in the payload's evidence.

A **member** signature is made on the member's own phone with a key that the organisation certified:
a *member-key certificate*, itself a DSSE envelope (payload type :data:`MEMBER_KEY_PAYLOAD_TYPE`) signed
by a trusted key of the organisation, binding the member's identity number to the public key for a
validity period. It is carried with the authorization and covers that one member only.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Final, Literal

from consent.envelope import key_id_for, load_public_key
from consent.errors import FieldError, json_object
from consent.identity import IdentityNumberError, validate_identity_number
from consent.instants import format_rfc3339, parse_rfc3339

__all__ = [
    "MAX_CERTIFICATE_DAYS",
    "MEMBER_KEY_PAYLOAD_TYPE",
    "CertificateError",
    "MemberKeyCertificate",
    "Signer",
    "member_key_certificate",
    "parse_member_key_certificate",
    "parse_rfc3339",
]

MEMBER_KEY_PAYLOAD_TYPE: Final = "application/vnd.hedui.member-key+json; version=1"
MAX_CERTIFICATE_DAYS: Final = 5 * 366
SignerKind = Literal["organisation", "member"]


@dataclass(frozen=True, slots=True)
class Signer:
    """A signature on an authorization that holds: whose key, and for whom it speaks."""

    keyid: str
    kind: SignerKind
    organisation: str
    # member signers: whose key it is, and the organisation key that certified it
    id_number: str = ""
    certified_by: str = ""

    def covers(self, id_number: str) -> bool:
        """Whether this signature vouches for the member: an organisation's covers everyone, a member's only them."""
        return self.kind == "organisation" or self.id_number == id_number


class CertificateError(FieldError):
    """A member-key certificate payload that is not acceptable; ``field`` names where."""


@dataclass(frozen=True, slots=True)
class MemberKeyCertificate:
    """The signed content of a member-key certificate."""

    organisation: str
    id_number: str
    name: str
    public_key_pem: bytes
    not_before: dt.datetime
    not_after: dt.datetime

    @property
    def keyid(self) -> str:
        """The key id of the certified member key."""
        return key_id_for(load_public_key(self.public_key_pem))

    def why_not_valid_at(self, at: dt.datetime) -> str | None:
        """Why the certified key may not be used at ``at`` (None: it may)."""
        if at < self.not_before:
            return f"member key {self.keyid!r} is certified only from {format_rfc3339(self.not_before)}"
        if at >= self.not_after:
            return f"member key {self.keyid!r} was certified until {format_rfc3339(self.not_after)}"
        return None


def _text(raw: dict[str, object], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CertificateError(key, "is required and must be a non-empty string")
    return value


def _parse_instant(raw: dict[str, object], key: str) -> dt.datetime:
    try:
        return parse_rfc3339(raw.get(key))
    except ValueError as exc:
        raise CertificateError(key, str(exc)) from None


_CERTIFICATE_FIELDS: Final = frozenset({"organisation", "id_number", "name", "public_key", "not_before", "not_after"})


def parse_member_key_certificate(payload: bytes) -> MemberKeyCertificate:
    """Parse and check the payload bytes of a member-key certificate."""
    raw = json_object(payload, _CERTIFICATE_FIELDS, where="payload", error=CertificateError)
    organisation = _text(raw, "organisation")
    try:
        id_number = validate_identity_number(_text(raw, "id_number"))
    except IdentityNumberError as exc:
        raise CertificateError("id_number", str(exc)) from None
    name = _text(raw, "name")
    pem = _text(raw, "public_key").encode("ascii", errors="replace")
    try:
        load_public_key(pem)
    except ValueError as exc:
        raise CertificateError("public_key", str(exc)) from None
    not_before = _parse_instant(raw, "not_before")
    not_after = _parse_instant(raw, "not_after")
    if not_after <= not_before:
        raise CertificateError("not_after", "is not after not_before")
    if (not_after - not_before).days > MAX_CERTIFICATE_DAYS:
        raise CertificateError("not_after", f"a member key is certified for at most {MAX_CERTIFICATE_DAYS} days")
    return MemberKeyCertificate(organisation, id_number, name, pem, not_before, not_after)


def member_key_certificate(
    *,
    organisation: str,
    id_number: str,
    name: str,
    public_key_pem: bytes,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> bytes:
    """Payload bytes of a member-key certificate, as the organisation writes them before signing."""
    body = {
        "organisation": organisation,
        "id_number": id_number,
        "name": name,
        "public_key": public_key_pem.decode("ascii"),
        "not_before": format_rfc3339(not_before),
        "not_after": format_rfc3339(not_after),
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")
