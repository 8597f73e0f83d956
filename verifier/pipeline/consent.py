"""Consent as it stands now: stored authorizations read back and checked again, and the gate that asks
:mod:`verifier.pipeline.plan` before each query leaves, before each poll and when an answer is stored.

A verification's authorizations are read (and their signatures checked) once, with the consent epoch
that every revocation bumps; a later decision reads only the epoch, and reads the authorizations again
only when it moved. In the transaction that stores an answer the epoch is share-locked (PostgreSQL), so a
revocation committing first is seen and one committing later waits.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from connectors.departments import DepartmentCatalogue
from consent import (
    Envelope,
    EnvelopeSignature,
    RegisteredAuthorization,
    TrustedKey,
    china_today,
    envelope_from_json,
    keyids_to_look_up,
    registered_authorization,
)
from verifier.pipeline.answers import Settled, withdrawn_from
from verifier.pipeline.plan import Job, still_allowed
from verifier.storage import authorizations as stored_authorizations
from verifier.storage import trust_store as stored_keys
from verifier.storage.db import Database
from verifier.storage.models import AuthorizationRow
from verifier.vocabulary import DepartmentStatus

__all__ = ["AuthorizationReader", "Consent", "ConsentGate", "envelope_of"]

DEFAULT_CATALOGUE = DepartmentCatalogue()


def envelope_of(row_signatures: str, payload: bytes, payload_type: str) -> Envelope:
    """A stored authorization's envelope, rebuilt from its columns."""
    return Envelope(
        payload,
        payload_type,
        tuple(EnvelopeSignature(s["keyid"], bytes.fromhex(s["sig"])) for s in json.loads(row_signatures)),
    )


@dataclass(frozen=True, slots=True)
class Consent:
    """A verification's authorizations as they stand at consent epoch ``epoch``."""

    epoch: int
    authorizations: tuple[RegisteredAuthorization, ...]


class AuthorizationReader:
    """Stored authorizations, with their signatures checked again against the trust store as it is now."""

    KEEP = 10_000
    """Registered authorizations kept across verifications (per consent epoch), the oldest forgotten first."""

    def __init__(self, db: Database) -> None:
        """Read from ``db``."""
        self.db = db
        self._known: dict[str, tuple[int, RegisteredAuthorization]] = {}

    def keep(self, epoch: int, authorization: RegisteredAuthorization) -> None:
        """Remember an authorization as judged at consent epoch ``epoch`` (its registration, or a read)."""
        key = authorization.name.removeprefix("authorizations/")
        self._known.pop(key, None)
        self._known[key] = (epoch, authorization)
        while len(self._known) > self.KEEP:
            del self._known[next(iter(self._known))]

    async def trusted_keys(self, keyids: Sequence[str], session: AsyncSession | None = None) -> dict[str, TrustedKey]:
        """The trust store's keys with these ids, whatever their state (in ``session`` if given)."""
        if session is None:
            async with self.db.sessions() as own:
                return await self.trusted_keys(keyids, own)
        rows = await stored_keys.by_ids(session, keyids)
        return {
            r.keyid: TrustedKey(r.keyid, r.organisation, r.public_key_pem, r.not_before, r.not_after, r.revoked_at)
            for r in rows
        }

    async def registered(
        self, rows: Sequence[AuthorizationRow], session: AsyncSession | None = None
    ) -> list[RegisteredAuthorization]:
        """Stored authorization rows as registered authorizations, judged against today's trust store."""
        stored = [(row, envelope_of(row.signatures_json, row.payload, row.payload_type)) for row in rows]
        certificates = {row.id: [envelope_from_json(c) for c in json.loads(row.certificates_json)] for row in rows}
        keyids = {k for row, envelope in stored for k in keyids_to_look_up(envelope, certificates[row.id])}
        trust = await self.trusted_keys(sorted(keyids), session) if keyids else {}
        return [
            registered_authorization(
                row.id,
                envelope,
                certificates[row.id],
                trust,
                row.registered_at,
                revoked_at=row.revoked_at,
                revoke_reason=row.revoke_reason,
            )
            for row, envelope in stored
        ]

    async def by_names(
        self, names: Sequence[str], session: AsyncSession | None = None
    ) -> list[RegisteredAuthorization]:
        """Authorizations by name (``authorizations/{id}`` or the bare id), in the order asked, missing ones left out.

        In a caller's ``session`` everything is read in that session (never a second connection).
        """
        if session is None:
            async with self.db.sessions() as own:
                return await self.by_names(names, own)
        ids = [n.removeprefix("authorizations/") for n in names]
        rows = await stored_authorizations.by_ids(session, ids)
        return await self.registered([rows[i] for i in ids if i in rows], session)

    async def current(
        self,
        names: Sequence[str],
        session: AsyncSession | None = None,
        *,
        share_lock: bool = False,
        epoch: int | None = None,
    ) -> Consent:
        """The consent epoch (``share_lock``: share-locked, PostgreSQL), then the authorizations named (read
        after it: a revocation between the two reads is seen now or, having bumped the epoch, at the next
        check). An authorization judged at this same epoch before (registered here, or read for this or
        another verification) is not read again: nothing that could change its judgement has happened since
        (every such change bumps the epoch). So a decision costs one read while the epoch stands still.

        ``epoch``: the epoch as the caller just read it in ``session`` (share-locked if ``share_lock``), not read again.
        """
        if session is None:
            async with self.db.sessions() as own:
                return await self.current(names, own, share_lock=share_lock, epoch=epoch)
        if epoch is None:
            epoch = await stored_authorizations.consent_epoch(session, share_lock=share_lock)
        ids = [n.removeprefix("authorizations/") for n in names]
        judged = {i: kept[1] for i in ids if (kept := self._known.get(i)) is not None and kept[0] == epoch}
        missing = [i for i in ids if i not in judged]
        for authorization in await self.by_names(missing, session) if missing else []:
            self.keep(epoch, authorization)
            judged[authorization.name.removeprefix("authorizations/")] = authorization
        return Consent(epoch, tuple(judged[i] for i in ids if i in judged))


class ConsentGate:
    """Decides consent again, now, for one department's members (the decision itself is :mod:`.plan`'s).

    Each decision reads the consent epoch again — before a query leaves (the queries of one verification
    leaving together share one read) and, share-locked, when an answer is stored — and the authorizations
    as :meth:`AuthorizationReader.current` keeps them: read and checked again only when the epoch moved.
    """

    def __init__(self, reader: AuthorizationReader, catalogue: DepartmentCatalogue = DEFAULT_CATALOGUE) -> None:
        """Read authorizations with ``reader``; ``catalogue`` declares whose records are about whom."""
        self._reader = reader
        self._catalogue = catalogue
        self._reading: dict[str, asyncio.Future[Consent]] = {}

    def changed(self) -> None:
        """Consent changed in this process (a revocation): no decision from now on joins a read begun before."""
        self._reading.clear()

    async def authorizations(
        self, job: Job, session: AsyncSession | None = None, *, epoch: int | None = None
    ) -> tuple[RegisteredAuthorization, ...]:
        """The job's authorizations as they stand now (in ``session``, share-locked, if given; ``epoch``: as
        :meth:`consent`)."""
        return (await self.consent(job, session, epoch=epoch)).authorizations

    async def consent(self, job: Job, session: AsyncSession | None = None, *, epoch: int | None = None) -> Consent:
        """The job's authorizations as they stand now, with the consent epoch they were read at (in ``session``,
        share-locked, if given; ``epoch``: the epoch the caller just read share-locked in ``session``)."""
        if session is not None:
            return await self._reader.current(job.authorization_names, session, share_lock=True, epoch=epoch)
        # Queries of one verification leave together: the decisions made at the same moment share one read.
        reading = self._reading.get(job.verification_id)
        if reading is None:
            reading = asyncio.ensure_future(self._reader.current(job.authorization_names))
            self._reading[job.verification_id] = reading
            reading.add_done_callback(lambda done: self._read_done(job.verification_id, done))
        return await asyncio.shield(reading)

    def _read_done(self, verification_id: str, done: asyncio.Future[Consent]) -> None:
        """A shared read ended: later decisions start their own (unless :meth:`changed` dropped it already)."""
        if self._reading.get(verification_id) is done:
            del self._reading[verification_id]

    async def allowed_now(
        self, job: Job, department: str, ids: Sequence[str], session: AsyncSession | None = None
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(members that may still be asked about, members withdrawn).

        With ``session``, the epoch is read (and on PostgreSQL share-locked) in that transaction, so a
        revocation either commits before it and is seen, or waits for it.
        """
        authorizations = await self.authorizations(job, session)
        return still_allowed(job, department, ids, authorizations, china_today())

    async def decided_now(
        self, job: Job, department: str, ids: Sequence[str]
    ) -> tuple[tuple[str, ...], tuple[str, ...], int]:
        """:meth:`allowed_now` (without a session), and the consent epoch the decision was made at."""
        consent = await self.consent(job)
        allowed, ended = still_allowed(job, department, ids, consent.authorizations, china_today())
        return allowed, ended, consent.epoch

    async def before_store(
        self, session: AsyncSession, job: Job, items: Sequence[Settled], *, epoch: int | None = None
    ) -> list[Settled]:
        """In the storing transaction: drop what is about members withdrawn since the outcomes came (``epoch``:
        the consent epoch the transaction just share-locked, not read again)."""
        authorizations = await self.authorizations(job, session, epoch=epoch)
        today = china_today()
        kept: list[Settled] = []
        for item in items:
            declaration = self._catalogue[item.department]
            asked = tuple(n for n in item.asked if n not in item.outcome.withdrawn)
            if item.outcome.status not in (DepartmentStatus.OK, DepartmentStatus.PENDING) or not asked:
                kept.append(withdrawn_from(item, (), (), declaration))
                continue
            allowed, ended = still_allowed(job, item.department, asked, authorizations, today)
            kept.append(withdrawn_from(item, allowed, ended, declaration))
        return kept
