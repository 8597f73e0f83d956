"""Every SQL statement about verifications and their departments' results (one aggregate)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from verifier.organisations import Scope
from verifier.storage import core
from verifier.storage.areas import readable
from verifier.storage.models import ConsentEpochRow, DepartmentResultRow, VerificationRow
from verifier.storage.sealing import open_rows, seal_values  # issue 17: cells sealed at rest
from verifier.vocabulary import DepartmentStatus, VerificationState

__all__ = [
    "add",
    "get",
    "id_for_request",
    "id_for_request_and_consent_epoch",
    "lock",
    "lock_with_consent_epoch",
    "lock_with_consent_epoch_and_version",
    "next_report_version",
    "page",
    "renew_ticket",
    "result",
    "results",
    "results_for_report",
    "snapshot",
    "update_results",
]


# The statements of every verification, built once: SQLAlchemy then neither builds nor keys them per call.
_VERIFICATIONS = cast(Table, VerificationRow.__table__)
_RESULTS = cast(Table, DepartmentResultRow.__table__)
_ID_FOR_REQUEST = select(_VERIFICATIONS.c.id).where(
    _VERIFICATIONS.c.commissioned_by == bindparam("b_organisation"),
    _VERIFICATIONS.c.request_id == bindparam("b_request"),
)
_INSERT_VERIFICATION = insert(_VERIFICATIONS)
_INSERT_RESULTS = insert(_RESULTS)
_NEXT_VERSION = (
    update(_VERIFICATIONS)
    .where(_VERIFICATIONS.c.id == bindparam("b_verification"))
    .values(
        latest_report_version=_VERIFICATIONS.c.latest_report_version + 1,
        state=bindparam("b_state"),
        updated_at=bindparam("b_updated_at"),
    )
    .returning(_VERIFICATIONS.c.latest_report_version)
)
_LOCK = (
    select(_VERIFICATIONS.c.latest_report_version)
    .where(_VERIFICATIONS.c.id == bindparam("b_verification"))
    .with_for_update()
)


def _snapshot_query() -> Any:
    """The verification and its results, joined (see :func:`snapshot`)."""
    v, r = _VERIFICATIONS.c, _RESULTS.c
    return (
        select(
            v.id,
            v.state,
            v.request_json,
            v.authorizations_json,
            v.created_at,
            v.updated_at,
            v.latest_report_version,
            v.operator,
            r.department,
            r.status,
            r.record_count,
            r.detail,
            r.updated_at.label("department_updated_at"),
        )
        .select_from(_VERIFICATIONS.outerjoin(_RESULTS, r.verification_id == v.id))
        .where(v.id == bindparam("b_verification"))
        .order_by(r.department)
    )


_SNAPSHOT = _snapshot_query()


async def id_for_request(session: AsyncSession, commissioned_by: str, request_id: str) -> str | None:
    """The verification ``commissioned_by`` created under ``request_id`` (a retried call), if any: a key is its
    organisation's (issue 13)."""
    return await session.scalar(_ID_FOR_REQUEST, {"b_organisation": commissioned_by, "b_request": request_id})


# The look-up of a retried call and the consent epoch, in one statement (CreateVerification reads both first).
_ID_FOR_REQUEST_AND_EPOCH = select(ConsentEpochRow.value, _ID_FOR_REQUEST.scalar_subquery()).where(
    ConsentEpochRow.id == 1
)
_ID_FOR_REQUEST_AND_EPOCH_SHARED = _ID_FOR_REQUEST_AND_EPOCH.with_for_update(read=True, of=ConsentEpochRow)


async def id_for_request_and_consent_epoch(
    session: AsyncSession, commissioned_by: str, request_id: str, *, share_lock: bool = False
) -> tuple[str | None, int]:
    """:func:`id_for_request` and the consent epoch (``authorizations.consent_epoch``; ``share_lock``: share-locked
    on PostgreSQL), read in ONE statement: one snapshot, one round trip."""
    statement = _ID_FOR_REQUEST_AND_EPOCH_SHARED if share_lock else _ID_FOR_REQUEST_AND_EPOCH
    parameters = {"b_organisation": commissioned_by, "b_request": request_id}
    row: Any = (await core.execute(session, statement, parameters)).first()
    if row is None:  # no epoch row (a database before its migration's row): no revocation counted yet
        return await id_for_request(session, commissioned_by, request_id), 0
    return row[1], int(row[0] or 0)


_KEY = ("verification_id", "department")
_UPDATE_RESULT = update(_RESULTS).where(
    _RESULTS.c.verification_id == bindparam("b_verification"), _RESULTS.c.department == bindparam("b_department")
)


async def add(session: AsyncSession, values: Mapping[str, Any], results: Sequence[Mapping[str, Any]]) -> None:
    """Store a new verification and one result row per department, in the caller's transaction.

    A second verification with the same ``request_id`` raises ``IntegrityError`` at commit or here. On PostgreSQL
    ONE statement inserts both (the verification a data-modifying CTE: one round trip less on the way to the
    first department query; the results' foreign key is checked at the statement's end, when the row is there).
    """
    verification = await seal_values(session, "verifications", values)
    sealed = [await seal_values(session, "department_results", r) for r in results]
    if sealed and session.get_bind().dialect.name == "postgresql":
        parent = insert(_VERIFICATIONS).values(verification).cte("new_verification")
        await core.execute(session, insert(_RESULTS).values(sealed).add_cte(parent))
        return
    await core.execute(session, _INSERT_VERIFICATION, verification)
    if sealed:
        await core.execute(session, _INSERT_RESULTS, sealed)


async def get(session: AsyncSession, verification_id: str) -> VerificationRow | None:
    """One verification by id."""
    return await session.get(VerificationRow, verification_id)


async def snapshot(session: AsyncSession, verification_id: str) -> Sequence[Any]:
    """The verification and its departments' progress, one row per department, read in ONE statement
    (so the state and the progress come from one snapshot); empty when there is no such verification."""
    rows = (await core.execute(session, _SNAPSHOT, {"b_verification": verification_id})).all()
    return await open_rows(session, "verifications", rows, [verification_id] * len(rows))


async def page(
    session: AsyncSession,
    *,
    limit: int,
    commissioned_by: str = "",
    before: tuple[dt.datetime, str] | None = None,
    scope: Scope | None = None,
) -> Sequence[Any]:
    """Up to ``limit`` (id, created_at), newest first, optionally of one organisation and after a
    (created_at, id) seen on the previous page; only of the organisations in ``scope`` (issue 13) if given."""
    query = select(VerificationRow.id, VerificationRow.created_at).order_by(
        VerificationRow.created_at.desc(), VerificationRow.id.desc()
    )
    if commissioned_by:
        query = query.where(VerificationRow.commissioned_by == commissioned_by)
    if scope is not None:
        query = query.where(readable(VerificationRow.commissioned_by, scope))
    if before is not None:
        created, last_id = before
        query = query.where(
            (VerificationRow.created_at < created)
            | ((VerificationRow.created_at == created) & (VerificationRow.id < last_id))
        )
    return (await session.execute(query.limit(limit))).all()


async def results(session: AsyncSession, verification_id: str) -> Sequence[DepartmentResultRow]:
    """Every department's result row of one verification."""
    r = DepartmentResultRow
    return (await session.scalars(select(r).where(r.verification_id == verification_id))).all()


async def result(session: AsyncSession, verification_id: str, department: str) -> DepartmentResultRow | None:
    """One department's result row."""
    return await session.get(DepartmentResultRow, (verification_id, department))


async def update_results(session: AsyncSession, rows: Sequence[Mapping[str, object]]) -> None:
    """Update result rows by primary key (``verification_id``, ``department``) with the values given: one
    statement for each set of columns updated (usually one), through the table (no ORM bookkeeping)."""
    groups: dict[tuple[str, ...], list[Mapping[str, object]]] = {}
    for row in [await seal_values(session, "department_results", r) for r in rows]:
        groups.setdefault(tuple(k for k in row if k not in _KEY), []).append(row)
    for group in groups.values():
        parameters = [
            {"b_verification": r["verification_id"], "b_department": r["department"]}
            | {k: v for k, v in r.items() if k not in _KEY}
            for r in group
        ]
        await core.execute(session, _UPDATE_RESULT, parameters)


async def renew_ticket(
    session: AsyncSession, verification_id: str, department: str, ticket_id: str, ready_after: dt.datetime
) -> None:
    """Keep a department's new ticket (or new ready time) for an answer that is still pending."""
    r = DepartmentResultRow
    await session.execute(
        update(r)
        .where(r.verification_id == verification_id, r.department == department, r.status == DepartmentStatus.PENDING)
        .values(
            ticket_id=(
                await seal_values(
                    session, "department_results", {"ticket_id": ticket_id}, row=f"{verification_id}/{department}"
                )
            )["ticket_id"],
            ticket_ready_after=ready_after,
        )
    )


async def lock(session: AsyncSession, verification_id: str) -> None:
    """Lock the verification row until the transaction ends (publishers serialise on it). Nothing to do on
    SQLite: it has no row locks (FOR UPDATE), and its writers take turns anyway (one at a time)."""
    if session.get_bind().dialect.name == "sqlite":
        return
    await core.execute(session, _LOCK, {"b_verification": verification_id})


# PostgreSQL: the verification locked for update and the consent epoch share-locked, in one round trip (two
# locking clauses; SQLAlchemy's with_for_update writes one).
_LOCK_WITH_EPOCH = text(
    "SELECT consent_epoch.value, verifications.latest_report_version"
    " FROM consent_epoch JOIN verifications ON verifications.id = :b_verification"
    " WHERE consent_epoch.id = 1"
    " FOR SHARE OF consent_epoch FOR UPDATE OF verifications"
)


async def lock_with_consent_epoch(session: AsyncSession, verification_id: str) -> int | None:
    """:func:`lock` and the consent epoch share-locked (``authorizations.consent_epoch(share_lock=True)``) in ONE
    statement on PostgreSQL; returns the epoch. ``None`` where nothing was locked: on SQLite (no row locks; the
    caller reads the epoch itself), or when there is no such verification (or no epoch row)."""
    locked = await lock_with_consent_epoch_and_version(session, verification_id)
    return None if locked is None else locked[0]


async def lock_with_consent_epoch_and_version(session: AsyncSession, verification_id: str) -> tuple[int, int] | None:
    """:func:`lock_with_consent_epoch`, also returning the verification's latest report version as locked (so a
    publisher in this transaction knows the next one: ``reports.add_with_next_version``): (epoch, version)."""
    if session.get_bind().dialect.name == "sqlite":
        return None
    row: Any = (await core.execute(session, _LOCK_WITH_EPOCH, {"b_verification": verification_id})).first()
    return None if row is None else (int(row[0] or 0), int(row[1] or 0))


async def results_for_report(session: AsyncSession, verification_id: str) -> Sequence[Any]:
    """What the assessment reads of each department's result."""
    r = DepartmentResultRow
    query = select(r.department, r.status, r.detail, r.records_json, r.not_queried_json, r.answered_at).where(
        r.verification_id == verification_id
    )
    rows = (await session.execute(query)).all()
    return await open_rows(session, "department_results", rows, [f"{verification_id}/{r.department}" for r in rows])


async def next_report_version(
    session: AsyncSession, verification_id: str, state: VerificationState, at: dt.datetime
) -> int:
    """Take the next report version number and set the state; this also locks the verification."""
    version = await core.scalar(
        session, _NEXT_VERSION, {"b_verification": verification_id, "b_state": str(state), "b_updated_at": at}
    )
    if version is None:
        raise LookupError(verification_id)
    return int(version)
