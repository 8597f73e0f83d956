"""hedui's vocabularies, each once: what a department's result, a verification, a request and a report can say.

Every value is the string interfaces.md and the report JSON use (a ``StrEnum`` compares equal to
it), so stored rows and old reports read back unchanged. Record kinds and departments are in
:mod:`connectors.departments`; audit event kinds in :mod:`audit.events`.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "Area",
    "Classification",
    "DeductionKind",
    "DepartmentStatus",
    "EmploymentCategory",
    "Purpose",
    "Relation",
    "Severity",
    "StepPhase",
    "VerificationState",
]


class DepartmentStatus(StrEnum):
    """Where one department's part of a verification stands."""

    QUEUED = "queued"  # planned, not yet asked
    QUERYING = "querying"  # the query is on its way or being answered
    OK = "ok"  # answered; its records are in the report
    UNAVAILABLE = "unavailable"  # could not answer (down, refused, too late, answer rejected)
    PENDING = "pending"  # accepted with a ticket; the answer comes later
    NOT_QUERIED = "not_queried"  # no member may be asked there (consent)


class StepPhase(StrEnum):
    """Where one department query stands as durable work (verifier/storage/work.py)."""

    SEND = "send"  # to be sent (or sent, its outcome not yet stored): whoever holds the lease sends it by its key
    POLL = "poll"  # a ticket is held: polled when due, by whichever process claims it
    DONE = "done"  # its outcome is stored


class VerificationState(StrEnum):
    """A verification's lifecycle (interfaces.md)."""

    RUNNING = "RUNNING"
    AWAITING_ANSWERS = "AWAITING_ANSWERS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        """Whether the verification will never change again."""
        return self in (VerificationState.COMPLETED, VerificationState.FAILED)


class Purpose(StrEnum):
    """What a verification (and the authorization it runs under) is for."""

    ASSESSMENT = "ASSESSMENT"
    RECHECK = "RECHECK"
    TEMPORARY_ASSISTANCE = "TEMPORARY_ASSISTANCE"


class Area(StrEnum):
    """Urban or rural standard (policy.md)."""

    URBAN = "urban"
    RURAL = "rural"


class Relation(StrEnum):
    """A declared member's relation to the applicant."""

    APPLICANT = "applicant"
    SPOUSE = "spouse"
    CHILD = "child"
    PARENT = "parent"
    SIBLING = "sibling"
    OTHER = "other"


class EmploymentCategory(StrEnum):
    """Members whose new wages are partly disregarded (policy.md, employment cost)."""

    FRESH_GRADUATE = "fresh_graduate"
    RELEASED_PRISONER = "released_prisoner"
    VETERAN = "veteran"


class DeductionKind(StrEnum):
    """Kinds of rigid expenditure deducted from income (policy.md)."""

    MEDICAL = "medical"
    REHABILITATION = "rehabilitation"
    EDUCATION = "education"
    PENSION_CONTRIBUTION = "pension_contribution"
    EMPLOYMENT_COST = "employment_cost"


class Classification(StrEnum):
    """The household's outcome (policy.md)."""

    DIBAO = "DIBAO"
    DIBAO_AFTER_DEDUCTIONS = "DIBAO_AFTER_DEDUCTIONS"
    MARGINAL = "MARGINAL"
    NOT_ELIGIBLE_INCOME = "NOT_ELIGIBLE_INCOME"
    NOT_ELIGIBLE_ASSETS = "NOT_ELIGIBLE_ASSETS"
    INCONCLUSIVE = "INCONCLUSIVE"


class Severity(StrEnum):
    """A warning's severity (warnings.md)."""

    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
