"""``[centre]``: the verification centre's identity as its printed reports show it (issue 14).

The centre's name, the Chinese names of the organisations that commission verifications (by their
``commissioned_by`` code), the legal-basis lines (common to every report, and per policy locality),
the report-number format (文号 style), the seal and signature blocks, and where a report's QR code
points. Every key is optional: without ``[centre]`` a report names a generic centre and cites the
national rules (docs/report.md).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

__all__ = ["NATIONAL_LEGAL_BASIS", "REPORT_NUMBER_FIELDS", "CentreIdentity", "CentreTable"]

# The national rules every dibao verification rests on (seed 001 cites the first; the second is the
# Ministry of Civil Affairs' 2021 rules on examining and confirming dibao).
NATIONAL_LEGAL_BASIS: Final = ("《社会救助暂行办法》", "《最低生活保障审核确认办法》")
# The fields a report-number format may use: the CST year of the report, a serial derived from its id, its version.
REPORT_NUMBER_FIELDS: Final = frozenset({"year", "serial", "version"})
_NAME: Final = "居民家庭经济状况核对中心"
_NUMBER: Final = "核字〔{year}〕{serial}号"
_SEAL: Final = "核对机构（盖章）"
_SIGNATURES: Final = ("核对经办人", "审核人")


def _number_format(value: str) -> str:
    """A ``str.format`` template over :data:`REPORT_NUMBER_FIELDS` only."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        value.format(year=2026, serial="0000000000", version=1)
    except (ValueError, IndexError, KeyError):
        names = {"?"}
    if not names <= REPORT_NUMBER_FIELDS or "serial" not in names:
        raise PydanticCustomError(
            "report_number_format",
            "{value} must be a format using the field serial, and only the fields year, serial and version",
            {"value": repr(value)},
        )
    return value


def _check_url(value: str) -> str:
    """Empty, or an https URL template with ``{sha256}`` (what the QR code opens)."""
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

    name: str = _NAME
    report_number_format: Annotated[str, AfterValidator(_number_format)] = _NUMBER
    # commissioned_by code → the organisation's Chinese name ("533401-civil-affairs" = "香格里拉市民政局").
    organisations: dict[str, str] = {}
    legal_basis: list[str] = list(NATIONAL_LEGAL_BASIS)
    # policy locality → lines added after the common ones.
    locality_legal_basis: dict[str, list[str]] = {}
    seal: str = _SEAL
    signatures: list[str] = list(_SIGNATURES)
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
