"""Every SQL statement about stored report versions (immutable: a new version is a new row)."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from verifier.storage import core
from verifier.storage.models import ReportRow, VerificationRow
from verifier.storage.sealing import open_rows, open_value, seal_values  # issue 17: cells sealed at rest

__all__ = ["add", "add_with_next_version", "body_of", "commissioned_by", "for_reading", "get"]

_REPORTS = cast(Table, ReportRow.__table__)
_VERIFICATIONS = cast(Table, VerificationRow.__table__)
_INSERT_REPORT = insert(_REPORTS)


def _add_with_next_version() -> Any:
    """PostgreSQL: the verification's next version and state, and the report row, in ONE statement (a
    data-modifying CTE): ``WITH bumped AS (UPDATE verifications … RETURNING id) INSERT INTO reports … SELECT …
    FROM bumped``; nothing is inserted unless the version was the one expected."""
    v, r = _VERIFICATIONS.c, _REPORTS.c
    bumped = (
        update(_VERIFICATIONS)
        .where(v.id == bindparam("b_verification"), v.latest_report_version == bindparam("b_previous"))
        .values(
            latest_report_version=bindparam("b_next"), state=bindparam("b_state"), updated_at=bindparam("b_updated_at")
        )
        .returning(v.id)
        .cte("bumped")
    )
    row = select(
        bindparam("b_report", type_=r.id.type),
        bumped.c.id,
        bindparam("b_version", type_=r.version.type),
        bindparam("b_at", type_=r.created_at.type),
        bindparam("b_body", type_=r.body_json.type),
    ).select_from(bumped)
    return (
        insert(_REPORTS)
        .from_select(["id", "verification_id", "version", "created_at", "body_json"], row)
        .add_cte(bumped)
    )


_ADD_WITH_NEXT_VERSION = _add_with_next_version()


def _for_reading(latest: bool) -> Any:
    """:func:`for_reading`'s statement (built once): the latest version, or the one bound as ``b_version``."""
    v, r = VerificationRow, ReportRow
    wanted = v.latest_report_version if latest else bindparam("b_version")
    return (
        select(v.latest_report_version, r.id.label("report_id"), r.version, r.body_json, v.commissioned_by)
        .select_from(v)
        .outerjoin(r, (r.verification_id == v.id) & (r.version == wanted))
        .where(v.id == bindparam("b_verification"))
    )


_FOR_READING_LATEST = _for_reading(latest=True)
_FOR_READING_VERSION = _for_reading(latest=False)


async def add(
    session: AsyncSession,
    *,
    report_id: str,
    verification_id: str,
    version: int,
    created_at: dt.datetime,
    body_json: str,
) -> None:
    """Store one report version in the caller's transaction."""
    await core.execute(
        session,
        _INSERT_REPORT,
        {
            "id": report_id,
            "verification_id": verification_id,
            "version": version,
            "created_at": created_at,
            "body_json": (await seal_values(session, "reports", {"body_json": body_json}, row=report_id))["body_json"],
        },
    )


async def add_with_next_version(
    session: AsyncSession,
    *,
    report_id: str,
    verification_id: str,
    version: int,
    state: str,
    created_at: dt.datetime,
    body_json: str,
) -> None:
    """PostgreSQL: store report version ``version`` and make it the verification's latest (with its ``state``,
    updated at ``created_at``) in ONE statement, in the caller's transaction, which locked the verification and read
    its latest version as ``version - 1`` (``verifications.lock_with_consent_epoch_and_version``). ``LookupError``
    when the verification is not at that version (nothing is written)."""
    sealed = (await seal_values(session, "reports", {"body_json": body_json}, row=report_id))["body_json"]
    parameters = {
        "b_verification": verification_id,
        "b_previous": version - 1,
        "b_next": version,
        "b_version": version,
        "b_state": state,
        "b_updated_at": created_at,
        "b_at": created_at,
        "b_report": report_id,
        "b_body": sealed,
    }
    result = await core.execute(session, _ADD_WITH_NEXT_VERSION, parameters)
    if result.rowcount != 1:
        raise LookupError(verification_id)


async def get(session: AsyncSession, verification_id: str, version: int) -> ReportRow | None:
    """One version of a verification's report, if it exists."""
    return await session.scalar(
        select(ReportRow).where(ReportRow.verification_id == verification_id, ReportRow.version == version)
    )


async def for_reading(session: AsyncSession, verification_id: str, version: int | None) -> Any | None:
    """A verification's latest version number and one of its reports (``version``; ``None``: the latest), in ONE
    statement: ``None`` when there is no such verification; the report's columns (``report_id``, ``version``,
    ``body_json``) are ``None`` when it has no such report; ``commissioned_by`` is the verification's organisation."""
    if version is None:
        row = (await core.execute(session, _FOR_READING_LATEST, {"b_verification": verification_id})).first()
    else:
        parameters = {"b_verification": verification_id, "b_version": version}
        row = (await core.execute(session, _FOR_READING_VERSION, parameters)).first()
    if row is None or row.body_json is None:
        return row
    return (await open_rows(session, "reports", [row], [row.report_id]))[0]


async def body_of(session: AsyncSession, report_id: str) -> str | None:
    """The stored JSON body of the report ``report_id`` (``None``: no such report)."""
    stored = await session.scalar(select(ReportRow.body_json).where(ReportRow.id == report_id))
    return None if stored is None else str(await open_value(session, "reports", "body_json", report_id, stored))


async def commissioned_by(session: AsyncSession, report_id: str) -> str | None:
    """The organisation that commissioned the verification a report belongs to (``None``: no such report)."""
    return await session.scalar(
        select(VerificationRow.commissioned_by)
        .join(ReportRow, ReportRow.verification_id == VerificationRow.id)
        .where(ReportRow.id == report_id)
    )
