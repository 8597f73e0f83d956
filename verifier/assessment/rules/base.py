"""The shape of a warning rule: a tiny class over the :class:`Context` and the household's computed :class:`Facts`.

A rule raises the warnings of one family (warnings.md). It reads records by type through the
context and names the department that supplied them; it never decides anything but its own flags.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

from connectors.records import AccountRecord, PropertyRecord
from verifier.assessment.context import Context
from verifier.assessment.flags import WarningCode, WarningFlag
from verifier.assessment.income import MemberIncome
from verifier.assessment.recheck import GradualExitFigures, PreviousReport

__all__ = ["Facts", "GradualExitFigures", "Rule"]


@dataclass(frozen=True, slots=True)
class Facts:
    """What the figures of the assessment established, for the rules to read."""

    counted: tuple[str, ...]  # identity numbers of the members counted in the household, in request order
    incomes: Mapping[str, MemberIncome]  # the counted members' verified income
    per_capita_fen: int  # per-capita monthly income after deductions
    accounts: tuple[AccountRecord, ...]  # the counted members' holdings on the application date
    financial_assets_fen: int
    properties: tuple[PropertyRecord, ...]  # the counted members' property records (owned or not)
    owned: tuple[PropertyRecord, ...]  # of those, the ones held on the application date
    previous: PreviousReport | None = None  # a recheck's previous report
    gradual_exit: GradualExitFigures | None = None

    @property
    def size(self) -> int:
        """The household size n: members counted."""
        return len(self.counted)

    @property
    def residential(self) -> tuple[PropertyRecord, ...]:
        """Owned residential properties."""
        return tuple(r for r in self.owned if r.usage == "residential")


class Rule(Protocol):
    """One warning family: the codes it may raise, and the flags it raises for one household."""

    codes: ClassVar[tuple[WarningCode, ...]]

    def flags(self, ctx: Context, facts: Facts) -> Iterable[WarningFlag]:
        """The warnings of this family for the household, in report order."""
        ...
