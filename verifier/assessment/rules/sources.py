"""Sources and consent (warnings.md): departments that did not answer, members not queried for lack of consent."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from verifier.assessment.context import Context
from verifier.assessment.flags import Evidence, WarningCode, WarningFlag
from verifier.assessment.rules.base import Facts
from verifier.vocabulary import DepartmentStatus

__all__ = ["CONSENT", "Sources"]

CONSENT = "consent"
_STATUS_CODES: dict[str, WarningCode] = {
    DepartmentStatus.UNAVAILABLE: WarningCode.SOURCE_UNAVAILABLE,
    DepartmentStatus.PENDING: WarningCode.SOURCE_PENDING,
}


class Sources:
    """SOURCE_UNAVAILABLE, SOURCE_PENDING and CONSENT_MISSING, department by department (by id)."""

    codes: ClassVar[tuple[WarningCode, ...]] = (
        WarningCode.SOURCE_UNAVAILABLE,
        WarningCode.SOURCE_PENDING,
        WarningCode.CONSENT_MISSING,
    )

    def flags(self, ctx: Context, facts: Facts) -> Iterable[WarningFlag]:
        """Per department: its status warning, then one CONSENT_MISSING per member not queried there."""
        for department in sorted(ctx.sources):
            source = ctx.sources[department]
            detail = (Evidence(department, "", "detail", source.detail),) if source.detail else ()
            code = _STATUS_CODES.get(source.status)
            if code is not None:
                yield ctx.flag(code, id_number=None, department=department, evidence=detail)
            for id_number in source.not_queried:
                yield ctx.flag(
                    WarningCode.CONSENT_MISSING,
                    id_number=id_number,
                    department=CONSENT,
                    evidence=(Evidence(CONSENT, "", "department_not_queried", department),),
                    target=department,
                    target_zh=ctx.catalogue.name_zh(department),
                )
