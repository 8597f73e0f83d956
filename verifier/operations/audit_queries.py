"""The audit resource: entries listed and filtered, signed tree heads, inclusion and consistency proofs,
and the export file ``hedui audit verify`` checks.

Issue 13 (review S1): a supervisor reads the entries of its area only — those whose organisation
(:func:`audit.organisation.entry_organisation`, stored in an indexed column) is one it :meth:`Scope.reads` —
filtered in the database, so pages are whole and their tokens stand on its own entries. A national supervisor
(``000000``) and a caller in this process read every entry, including the entries of no organisation, and only
they export the whole log. Checkpoints and consistency proofs name no entry: every caller the interceptor lets
through gets them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import AsyncIterator

from sqlalchemy import ColumnElement, and_

from audit import EVENT_KINDS, AuditLog, StoredEntry
from audit.checkpoint import CheckpointError, open_checkpoint
from audit.log import EntryFilter, EntryTampered, audit_entries
from audit.organisation import entry_organisation
from audit.tree import LogDamaged, ProofUnavailable, SignedTreeHead, SigningStopped, TransparencyLog
from audit.verify import CheckResult, LogCheckFailed, check_stored_log, export_stored_log
from audit.witnessing import policy_head, witnessing_of
from verifier.errors import FieldViolation, Reason, ServiceError
from verifier.operations._names import IN_PROCESS, LEAF_INDEX, Caller, refused_for_scope
from verifier.organisations import Scope
from verifier.page_tokens import PageTokens
from verifier.request import RequestError, filter_violations, identity_filter, in_instant_range
from verifier.storage.areas import readable
from verifier.storage.db import Database

__all__ = ["AuditQueries", "EventQuery"]

MAX_AUDIT_PAGE_SIZE = 500
log = logging.getLogger("hedui.service")


class EventQuery:
    """A ListAuditEvents call's filters, checked; every problem is a field violation."""

    __slots__ = ("bounds", "fields", "violations")

    def __init__(self, page_size: int, page_token: str, kind: str, since: str, until: str) -> None:
        """Check the page, the event kind and the time bounds."""
        self.violations: list[FieldViolation] = []
        if page_size < 0:
            self.violations.append(FieldViolation("page_size", "must not be negative"))
        if page_token and not LEAF_INDEX.fullmatch(page_token):
            self.violations.append(FieldViolation("page_token", "is not a token this service issued"))
        if kind and kind not in EVENT_KINDS:
            known = ", ".join(sorted(EVENT_KINDS))
            self.violations.append(FieldViolation("kind", f"unknown event kind; one of {known}"))
        self.bounds = (self._instant("since", since), self._instant("until", until))

    def _instant(self, field_name: str, value: str) -> dt.datetime | None:
        """An RFC 3339 bound with its offset, or ``None`` (a violation is noted when it is not one)."""
        try:
            instant = dt.datetime.fromisoformat(value) if value else None
        except ValueError:
            self.violations.append(
                FieldViolation(field_name, "must be an RFC 3339 instant, e.g. 2026-11-23T09:00:00+08:00")
            )
            return None
        if instant is not None and instant.tzinfo is None:
            self.violations.append(FieldViolation(field_name, "must name its time zone offset"))
        elif instant is not None and not in_instant_range(instant):  # issue 13 (input)
            self.violations.append(FieldViolation(field_name, "must be an instant from 1900 to 9998"))
            return None
        return instant


def reads_every_entry(scope: Scope | None) -> bool:
    """Whether a caller of ``scope`` reads the whole log: a caller in this process, or a national supervisor."""
    return scope is None or scope.area_prefix == ""


def sees_entry(scope: Scope | None, organisation: str) -> bool:
    """Whether a caller of ``scope`` reads an entry of ``organisation`` (``""``: of none, national only)."""
    return reads_every_entry(scope) or (bool(organisation) and scope is not None and scope.reads(organisation))


def entries_within(scope: Scope | None) -> ColumnElement[bool] | None:
    """:func:`sees_entry` as a condition on the entries' indexed ``organisation`` column (``None``: every entry).

    The area's codes as a range first (``5334`` ≤ id < ``5335``), which the index answers on both databases
    (digits sort alike in every collation), then the exact test of :func:`verifier.storage.areas.readable`.
    """
    if reads_every_entry(scope):
        return None
    assert scope is not None
    column = audit_entries.c.organisation
    exact = readable(column, scope)
    prefix = scope.area_prefix
    if not prefix:
        return exact
    bounds = [column >= prefix]
    if prefix.strip("9"):  # a prefix of nines has no next one: no upper bound
        bounds.append(column < str(int(prefix) + 1).zfill(len(prefix)))
    return and_(*bounds, exact)


def _refused(exc: SigningStopped | LogDamaged) -> ServiceError:
    """A read refused because the stored log does not match what the log signed."""
    return ServiceError(Reason.AUDIT_LOG_DAMAGED, f"the stored audit log does not match what it signed: {exc}")


class AuditQueries:
    """Read the audit log and prove what it holds; nothing is served while the stored log disagrees with what
    the log signed (``DATA_LOSS``, ``AUDIT_LOG_DAMAGED``)."""

    def __init__(self, db: Database, audit: AuditLog, transparency_log: TransparencyLog) -> None:
        """Read entries through ``audit``; prove them with ``transparency_log``."""
        self._db = db
        self._audit = audit
        self._log = transparency_log
        self.page_tokens = PageTokens()  # issue 13: the service sets its own (verifier/page_tokens.py)

    async def _integrated(self) -> None:
        """Integrate what was committed before the call; refuse when the log cannot sign (or could not)."""
        try:
            await self._log.integrate(self._db.write)
        except SigningStopped as exc:
            raise _refused(exc) from None

    def _undamaged(self) -> None:
        """Refuse to serve proofs or entries while the integrator found the stored log rewritten."""
        if self._log.damage is not None:
            raise ServiceError(Reason.AUDIT_LOG_DAMAGED, f"the audit log stopped signing: {self._log.damage}")

    async def list_events(
        self,
        *,
        page_size: int,
        page_token: str,
        verification: str = "",
        kind: str = "",
        subject_id_number: str = "",
        operator: str = "",
        department: str = "",
        since: str = "",
        until: str = "",
        caller: Caller = IN_PROCESS,
    ) -> tuple[list[StoredEntry], str]:
        """Audit entries in log order, filtered; ``subject_id_number`` is matched through its keyed hash; only
        the entries of ``caller``'s area (issue 13, :func:`sees_entry`).

        Entries are listed once they are under a signed head (they carry their leaf index), so the log is
        integrated first. Each is decoded from its signed bytes; a row whose columns disagree refuses the call
        (``DATA_LOSS``, naming the entry), never shown under edited values.
        """
        fields = (verification, kind, subject_id_number, operator, department, since, until, caller.organisation)
        scope = "\x00".join(("audit", *fields))
        position = self.page_tokens.position(page_token, scope)  # issue 13: NOT_ISSUED fails EventQuery's check
        checked = EventQuery(page_size, position, kind, since, until)
        checked.violations += filter_violations(  # issue 13 (input): nothing stranger than one-line text reaches SQL
            verification=verification, operator=operator, department=department
        )
        try:  # issue 13: an identity number's shape, or nothing (the fuzz suite's "Æ" reached the ASCII hash)
            subject_id_number = identity_filter(subject_id_number, "subject_id_number")
        except RequestError as exc:
            checked.violations += exc.violations
        if checked.violations:
            raise ServiceError.invalid(checked.violations)
        size = min(page_size or 50, MAX_AUDIT_PAGE_SIZE)
        await self._integrated()
        where = EntryFilter(
            verification=verification,
            kind=kind,
            operator=operator,
            department=department,
            subject=self._audit.subject(subject_id_number) if subject_id_number else "",
            since=checked.bounds[0],
            until=checked.bounds[1],
        )
        entries = await self._vouched(where, int(position) if position else -1, size + 1, caller)
        page = entries[:size]
        return page, self.page_tokens.seal(str(page[-1].index) if len(entries) > size else "", scope)

    async def _vouched(self, where: EntryFilter, after: int, limit: int, caller: Caller) -> list[StoredEntry]:
        """Up to ``limit`` entries after leaf ``after`` that pass ``where``, of ``caller``'s area, each one the
        leaf the proven tree holds (else ``DATA_LOSS``)."""
        try:
            async with self._db.sessions() as session:
                entries = await self._audit.entries(
                    session, after_index=after, limit=limit, where=where, within=entries_within(caller.scope)
                )
        except EntryTampered as exc:
            log.error("audit log: %s", exc)
            raise ServiceError(Reason.AUDIT_LOG_DAMAGED, f"the stored audit log is damaged: {exc}") from None
        for entry in entries:  # the stored leaf may have been edited with the entry: the proven tree decides
            if not self._log.vouches_for(entry.index, entry.entry):
                raise _refused(LogDamaged(f"entry {entry.index}: not the leaf the log signed (tampered)"))
        return entries

    async def check_log(self) -> CheckResult:
        """The stored log checked as ``hedui audit verify`` checks it (every leaf, every head, no strays),
        against this service's own log key."""
        async with self._db.sessions() as session:
            return await check_stored_log(session, self._log.verifier, origin=self._log.origin)

    async def integrate_own_log(self) -> bool:
        """Integrate the pending entries only when the newest signed head verifies with this service's key.

        For an admin command (``hedui keys …``) run beside the server: with the server's config it integrates
        what it appended; with another key (or on a log with no head yet) it leaves them to the running
        service, so a command never signs a tree head with a key of its own. Whether it integrated.
        """
        async with self._db.sessions() as session:
            head = await self._log.latest_head(session)
        if head is None:
            return False
        try:
            open_checkpoint(head.checkpoint, self._log.verifier, self._log.origin)
            await self._log.integrate(self._db.write)
        except (CheckpointError, SigningStopped):
            return False
        return True

    async def signed_tree_head(self, *, witnessed: bool = True) -> SignedTreeHead:
        """The newest signed tree head, after integrating whatever was committed before the call (``witnessed``:
        the newest one cosigned as the witness policy requires, with the cosignatures in its note)."""
        await self._integrated()
        async with self._db.sessions() as session:
            head = await self._log.latest_head(session)
        if head is None:
            raise ServiceError(Reason.AUDIT_LOG_EMPTY, "the audit log has no entries yet")
        try:
            head = self._log.checked(head)
            witnessing = witnessing_of(self._log)
            if witnessing is not None and witnessed:  # issue 12: the newest head cosigned as the policy says
                async with self._db.sessions() as session:
                    head = await policy_head(session, witnessing.policy, head, self._log.head_at, self._log.checked)
        except LogDamaged as exc:
            raise _refused(exc) from None
        if head is None:
            raise ServiceError(
                Reason.AUDIT_LOG_EMPTY, "no signed tree head is cosigned as the witness policy requires yet"
            )
        return head

    async def inclusion_proof(
        self, index: int, tree_size: int, caller: Caller = IN_PROCESS
    ) -> tuple[list[bytes], SignedTreeHead, bytes]:
        """The audit path of entry ``index`` at a signed tree size (0: the latest), with the entry itself; an
        entry outside ``caller``'s area is ``NOT_FOUND`` (issue 13), whatever the tree sizes asked for."""
        self._undamaged()
        try:
            async with self._db.sessions() as session:
                proof, head = await self._log.inclusion_proof(session, index, tree_size)
                entry = await self._log.entry_at(session, index)
            if not self._log.vouches_for(index, entry):
                raise LogDamaged(f"entry {index}: not the leaf the log signed (tampered)")
            if not sees_entry(caller.scope, _organisation_of(entry)):  # the signed entry's, not a column's
                raise refused_for_scope(ServiceError.not_found(f"auditEvents/{index}"))
        except ProofUnavailable as exc:
            raise ServiceError.invalid([FieldViolation(exc.field, exc.reason)], Reason.NO_SUCH_PROOF) from None
        except LogDamaged as exc:
            raise _refused(exc) from None
        return proof, head, entry

    async def consistency_proof(
        self, first_size: int, second_size: int
    ) -> tuple[list[bytes], SignedTreeHead | None, SignedTreeHead]:
        """Proof that the tree of ``first_size`` entries (any size a supervisor may hold a checkpoint of) is a
        prefix of a later signed one (second 0: the latest); the stored head of ``first_size`` if there is one."""
        self._undamaged()
        try:
            async with self._db.sessions() as session:
                return await self._log.consistency_proof(session, first_size, second_size)
        except ProofUnavailable as exc:
            raise ServiceError.invalid([FieldViolation(exc.field, exc.reason)], Reason.NO_SUCH_PROOF) from None
        except LogDamaged as exc:
            raise _refused(exc) from None

    async def export(self, caller: Caller = IN_PROCESS) -> AsyncIterator[bytes]:
        """The log up to its newest signed head, as the export file `hedui audit verify` checks: the whole
        log, every area's entries, so a national supervisor's only (issue 13; else PERMISSION_DENIED)."""
        if not reads_every_entry(caller.scope):
            raise refused_for_scope(
                ServiceError(
                    Reason.WHOLE_LOG_NATIONAL_ONLY,
                    "the whole audit log is exported to a national (000000) supervisor only; list the entries of "
                    "your area with ListAuditEvents",
                )
            )
        await self.signed_tree_head(witnessed=False)
        try:
            async for chunk in export_stored_log(self._db.sessions, log_key=self._log.signer.verifier_key()):
                yield chunk
        except LogCheckFailed as exc:
            log.error("audit export stopped: %s", exc)
            raise ServiceError(Reason.AUDIT_LOG_DAMAGED, f"the stored audit log is damaged: {exc}") from None


def _organisation_of(entry: bytes) -> str:
    """The organisation of a signed entry (its bytes, which the log vouched for)."""
    body = json.loads(entry)
    details = body.get("details")
    return entry_organisation(str(body.get("client", "")), details if isinstance(details, dict) else {})
