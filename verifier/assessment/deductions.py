"""Rigid expenditure deducted from income (policy.md "Deductions"): one entry per kind in :data:`DEDUCTIONS`.

Two shapes of entry. A :class:`Receipt` kind is declared item by item (medical, education,
rehabilitation with its yearly cap); the items keep the request's order. A member kind is worked out
per member from records or figures (the pension contribution from social-security records, the
employment cost from the months with wages); those lines follow, kind by kind, in table order.
A member who is not counted in the household gets no deduction: the line shows 0 allowed.
Adding a kind: a :class:`~verifier.vocabulary.DeductionKind`, an entry here, a label in
``verifier/report/labels_zh.py`` and a test.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from connectors.departments import RecordKind
from connectors.records import ContributionRecord
from verifier.assessment.arithmetic import round_half_up
from verifier.assessment.context import Context
from verifier.assessment.figures import DeductionLine
from verifier.assessment.notes import DeductionNote, NoteCode
from verifier.policy import Policy
from verifier.request import DeclaredDeduction, Member
from verifier.vocabulary import DeductionKind

__all__ = ["DEDUCTIONS", "MemberDeduction", "Receipt", "deduction_lines"]

_NOT_COUNTED: Final = DeductionNote.of(NoteCode.NOT_COUNTED)


@dataclass(frozen=True, slots=True)
class Receipt:
    """A kind declared with receipts, allowed as declared up to an optional cap per member and year."""

    cap: Callable[[Policy], int] | None = None

    def allow(self, policy: Policy, item: DeclaredDeduction, used: int) -> tuple[int, DeductionNote | None]:
        """The allowed amount of ``item`` when ``used`` of the member's cap is already taken, and why."""
        if self.cap is None:
            return item.amount_fen, None
        cap = self.cap(policy)
        allowed = min(item.amount_fen, max(cap - used, 0))
        note = DeductionNote.of(NoteCode.REHABILITATION_CAPPED, cap_fen=cap) if allowed < item.amount_fen else None
        return allowed, note


class MemberDeduction(Protocol):
    """A kind worked out per member: the lines it gives for one member of the request."""

    def lines(self, ctx: Context, member: Member, counted: bool, wage_months: int) -> Iterator[DeductionLine]:
        """The member's lines of this kind (none when nothing applies)."""
        ...


class PensionContribution:
    """The personal part of the pension contributions in the window; the declared amount when there is no record."""

    def lines(self, ctx: Context, member: Member, counted: bool, wage_months: int) -> Iterator[DeductionLine]:
        """One line when there are records or a declaration; 0 allowed for a member not counted."""
        kind = DeductionKind.PENSION_CONTRIBUTION
        declared = [d for d in ctx.request.deductions if d.kind == kind and d.id_number == member.id_number]
        declared_fen = sum(d.amount_fen for d in declared)
        evidence = "; ".join(d.evidence for d in declared)
        if not counted:
            if declared:
                yield DeductionLine(member.id_number, kind, declared_fen, 0, evidence, _NOT_COUNTED)
            return
        records = ctx.in_window(ContributionRecord, member.id_number)
        if records:
            ids = ", ".join(r.record_id for r in records)
            verified = sum(r.personal_part_fen for r in records)
            note = DeductionNote.of(NoteCode.PERSONAL_PART_IN_RECORDS)
            yield DeductionLine(
                member.id_number,
                kind,
                declared_fen,
                verified,
                evidence or f"social security records {ids}",
                note,
                tuple(records),
            )
        elif declared:
            answered = ctx.answered(RecordKind.CONTRIBUTION)
            note = DeductionNote.of(NoteCode.NO_RECORD_DECLARED if answered else NoteCode.NOT_ANSWERED_DECLARED)
            yield DeductionLine(member.id_number, kind, declared_fen, declared_fen, evidence, note)


class EmploymentCost:
    """A share of the standard for each month with wages, for members of an employment category."""

    def lines(self, ctx: Context, member: Member, counted: bool, wage_months: int) -> Iterator[DeductionLine]:
        """One line for a counted member of an employment category with wages in the window."""
        if member.employment_category is None or not counted or wage_months == 0:
            return
        rate = ctx.policy.employment_cost_rate
        yield DeductionLine(
            member.id_number,
            DeductionKind.EMPLOYMENT_COST,
            0,
            round_half_up(rate * ctx.standard * wage_months),
            f"{member.employment_category}, wages in {wage_months} month(s)",
            DeductionNote.of(NoteCode.EMPLOYMENT_COST, rate=rate, standard=ctx.standard, months=wage_months),
        )


DEDUCTIONS: Final[Mapping[DeductionKind, Receipt | MemberDeduction]] = {
    DeductionKind.MEDICAL: Receipt(),
    DeductionKind.REHABILITATION: Receipt(cap=lambda policy: policy.rehabilitation_cap_per_year_fen),
    DeductionKind.EDUCATION: Receipt(),
    DeductionKind.PENSION_CONTRIBUTION: PensionContribution(),
    DeductionKind.EMPLOYMENT_COST: EmploymentCost(),
}


def _receipts(ctx: Context, counted: Sequence[str]) -> Iterator[DeductionLine]:
    """The receipt kinds' lines, in the request's order, each cap shared by the member's items of its kind."""
    used: dict[tuple[str, str], int] = defaultdict(int)
    for item in ctx.request.deductions:
        entry = DEDUCTIONS.get(DeductionKind(item.kind))
        if not isinstance(entry, Receipt):
            continue
        if item.id_number not in counted:
            yield DeductionLine(item.id_number, item.kind, item.amount_fen, 0, item.evidence, _NOT_COUNTED)
            continue
        allowed, note = entry.allow(ctx.policy, item, used[item.id_number, item.kind])
        used[item.id_number, item.kind] += allowed
        yield DeductionLine(item.id_number, item.kind, item.amount_fen, allowed, item.evidence, note)


def deduction_lines(ctx: Context, counted: Sequence[str], wage_months: Mapping[str, int]) -> list[DeductionLine]:
    """Every deduction line of the household: receipts in request order, then each member kind member by member."""
    lines = list(_receipts(ctx, counted))
    for entry in DEDUCTIONS.values():
        if isinstance(entry, Receipt):
            continue
        for member in ctx.request.members:
            is_counted = member.id_number in counted
            lines += entry.lines(ctx, member, is_counted, wage_months.get(member.id_number, 0))
    return lines
