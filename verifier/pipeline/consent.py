"""Consent as it stands now: stored authorizations read back and checked again, and the gate that asks
:mod:`verifier.pipeline.plan` before each query leaves, before each poll and when an answer is stored."""

from __future__ import annotations

import json
from collections.abc import Sequence

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

__all__ = ["AuthorizationReader", "ConsentGate", "envelope_of"]

DEFAULT_CATALOGUE = DepartmentCatalogue()


def envelope_of(row_signatures: str, payload: bytes, payload_type: str) -> Envelope:
    """A stored authorization's envelope, rebuilt from its columns."""
    return Envelope(
        payload,
        payload_type,
        tuple(EnvelopeSignature(s["keyid"], bytes.fromhex(s["sig"])) for s in json.loads(row_signatures)),
    )


class AuthorizationReader:
    """Stored authorizations, with their signatures checked again against the trust store as it is now."""

    def __init__(self, db: Database) -> None:
        """Read from ``db``."""
        self._db = db

    async def trusted_keys(self, keyids: Sequence[str]) -> dict[str, TrustedKey]:
        """The trust store's keys with these ids, whatever their state."""
        async with self._db.sessions() as session:
            rows = await stored_keys.by_ids(session, keyids)
        return {
            r.keyid: TrustedKey(r.keyid, r.organisation, r.public_key_pem, r.not_before, r.not_after, r.revoked_at)
            for r in rows
        }

    async def registered(self, rows: Sequence[AuthorizationRow]) -> list[RegisteredAuthorization]:
        """Stored authorization rows as registered authorizations, judged against today's trust store."""
        stored = [(row, envelope_of(row.signatures_json, row.payload, row.payload_type)) for row in rows]
        certificates = {row.id: [envelope_from_json(c) for c in json.loads(row.certificates_json)] for row in rows}
        keyids = {k for row, envelope in stored for k in keyids_to_look_up(envelope, certificates[row.id])}
        trust = await self.trusted_keys(sorted(keyids)) if keyids else {}
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

        In a caller's ``session`` the rows are share-locked (PostgreSQL), so a revocation cannot
        commit between this read and the caller's commit: it waits, or it came first and is seen.
        """
        ids = [n.removeprefix("authorizations/") for n in names]
        if session is not None:
            rows = await stored_authorizations.by_ids(session, ids, share_lock=True)
        else:
            async with self._db.sessions() as own:
                rows = await stored_authorizations.by_ids(own, ids)
        return await self.registered([rows[i] for i in ids if i in rows])


class ConsentGate:
    """Decides consent again, now, for one department's members (the decision itself is :mod:`.plan`'s)."""

    def __init__(self, reader: AuthorizationReader, catalogue: DepartmentCatalogue = DEFAULT_CATALOGUE) -> None:
        """Read authorizations with ``reader``; ``catalogue`` declares whose records are about whom."""
        self._reader = reader
        self._catalogue = catalogue

    async def allowed_now(
        self, job: Job, department: str, ids: Sequence[str], session: AsyncSession | None = None
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(members that may still be asked about, members withdrawn).

        With ``session``, the authorizations are read (and on PostgreSQL share-locked) in that
        transaction, so a revocation either commits before it and is seen, or waits for it.
        """
        authorizations = await self._reader.by_names(job.authorization_names, session)
        return still_allowed(job, department, ids, authorizations, china_today())

    async def before_store(self, session: AsyncSession, job: Job, item: Settled) -> Settled:
        """In the storing transaction: drop what is about members withdrawn since the outcome came."""
        asked = tuple(n for n in item.asked if n not in item.outcome.withdrawn)
        if item.outcome.status not in (DepartmentStatus.OK, DepartmentStatus.PENDING) or not asked:
            return withdrawn_from(item, (), (), self._catalogue[item.department])
        allowed, ended = await self.allowed_now(job, item.department, asked, session)
        return withdrawn_from(item, allowed, ended, self._catalogue[item.department])
