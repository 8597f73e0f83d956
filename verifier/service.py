"""The composition root: builds hedui's parts (storage, pipeline, operations) and starts and stops them.

The gRPC servicers and the commands call the operations (``service.authorizations``,
``service.trust_store``, ``service.verifications``, ``service.reports``, ``service.audit_queries``).
The methods below the lifecycle are one-line delegates kept for the commands until they call the
operations directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

from audit import AuditLog
from audit.checkpoint import NoteSigner
from audit.group import GroupCommit
from audit.state import FileState, WriteGate
from audit.tree import SigningStopped, TransparencyLog
from audit.witness import FileWitness
from audit.witnessing import Witnessing, log_heads, log_proofs
from connectors.base import Connector
from connectors.resilience import ResilientConnector, SharedBatches
from verifier.access import Clients, RefusedCalls
from verifier.config import Settings
from verifier.observability import Readiness
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
from verifier.page_tokens import PageTokens
from verifier.pipeline import Pipeline
from verifier.policy import PolicyBook
from verifier.storage.db import Database
from verifier.storage.sealing import install, keep_up, sealer_for, start_sealing

__all__ = ["Caller", "DepartmentProgress", "HeduiService", "PolicyBook", "VerificationView"]

log = logging.getLogger("hedui.service")


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
        # Issue 17: cells sealed at rest (verifier/storage/sealing); its keys are loaded by start(), or one by one
        # as cells name them (a service that is not started: tools and tests).
        self.sealer = sealer_for(settings)
        install(db, self.sealer)
        # Every department call goes through the resilience layer: limits, retries, breaker, shared batches.
        undeclared = sorted(set(connectors) - set(settings.catalogue))
        if undeclared:
            raise ValueError(f"departments.{undeclared[0]}: a connector for a department that is not declared")
        self._departments = dict(connectors)
        self.connectors: dict[str, Connector] = {
            department: self._resilient(department, connector) for department, connector in connectors.items()
        }
        self.policies = policies or PolicyBook.load(settings.policy_files, departments=settings.catalogue)
        gate = WriteGate()  # closed while the audit log cannot sign: every write (its audit entry) is refused
        # No entry key (a Settings built directly: tests and benches): derived from the subject key.
        self.audit = AuditLog(settings.audit_subject_key, settings.audit_entry_key or None, gate)
        self.log, self._witnessing = self._transparency_log(db, settings, gate)
        self._integrator: asyncio.Task[None] | None = None
        self._upkeep: asyncio.Task[None] | None = None
        self._closing = False  # the integrator's loop ends at its next turn even should a cancellation be lost
        self.standalone_events = GroupCommit(self.audit, db.write)
        self.pipeline = Pipeline(db, self.connectors, self.audit, settings, self.policies.for_request)
        self.authorizations = Authorizations(
            db, self.audit, self.pipeline.authorizations, self.pipeline.withdraw, tuple(settings.catalogue)
        )
        self.trust_store = TrustStore(db, self.audit)
        self.verifications = Verifications(db, self.pipeline, self.connectors, self.policies)
        self.reports = Reports(
            db, self.standalone_events, settings.catalogue, settings.centre, verified=self.pipeline.publisher.verified
        )
        self.audit_queries = AuditQueries(db, self.audit, self.log)
        self.clients = Clients(db, self.audit)  # issue 13: who may call the API
        self.refusals = RefusedCalls(self.standalone_events)  # and the calls refused, one entry per client-minute
        # issue 13: one key for every replica's tokens; issue 17: HMAC-SM3 under the sm suite
        page_tokens = PageTokens.derived(settings.audit_subject_key, settings.crypto_suite)
        self.verifications.page_tokens = self.authorizations.page_tokens = self.audit_queries.page_tokens = page_tokens
        # Why the last integration of the audit log failed (None: it did not); readiness reads it.
        self.integration_failure: str | None = None
        self.readiness = Readiness(
            db,
            lambda: self.integration_failure,
            writes_stopped=lambda: self.audit.gate.reason,
            witnessed=self._witnessing.failure if self._witnessing is not None else None,
        )

    def _transparency_log(
        self, db: Database, settings: Settings, gate: WriteGate
    ) -> tuple[TransparencyLog, Witnessing | None]:
        """The log's tree, its signer and its witnesses: the file witnesses, and (issue 12) the network witnesses
        of ``[witness_policy]``, handed every head in the background."""
        signer = NoteSigner.from_private_bytes(settings.audit_log_origin, settings.audit_log_key)
        witnessing = Witnessing(settings.witness_policy, db.write) if settings.witness_policy.witnesses else None
        log = TransparencyLog(
            settings.audit_log_origin,
            signer,
            [FileWitness.open(directory, signer.verifier_key()) for directory in settings.witness_dirs]
            + ([witnessing] if witnessing is not None else []),
            state=FileState(settings.audit_log_state_file) if settings.audit_log_state_file else None,
            gate=gate,
            entry_mac=self.audit.entry_mac,
            cosigners=settings.log_cosigners(),  # issue 17: the SM2 line beside the Ed25519 one under sm
        )
        if witnessing is not None:
            witnessing.proofs = log_proofs(log, db.sessions)
            witnessing.heads = log_heads(log, db.sessions)
        return log, witnessing

    async def start(self) -> None:
        """Apply migrations, resume work a previous run left unfinished, integrate the audit log from now on."""
        await self.db.migrate()
        await start_sealing(self.db, self.sealer)  # issue 17: the data keys made (this month's and next) and loaded
        await self._connect_departments()
        await self.pipeline.resume()
        # Issue 12: the stored log is proven against the signer's state before the service serves (a log that
        # disagrees closes the write gate now, not one interval later).
        with contextlib.suppress(SigningStopped):
            await self.log.integrate(self.db.write)
        self._integrator = asyncio.create_task(self._integrate_forever(), name="hedui-audit-integrator")
        await self._keep_sealing_up_once()  # issue 17: retention before serving, then daily
        self._upkeep = asyncio.create_task(self._keep_sealing_up(), name="hedui-sealing-upkeep")

    async def _keep_sealing_up_once(self) -> None:
        """Issue 17: next month's data keys made and expired department answers crypto-shredded (retention)."""
        if self.sealer is None:
            return
        try:
            await keep_up(self.db, self.sealer, self.audit, self.settings.department_answers_months)
        except Exception:
            log.exception("data keys' upkeep (retention) failed; tried again in a day")

    async def _keep_sealing_up(self) -> None:
        """:meth:`_keep_sealing_up_once` daily."""
        while not self._closing:
            await asyncio.sleep(24 * 3600)
            await self._keep_sealing_up_once()

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

    @classmethod
    @contextlib.asynccontextmanager
    async def administering(cls, settings: Settings) -> AsyncIterator[HeduiService]:
        """A service for one admin command (``hedui keys …``): the schema migrated, no departments and no
        background work. What the command appended is integrated only under this service's own log key
        (:meth:`~verifier.operations.AuditQueries.integrate_own_log`); the database is closed at the end."""
        service = cls(Database.from_settings(settings), {}, settings)
        try:
            await service.db.migrate()
            await start_sealing(service.db, service.sealer, create=False)  # issue 17: the keys loaded, none made
            yield service
            await service.audit_queries.integrate_own_log()
        finally:
            await service.db.close()

    async def close(self) -> None:
        """Stop the background work, integrate what is left of the audit log, close the database."""
        self._closing = True
        if self._upkeep is not None:
            self._upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._upkeep
        if self._integrator is not None:
            self._integrator.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._integrator
        await self.pipeline.close()
        try:
            with contextlib.suppress(SigningStopped):  # logged when it stopped; nothing more to sign
                await self.log.integrate(self.db.write)
        finally:
            if self._witnessing is not None:  # the last head is witnessed by the next process to start
                await self._witnessing.close()
            await self.db.close()

    async def _integrate_forever(self) -> None:
        """Every few hundred milliseconds: one batch of new entries into the tree, one signed head. When nothing
        could be integrated for ``audit_integration_bound_seconds`` (failing, or waiting on a lock), writes stop.
        A failure is logged when it starts (with its traceback) and when it ends, not at every retry; readiness
        reads it (``integration_failure``)."""
        bound = self.settings.audit_integration_bound_seconds
        while not self._closing:
            await asyncio.sleep(self.settings.audit_integrate_seconds)
            try:
                # An attempt that hangs (a lock held elsewhere) goes on in the background; the bound still counts.
                # asyncio.timeout, never wait_for: on Python 3.11 wait_for loses a cancellation that arrives as the
                # write ends (cpython gh-86296), and close() then waited for this loop for ever.
                async with asyncio.timeout(bound):
                    await self.pipeline.writes.run(lambda: self.log.integrate(self.db.write))
            except SigningStopped:
                continue  # logged once when it stopped; checked again every interval until an operator recovers it
            except TimeoutError:
                self.log.overdue(bound)
                continue
            except Exception as exc:
                if self.integration_failure is None:
                    log.exception("audit log integration failed; retrying until it succeeds")
                self.integration_failure = type(exc).__name__
                self.log.overdue(bound)
                continue
            if self.integration_failure is not None:
                log.info("audit log integration works again (it failed with %s)", self.integration_failure)
                self.integration_failure = None
