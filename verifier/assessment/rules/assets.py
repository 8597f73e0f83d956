"""Assets (policy.md "Assets", warnings.md): financial holdings, real estate, vehicles and enterprises.

The figures (holdings on the application date, properties held then) are computed once by
:func:`counted_accounts` and :func:`counted_properties`; the rules read them from the facts.
Any of these warnings makes the household NOT_ELIGIBLE_ASSETS (:data:`ASSET_CODES`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from fractions import Fraction
from typing import ClassVar, Final

from connectors.departments import RecordKind
from connectors.records import AccountRecord, EnterpriseRecord, PropertyRecord, VehicleRecord
from verifier.assessment.arithmetic import months_before, round_half_up
from verifier.assessment.context import Context
from verifier.assessment.flags import ENTERPRISE_ROLE_ZH, WarningCode, WarningFlag, yuan
from verifier.assessment.rules.base import Facts

__all__ = [
    "ASSET_CODES",
    "Businesses",
    "FinancialAssets",
    "MultipleProperties",
    "NonResidentialProperties",
    "RecentTransfers",
    "Vehicles",
    "counted_accounts",
    "counted_properties",
    "owned_on",
]

EXEMPT_VEHICLE_TYPES: Final = frozenset({"motorcycle", "tricycle", "disability"})


def counted_accounts(ctx: Context, counted: Collection[str]) -> tuple[AccountRecord, ...]:
    """Each account record of a counted member is one holding; balances dated after the application date are not."""
    return tuple(
        r for r in ctx.records(AccountRecord) if r.id_number in counted and dt.date.fromisoformat(r.as_of) <= ctx.day
    )


def counted_properties(ctx: Context, counted: Collection[str]) -> tuple[PropertyRecord, ...]:
    """Every property record of a counted member (held or disposed of), by record id."""
    return tuple(r for r in ctx.records(PropertyRecord) if r.owner_id in counted)


def owned_on(record: PropertyRecord, day: dt.date) -> bool:
    """Whether the property is held on ``day``: acquired by then (or undated) and not yet disposed of."""
    acquired_ok = record.acquired is None or dt.date.fromisoformat(record.acquired) <= day
    kept = record.disposed is None or dt.date.fromisoformat(record.disposed) > day
    return acquired_ok and kept


class FinancialAssets:
    """FINANCIAL_ASSETS_ABOVE_LIMIT: holdings above the policy's months of the standard, per capita."""

    codes: ClassVar[tuple[WarningCode, ...]] = (WarningCode.FINANCIAL_ASSETS_ABOVE_LIMIT,)

    def flags(self, ctx: Context, facts: Facts) -> Iterable[WarningFlag]:
        """One household flag when the holdings exceed the limit times n."""
        n = facts.size
        limit_per_capita = ctx.policy.financial_assets_months * ctx.standard
        if n and facts.financial_assets_fen > limit_per_capita * n:
            yield ctx.flag(
                WarningCode.FINANCIAL_ASSETS_ABOVE_LIMIT,
                id_number=None,
                department=ctx.department_of(facts.accounts, RecordKind.ACCOUNT),
                evidence=tuple(ctx.evidence(r, "balance_fen", r.balance_fen) for r in facts.accounts),
                per_capita=yuan(round_half_up(Fraction(facts.financial_assets_fen, n))),
                limit=yuan(limit_per_capita),
            )


class RecentTransfers:
    """RECENT_PROPERTY_TRANSFER: a property disposed of within the policy's months before the application."""

    codes: ClassVar[tuple[WarningCode, ...]] = (WarningCode.RECENT_PROPERTY_TRANSFER,)

    def flags(self, ctx: Context, facts: Facts) -> Iterable[WarningFlag]:
        """One flag per recently disposed property."""
        since = months_before(ctx.day, ctx.policy.recent_transfer_months)
        for record in facts.properties:
            if record.disposed is not None and since < dt.date.fromisoformat(record.disposed) <= ctx.day:
                yield ctx.flag(
                    WarningCode.RECENT_PROPERTY_TRANSFER,
                    id_number=record.owner_id,
                    department=ctx.supplier(record),
                    evidence=(ctx.evidence(record, "disposed", record.disposed),),
                    date=record.disposed,
                )


class MultipleProperties:
    """MULTIPLE_PROPERTIES: more residential properties held than the policy allows."""

    codes: ClassVar[tuple[WarningCode, ...]] = (WarningCode.MULTIPLE_PROPERTIES,)

    def flags(self, ctx: Context, facts: Facts) -> Iterable[WarningFlag]:
        """One household flag over the residential properties held."""
        residential, allowed = facts.residential, ctx.policy.max_residential_properties
        if len(residential) > allowed:
            yield ctx.flag(
                WarningCode.MULTIPLE_PROPERTIES,
                id_number=None,
                department=ctx.department_of(residential, RecordKind.PROPERTY),
                evidence=tuple(ctx.evidence(r, "usage", r.usage) for r in residential),
                count=str(len(residential)),
                allowed=str(allowed),
            )


class NonResidentialProperties:
    """NON_RESIDENTIAL_PROPERTY: a commercial, office or industrial property held."""

    codes: ClassVar[tuple[WarningCode, ...]] = (WarningCode.NON_RESIDENTIAL_PROPERTY,)

    def flags(self, ctx: Context, facts: Facts) -> Iterable[WarningFlag]:
        """One flag per non-residential property held."""
        for record in facts.owned:
            if record.usage != "residential":
                yield ctx.flag(
                    WarningCode.NON_RESIDENTIAL_PROPERTY,
                    id_number=record.owner_id,
                    department=ctx.supplier(record),
                    evidence=(ctx.evidence(record, "usage", record.usage),),
                    usage=record.usage,
                )


class Vehicles:
    """VEHICLE_OWNED: a vehicle that is not exempt (by type, or an operating vehicle of low value)."""

    codes: ClassVar[tuple[WarningCode, ...]] = (WarningCode.VEHICLE_OWNED,)

    def flags(self, ctx: Context, facts: Facts) -> Iterable[WarningFlag]:
        """One flag per non-exempt vehicle of a counted member."""
        for record in ctx.records(VehicleRecord):
            if record.owner_id not in facts.counted or record.type in EXEMPT_VEHICLE_TYPES:
                continue
            if record.use == "operating" and record.value_fen <= ctx.policy.exempt_vehicle_value_fen:
                continue
            yield ctx.flag(
                WarningCode.VEHICLE_OWNED,
                id_number=record.owner_id,
                department=ctx.supplier(record),
                evidence=(
                    ctx.evidence(record, "type", record.type),
                    ctx.evidence(record, "value_fen", record.value_fen),
                ),
                plate=record.plate,
                type=record.type,
            )


class Businesses:
    """BUSINESS_REGISTERED: a counted member registered with an enterprise, whichever department says so."""

    codes: ClassVar[tuple[WarningCode, ...]] = (WarningCode.BUSINESS_REGISTERED,)

    def flags(self, ctx: Context, facts: Facts) -> Iterable[WarningFlag]:
        """One flag per enterprise record of a counted member."""
        for record in ctx.records(EnterpriseRecord):
            if record.id_number in facts.counted:
                yield ctx.flag(
                    WarningCode.BUSINESS_REGISTERED,
                    id_number=record.id_number,
                    department=ctx.supplier(record),
                    evidence=(ctx.evidence(record, "role", record.role),),
                    enterprise=record.enterprise,
                    role_zh=ENTERPRISE_ROLE_ZH[record.role],
                    role_en=record.role.replace("_", " "),
                )


ASSET_CODES: Final = frozenset(
    code
    for rule in (FinancialAssets, MultipleProperties, NonResidentialProperties, Vehicles, Businesses)
    for code in rule.codes
)
