"""What makes the printed report an official document: the centre, the report number, the paper trail, the digest.

:class:`PrintContext` is what a rendering knows beyond the report itself: the centre's identity
(``[centre]``, :class:`~verifier.config.CentreIdentity`), each authorization's form number and signing
date (read from the registered authorizations), and the digest ``REPORT_CREATED`` recorded for the
stored report. :func:`official_view` turns it and the report into display strings for the template:
the report number in 文号 style, times in China Standard Time, the QR code (inline SVG, no external
image) that carries the digest, and the small machine-readable footer with the codes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import markupsafe
import segno

from consent.identity import CHINA_TIME
from hedui.v1 import report_pb2
from verifier.config import CentreIdentity
from verifier.report.build import report_digest

__all__ = [
    "FORM_NUMBER_KEY",
    "AuthorizationSlip",
    "Official",
    "PrintContext",
    "china_instant",
    "commissioner_zh",
    "official_view",
    "qr_svg",
    "report_number",
    "stored_digest",
]

# The key of an authorization's ``evidence`` that carries the paper form's number (docs/report.md).
FORM_NUMBER_KEY: Final = "form_number"
# commissioned_by codes are "{area code}-{office}"; an office without a configured name is shown by its kind.
_OFFICE_ZH: Final = {"civil-affairs": "民政部门", "township": "乡镇人民政府（街道办事处）"}
_SERIAL_DIGITS: Final = 10


@dataclass(frozen=True, slots=True)
class AuthorizationSlip:
    """One authorization as the paper shows it: its form number and signing date (CST), and its resource name."""

    name: str
    form_number: str = ""
    signed_on: str = ""


@dataclass(frozen=True, slots=True)
class PrintContext:
    """What a rendering knows beyond the report: the centre, the authorizations' paper details, the digest."""

    centre: CentreIdentity = field(default_factory=CentreIdentity)
    authorizations: tuple[AuthorizationSlip, ...] = ()
    # The digest REPORT_CREATED recorded (that of the stored JSON); empty: computed from the report.
    report_sha256: str = ""


@dataclass(frozen=True, slots=True)
class Official:
    """The official parts of the document, as display strings (the QR code as trusted SVG markup)."""

    centre: str
    report_number: str
    commissioned_by: str
    commissioner_code: str
    policy: str
    legal_basis: tuple[str, ...]
    household_address: str
    case_number: str
    authorizations: tuple[AuthorizationSlip, ...]
    seal: str
    signatures: tuple[str, ...]
    generated_at: str
    digest: str
    qr: markupsafe.Markup
    machine: str


def china_instant(value: str | None) -> str:
    """An RFC 3339 instant in China Standard Time, "2026-11-01 10:00:00（北京时间）"; empty for none."""
    if not value:
        return ""
    instant = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S") + "（北京时间）"


def report_number(report: report_pb2.Report, centre: CentreIdentity) -> str:
    """The report number in the centre's 文号 format: the CST year, a serial of the report id, the version.

    The serial is the first digits of SHA-256 of the report id, read as a decimal number: stable, digits only,
    and unique with overwhelming likelihood at a centre's volumes (the report id and digest stay the key).
    """
    year = china_instant(report.generated_at)[:4] or "0000"
    serial = int(hashlib.sha256(report.report_id.encode()).hexdigest()[:12], 16) % 10**_SERIAL_DIGITS
    return centre.report_number_format.format(year=year, serial=f"{serial:0{_SERIAL_DIGITS}d}", version=report.version)


def commissioner_zh(code: str, centre: CentreIdentity) -> str:
    """The commissioning organisation's Chinese name: configured, else its area code and kind of office."""
    if code in centre.organisations:
        return centre.organisations[code]
    area, _, office = code.partition("-")
    kind = _OFFICE_ZH.get(office, "委托单位")
    return f"行政区划代码 {area} {kind}" if area.isdigit() else kind


def stored_digest(report: report_pb2.Report) -> str:
    """The digest of a report as it would be stored: its JSON without the rendered views."""
    bare = report_pb2.Report()
    bare.CopyFrom(report)
    bare.ClearField("html")
    bare.ClearField("pdf")
    return report_digest(bare)


def qr_svg(text: str) -> markupsafe.Markup:
    """A QR code of ``text`` as inline SVG (error correction M; no XML declaration, no size: CSS sizes it)."""
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(
        out, kind="svg", xmldecl=False, svgns=False, omitsize=True, border=2, svgclass="qr", lineclass=None
    )
    return markupsafe.Markup(out.getvalue().decode("ascii"))


def _slips(report: report_pb2.Report, context: PrintContext) -> tuple[AuthorizationSlip, ...]:
    """Every authorization the report names, with its paper details when the context has them."""
    known = {s.name: s for s in context.authorizations}
    return tuple(known.get(name, AuthorizationSlip(name)) for name in report.authorizations)


def _machine(report: report_pb2.Report, digest: str) -> str:
    """The machine-readable footer: the codes a system matches on, in one line."""
    parts: Mapping[str, Any] = {
        "report": report.report_id,
        "v": report.version,
        "verification": report.verification_id,
        "class": report.assessment.classification,
        "by": report.commissioned_by,
        "policy": f"{report.policy.locality}@{report.policy_version}",
        "sha256": digest,
    }
    return " ".join(f"{k}={v}" for k, v in parts.items())


def official_view(report: report_pb2.Report, context: PrintContext) -> Official:
    """The official parts of the document for ``report``."""
    centre = context.centre
    digest = context.report_sha256 or stored_digest(report)
    return Official(
        centre=centre.name,
        report_number=report_number(report, centre),
        commissioned_by=commissioner_zh(report.commissioned_by, centre),
        commissioner_code=report.commissioned_by,
        policy="默认政策" if report.policy.locality == "default" else report.policy.locality,
        legal_basis=centre.legal_basis_for(report.policy.locality),
        household_address=report.household_address,
        case_number=report.case_number,
        authorizations=_slips(report, context),
        seal=centre.seal,
        signatures=centre.signatures,
        generated_at=china_instant(report.generated_at),
        digest=digest,
        qr=qr_svg(centre.check_url.format(sha256=digest) if centre.check_url else digest),
        machine=_machine(report, digest),
    )
