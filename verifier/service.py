"""The composition root: builds hedui's parts (storage, pipeline, operations) and starts and stops them.

The gRPC servicers and the commands call the operations (``service.authorizations``,
``service.trust_store``, ``service.verifications``, ``service.reports``, ``service.audit_queries``).
The methods below the lifecycle are one-line delegates kept for the commands until they call the
operations directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from audit import AuditLog, StoredEntry
from audit.checkpoint import NoteSigner
from audit.group import GroupCommit
from audit.tree import SignedTreeHead, TransparencyLog
from audit.witness import FileWitness
from connectors.base import Connector
from connectors.resilience import ResilientConnector, SharedBatches
from consent import Envelope, RegisteredAuthorization, TrustedKey
from verifier.config import Settings
from verifier.operations import (
    AuditQueries,
    Authorizations,
    Caller,
    DepartmentProgress,
    Reports,
    TrustStore,
    Verifications,
    VerificationView,
)
from verifier.pipeline import Pipeline
from verifier.pipeline.consent import envelope_of
from verifier.policy import PolicyBook
from verifier.request import VerificationRequest
from verifier.storage.db import Database

__all__ = ["Caller", "DepartmentProgress", "HeduiService", "PolicyBook", "VerificationView"]

log = logging.getLogger("hedui.service")
_NOBODY = Caller()


class HeduiService:
    """hedui's parts, built once over one database, its departments' connectors and its settings."""

    def __init__(
        self,
        db: Database,
        connectors: Mapping[str, Connector],
        settings: Settings,
        policies: PolicyBook | None = None,
    ) -> None:
        """Build every part; nothing runs until :meth:`start`."""
        self.db = db
        self.settings = settings
        # Every department call goes through the resilience layer: limits, retries, breaker, shared batches.
        undeclared = sorted(set(connectors) - set(settings.catalogue))
        if undeclared:
            raise ValueError(f"departments.{undeclared[0]}: a connector for a department that is not declared")
        self._departments = dict(connectors)
        self.connectors: dict[str, Connector] = {
            department: self._resilient(department, connector) for department, connector in connectors.items()
        }
        self.policies = policies or PolicyBook.load(settings.policy_files, departments=settings.catalogue)
        self.audit = AuditLog(settings.audit_subject_key)
        signer = NoteSigner.from_private_bytes(settings.audit_log_origin, settings.audit_log_key)
        self.log = TransparencyLog(
            settings.audit_log_origin,
            signer,
            [FileWitness.open(directory, signer.verifier_key()) for directory in settings.witness_dirs],
        )
        self._integrator: asyncio.Task[None] | None = None
        self.standalone_events = GroupCommit(self.audit, db.write)
        self.pipeline = Pipeline(db, self.connectors, self.audit, settings, self.policies.for_request)
        self.authorizations = Authorizations(
            db, self.audit, self.pipeline.authorizations, self.pipeline.withdraw, tuple(settings.catalogue)
        )
        self.trust_store = TrustStore(db, self.audit)
        self.verifications = Verifications(db, self.pipeline, self.connectors, self.policies)
        self.reports = Reports(db, self.standalone_events, settings.catalogue)
        self.audit_queries = AuditQueries(db, self.audit, self.log)

    async def start(self) -> None:
        """Apply migrations, resume work a previous run left unfinished, integrate the audit log from now on."""
        await self.db.migrate()
        await self._connect_departments()
        await self.pipeline.resume()
        self._integrator = asyncio.create_task(self._integrate_forever(), name="hedui-audit-integrator")

    async def _connect_departments(self) -> None:
        """Connectors that learn their limits from the department (remote ones) ask now, then get wrapped anew.

        A department that cannot be reached keeps its provisional limits; its calls fail and are retried.
        """
        for department, connector in self._departments.items():
            start = getattr(connector, "start", None)
            if start is None:
                continue
            try:
                await start()
            except Exception as exc:
                log.warning("department %s not reachable at start: %s", department, exc)
                continue
            self.connectors[department] = self._resilient(department, connector)

    def _resilient(self, department: str, connector: Connector) -> Connector:
        """The connector as every call sees it: limits, retries, breaker, shared batches (connectors.resilience)."""
        return SharedBatches(ResilientConnector(connector), self.settings.catalogue[department])

    async def close(self) -> None:
        """Stop the background work, integrate what is left of the audit log, close the database."""
        if self._integrator is not None:
            self._integrator.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._integrator
        await self.pipeline.close()
        try:
            await self.log.integrate(self.db.write)
        finally:
            await self.db.close()

    async def _integrate_forever(self) -> None:
        """Every few hundred milliseconds: one batch of new entries into the tree, one signed head."""
        while True:
            await asyncio.sleep(self.settings.audit_integrate_seconds)
            try:
                await self.log.integrate(self.db.write)
            except Exception:
                log.exception("audit log integration failed; retrying")

    # --- delegates for the commands (the lead moves them onto the operations) --------------------

    async def add_trusted_key(
        self,
        organisation: str,
        public_key_pem: bytes,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        note: str = "",
        caller: Caller = _NOBODY,
    ) -> TrustedKey:
        """Delegate of :meth:`TrustStore.add`."""
        return await self.trust_store.add(
            organisation, public_key_pem, not_before=not_before, not_after=not_after, note=note, caller=caller
        )

    async def register_authorization(
        self,
        envelope: Envelope,
        *,
        certificates: Sequence[Envelope] = (),
        request_id: str = "",
        caller: Caller = _NOBODY,
    ) -> RegisteredAuthorization:
        """Delegate of :meth:`Authorizations.register`."""
        return await self.authorizations.register(
            envelope, certificates=certificates, request_id=request_id, caller=caller
        )

    async def get_authorization(self, name: str) -> RegisteredAuthorization:
        """Delegate of :meth:`Authorizations.get`."""
        return await self.authorizations.get(name)

    async def stored_envelope(self, authorization_id: str) -> Envelope:
        """Delegate of :meth:`Authorizations.stored_envelope`."""
        return await self.authorizations.stored_envelope(authorization_id)

    async def stored_certificates(self, authorization_id: str) -> list[Envelope]:
        """Delegate of :meth:`Authorizations.stored_certificates`."""
        return await self.authorizations.stored_certificates(authorization_id)

    @staticmethod
    def envelope_of(row_signatures: str, payload: bytes, payload_type: str) -> Envelope:
        """Delegate of :func:`verifier.pipeline.consent.envelope_of`."""
        return envelope_of(row_signatures, payload, payload_type)

    async def revoke_authorization(self, name: str, reason: str, caller: Caller = _NOBODY) -> RegisteredAuthorization:
        """Delegate of :meth:`Authorizations.revoke`."""
        return await self.authorizations.revoke(name, reason, caller)

    async def list_authorizations(
        self, member_id_number: str, *, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[RegisteredAuthorization], str]:
        """Delegate of :meth:`Authorizations.list`."""
        return await self.authorizations.list(member_id_number, page_size=page_size, page_token=page_token)

    def parse_request(self, raw: Mapping[str, Any]) -> VerificationRequest:
        """Delegate of :meth:`Verifications.parse_request`."""
        return self.verifications.parse_request(raw)

    async def create_verification(
        self,
        request: VerificationRequest,
        authorization_names: Sequence[str],
        *,
        request_id: str = "",
        caller: Caller = _NOBODY,
    ) -> VerificationView:
        """Delegate of :meth:`Verifications.create`."""
        return await self.verifications.create(request, authorization_names, request_id=request_id, caller=caller)

    async def get_verification(self, name: str) -> VerificationView:
        """Delegate of :meth:`Verifications.get`."""
        return await self.verifications.get(name)

    async def list_verifications(
        self, *, page_size: int, page_token: str, commissioned_by: str = ""
    ) -> tuple[list[VerificationView], str]:
        """Delegate of :meth:`Verifications.list`."""
        return await self.verifications.list(
            page_size=page_size, page_token=page_token, commissioned_by=commissioned_by
        )

    def watch(self, name: str) -> AsyncIterator[VerificationView]:
        """Delegate of :meth:`Verifications.watch`."""
        return self.verifications.watch(name)

    async def wait_for_report(self, name: str, timeout: float) -> VerificationView:
        """Delegate of :meth:`Verifications.wait_for_report`."""
        return await self.verifications.wait_for_report(name, timeout)

    async def get_report(self, name: str, caller: Caller = _NOBODY) -> dict[str, Any]:
        """Delegate of :meth:`Reports.get`."""
        return await self.reports.get(name, caller)

    async def list_audit_events(self, **filters: Any) -> tuple[list[StoredEntry], str]:
        """Delegate of :meth:`AuditQueries.list_events` (same keyword arguments)."""
        return await self.audit_queries.list_events(**filters)

    async def signed_tree_head(self) -> SignedTreeHead:
        """Delegate of :meth:`AuditQueries.signed_tree_head`."""
        return await self.audit_queries.signed_tree_head()

    async def inclusion_proof(self, index: int, tree_size: int) -> tuple[list[bytes], SignedTreeHead, bytes]:
        """Delegate of :meth:`AuditQueries.inclusion_proof`."""
        return await self.audit_queries.inclusion_proof(index, tree_size)

    async def consistency_proof(
        self, first_size: int, second_size: int
    ) -> tuple[list[bytes], SignedTreeHead, SignedTreeHead]:
        """Delegate of :meth:`AuditQueries.consistency_proof`."""
        return await self.audit_queries.consistency_proof(first_size, second_size)

    def export_audit_log(self) -> AsyncIterator[bytes]:
        """Delegate of :meth:`AuditQueries.export`."""
        return self.audit_queries.export()
