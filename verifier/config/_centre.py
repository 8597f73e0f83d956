"""``[centre]``: the verification centre's identity as its printed reports show it (issue 14).

The centre's name, the Chinese names of the organisations that commission verifications (by their
``commissioned_by`` code), the legal-basis lines (common to every report, and per policy locality),
the report-number format (文号 style), the seal and signature blocks, and where a report's QR code
points. Every key is optional: without ``[centre]`` a report names a generic centre and cites the
national rules (docs/report.md). Every text is printed as given, so each is bounded, on one line and
printable by the request's rule (:func:`verifier.request.unprintable`): a bidi override in the name would
print another name, 3,000 characters another page.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

from verifier.request import unprintable

__all__ = ["CENTRE_LIMITS", "NATIONAL_LEGAL_BASIS", "REPORT_NUMBER_FIELDS", "CentreIdentity", "CentreTable"]

# The national rules every dibao verification rests on (seed 001 cites the first; the second is the
# Ministry of Civil Affairs' 2021 rules on examining and confirming dibao).
NATIONAL_LEGAL_BASIS: Final = ("《社会救助暂行办法》", "《最低生活保障审核确认办法》")
# The fields a report-number format may use: the CST year of the report, a serial derived from its id, its version.
REPORT_NUMBER_FIELDS: Final = frozenset({"year", "serial", "version"})
_NAME: Final = "居民家庭经济状况核对中心"
_NUMBER: Final = "核字〔{year}〕{serial}号"
_SEAL: Final = "核对机构（盖章）"
_SIGNATURES: Final = ("核对经办人", "审核人")
# The longest text of each kind, in characters, and how many lines a list may hold (docs/report.md): a name or
# seal fits one line of the page's header, a signature block's caption its box, a legal-basis line one line.
CENTRE_LIMITS: Final[Mapping[str, int]] = {
    "name": 60,
    "seal": 60,
    "organisation": 60,
    "code": 200,
    "legal_basis_line": 100,
    "legal_basis_lines": 12,
    "signature": 20,
    "signatures": 6,
    "report_number_format": 60,
    "check_url": 500,
}
_CHARACTERS: Final = "a printed text has no control, format (bidi, zero-width) or line/paragraph separator character"


def _problem(value: str, limit: int) -> str | None:
    """What is wrong with one printed text: empty, longer than ``limit``, or an unprintable character."""
    if not value.strip():
        return "must not be empty"
    if len(value) > limit:
        return f"is longer than {limit} characters"
    bad = unprintable(value)
    return None if bad is None else f"contains {bad} ({_CHARACTERS})"


def _refuse(problem: str) -> PydanticCustomError:
    """The error a ``[centre]`` key's validator raises (``config_error`` prefixes the dotted key)."""
    return PydanticCustomError("centre_text", "{problem}", {"problem": problem})


def _text(limit: str) -> Callable[[str], str]:
    """A validator: one printed text of at most ``CENTRE_LIMITS[limit]`` characters."""

    def check(value: str) -> str:
        problem = _problem(value, CENTRE_LIMITS[limit])
        if problem is not None:
            raise _refuse(problem)
        return value

    return check


def _line_problem(values: list[str], limit: str, at_most: str, noun: str = "line") -> str | None:
    """What is wrong with a list of printed lines: none or too many, or which line is bad and how."""
    if not values:
        return f"must have at least one {noun}"
    if len(values) > CENTRE_LIMITS[at_most]:
        return f"has more than {CENTRE_LIMITS[at_most]} {noun}s"
    for number, value in enumerate(values, 1):
        problem = _problem(value, CENTRE_LIMITS[limit])
        if problem is not None:
            return f"{noun} {number} {problem}"
    return None


def _lines(limit: str, at_most: str, noun: str = "line") -> Callable[[list[str]], list[str]]:
    """A validator: one to ``CENTRE_LIMITS[at_most]`` lines, each a printed text (:func:`_text`)."""

    def check(values: list[str]) -> list[str]:
        problem = _line_problem(values, limit, at_most, noun)
        if problem is not None:
            raise _refuse(problem)
        return values

    return check


def _organisations(value: dict[str, str]) -> dict[str, str]:
    """Each ``commissioned_by`` code (as the request bounds it) and the organisation's name, printed texts."""
    for code, name in value.items():
        problem = _problem(code, CENTRE_LIMITS["code"])
        if problem is not None:
            raise _refuse(f"the code {code[:40]!r} {problem}")
        problem = _problem(name, CENTRE_LIMITS["organisation"])
        if problem is not None:
            raise _refuse(f"the name of {code!r} {problem}")
    return value


def _localities(value: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each policy locality and its legal-basis lines (:func:`_lines`)."""
    for locality, lines in value.items():
        problem = _problem(locality, CENTRE_LIMITS["code"]) or _line_problem(
            lines, "legal_basis_line", "legal_basis_lines"
        )
        if problem is not None:
            raise _refuse(f"{locality[:40]!r}: {problem}")
    return value


def _number_format(value: str) -> str:
    """A one-line ``str.format`` template over :data:`REPORT_NUMBER_FIELDS` only, ``{serial}`` among them, each
    field at most once and plain (no format spec or conversion: ``{serial:>9999}`` would print a page)."""
    problem = _problem(value, CENTRE_LIMITS["report_number_format"])
    if problem is not None:
        raise _refuse(problem)
    try:
        parts = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(value)]
        value.format(year=2026, serial="0000000000", version=1)
    except (ValueError, IndexError, KeyError):
        parts = [("?", "", None)]
    names = [name for name, _, _ in parts if name is not None]
    plain = all(not spec and conversion is None for name, spec, conversion in parts if name is not None)
    if not set(names) <= REPORT_NUMBER_FIELDS or "serial" not in names or len(names) != len(set(names)) or not plain:
        raise PydanticCustomError(
            "report_number_format",
            "{value} must be a format using the field serial, and only the fields year, serial and version, "
            "each at most once and plain ({{serial}})",
            {"value": repr(value)},
        )
    return value


def _check_url(value: str) -> str:
    """Empty, or an https URL template with ``{sha256}`` (what the QR code opens), printable and bounded."""
    problem = _problem(value, CENTRE_LIMITS["check_url"]) if value else None
    if problem is not None:
        raise _refuse(problem)
    if value and (not value.startswith("https://") or "{sha256}" not in value):
        raise PydanticCustomError(
            "check_url", "{value} must be an https:// URL containing the field sha256", {"value": repr(value)}
        )
    return value


@dataclass(frozen=True, slots=True)
class CentreIdentity:
    """The centre as its reports show it: what the ``[centre]`` table gives, defaults for the rest."""

    name: str = _NAME
    report_number_format: str = _NUMBER
    organisations: Mapping[str, str] = field(default_factory=dict)
    legal_basis: tuple[str, ...] = NATIONAL_LEGAL_BASIS
    locality_legal_basis: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    seal: str = _SEAL
    signatures: tuple[str, ...] = _SIGNATURES
    check_url: str = ""

    def legal_basis_for(self, locality: str) -> tuple[str, ...]:
        """The legal-basis lines of a report computed under ``locality``'s policy: the common ones, then its own."""
        return (*self.legal_basis, *self.locality_legal_basis.get(locality, ()))


class CentreTable(BaseModel):
    """``[centre]`` in hedui.toml (each key optional; see :class:`CentreIdentity` for the defaults)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: Annotated[str, AfterValidator(_text("name"))] = _NAME
    report_number_format: Annotated[str, AfterValidator(_number_format)] = _NUMBER
    # commissioned_by code → the organisation's Chinese name ("533401-civil-affairs" = "香格里拉市民政局").
    organisations: Annotated[dict[str, str], AfterValidator(_organisations)] = {}
    legal_basis: Annotated[list[str], AfterValidator(_lines("legal_basis_line", "legal_basis_lines"))] = list(
        NATIONAL_LEGAL_BASIS
    )
    # policy locality → lines added after the common ones.
    locality_legal_basis: Annotated[dict[str, list[str]], AfterValidator(_localities)] = {}
    seal: Annotated[str, AfterValidator(_text("seal"))] = _SEAL
    signatures: Annotated[list[str], AfterValidator(_lines("signature", "signatures", "signature"))] = list(_SIGNATURES)
    check_url: Annotated[str, AfterValidator(_check_url)] = ""

    def identity(self) -> CentreIdentity:
        """The frozen value the report renderers read."""
        return CentreIdentity(
            name=self.name,
            report_number_format=self.report_number_format,
            organisations=dict(self.organisations),
            legal_basis=tuple(self.legal_basis),
            locality_legal_basis={k: tuple(v) for k, v in self.locality_legal_basis.items()},
            seal=self.seal,
            signatures=tuple(self.signatures),
            check_url=self.check_url,
        )
