"""The tamper suite's kit: a configured hedui that logged something, and an attacker with the database in hand.

The service is configured as ``hedui serve`` would be (a TOML file: key files, the signer's state file beside
the log key), so ``hedui audit verify --config`` and ``hedui audit recover`` read what the service wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import io
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import example_sandbox, sandbox_service
from sqlalchemy import select, text
from suites import TEST_SUITE

from audit import AuditEvent
from connectors import Connector, SandboxDataset, sandbox_connectors
from verifier.cli import main
from verifier.config import Settings, load_settings
from verifier.service import HeduiService
from verifier.storage.db import Database
from verifier.storage.models import DepartmentResultRow, ReportRow

ORIGIN = "tamper.hedui/audit"
POLICE = "public_security"
PEOPLE = [hashlib.sha256(f"person {i}".encode()).hexdigest() for i in range(4)]  # keyed hashes, as in the log


ORGANISATION = "533401-civil-affairs"
PURPOSE = "DIBAO_APPLICATION"


def registration(
    authorization: str = "a1", subjects: Sequence[str] = PEOPLE, departments: Sequence[str] = (POLICE,), **details: Any
) -> AuditEvent:
    """An AUTHORIZATION_REGISTERED entry as hedui writes one: the people named, valid from yesterday for 30 days."""
    today = dt.date.today()
    return AuditEvent(
        kind="AUTHORIZATION_REGISTERED",
        operator="registrar",
        authorization=authorization,
        subjects=tuple(subjects),
        details={
            "commissioned_by": ORGANISATION,
            "purpose": PURPOSE,
            "departments": list(departments),
            "valid_from": (today - dt.timedelta(days=1)).isoformat(),
            "valid_until": (today + dt.timedelta(days=30)).isoformat(),
            "signed_by": ["key-1"],
            "signer_kinds": ["organisation"],
        }
        | details,
    )


def query(person: str = PEOPLE[0], *, operator: str = "worker-1", authorization: str = "a1") -> AuditEvent:
    """A DEPARTMENT_QUERY_SENT of case v1 at the police about ``person``."""
    return AuditEvent(
        kind="DEPARTMENT_QUERY_SENT",
        operator=operator,
        client="10.0.0.1",
        verification="v1",
        authorization=authorization,
        department=POLICE,
        subjects=(person,),
        details={"members": 1},
    )


def batches() -> list[list[AuditEvent]]:
    """Three batches (three signed heads): an authorization; the case and three police queries about one
    person; a fourth query, the answer and a report read."""
    created = AuditEvent(
        kind="VERIFICATION_CREATED",
        operator="worker-1",
        client="10.0.0.1",
        verification="v1",
        authorization="a1",
        details={"purpose": PURPOSE, "commissioned_by": ORGANISATION, "members": 4},
    )
    return [
        [registration()],
        [created, query(), query(), query()],
        [
            query(PEOPLE[1]),
            AuditEvent(kind="DEPARTMENT_ANSWER_RECEIVED", verification="v1", department=POLICE),
            AuditEvent(kind="REPORT_READ", operator="worker-1", client="10.0.0.1", verification="v1"),
        ],
    ]


@dataclass
class Logged:
    """A database with a log of three signed heads, and the configuration of the service that wrote it."""

    url: str
    config: Path
    settings: Settings
    heads: list[int]

    @property
    def size(self) -> int:
        """The newest signed size."""
        return self.heads[-1]

    @contextlib.asynccontextmanager
    async def service(self, settings: Settings | None = None) -> AsyncIterator[HeduiService]:
        """The configured service over the database (migrated, not started: tests integrate by hand)."""
        service = HeduiService(Database(self.url), {}, settings or self.settings)
        await service.db.migrate()
        try:
            yield service
        finally:
            await service.db.close()

    async def append(self, events: Sequence[AuditEvent]) -> None:
        """Append through hedui's own function and integrate: one signed head more."""
        async with self.service() as service:
            async with service.db.write() as session:
                await service.audit.append_many(session, [(event, ()) for event in events])
            head = await service.log.integrate(service.db.write)
            assert head is not None
            self.heads.append(head.tree_size)


def configured(db_url: str, tmp_path: Path, *, witness: Path | None = None, extra: str = "") -> Logged:
    """The configuration file of a service over ``db_url`` (key files under ``tmp_path``), nothing logged yet."""
    keys = tmp_path / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "hedui.toml"
    config.write_text(
        f'database_url = "{db_url}"\n'
        f'audit_subject_key_file = "{keys / "subject.key"}"\n'
        f'audit_log_key_file = "{keys / "log.key"}"\n'
        f'audit_entry_key_file = "{keys / "entry.key"}"\n'
        f'audit_log_origin = "{ORIGIN}"\n'
        f'crypto_suite = "{TEST_SUITE}"\n'  # issue 17: HEDUI_TEST_SUITE=sm signs the heads with SM2 too
        f'audit_log_sm2_key_file = "{keys / "log-sm2.key"}"\n'
        + (f'witness_dirs = ["{witness}"]\n' if witness else "")
        + extra
    )
    settings = load_settings(config, tmp_path / "base", environ=False)
    return Logged(db_url, config, settings, [])


async def logged(db_url: str, tmp_path: Path, *, witness: Path | None = None) -> Logged:
    """A configured service that logged three batches, each under its own signed head (handed to a file
    ``witness`` when one is configured)."""
    log = configured(db_url, tmp_path, witness=witness)
    for batch in batches():
        await log.append(batch)
    return log


@dataclass
class Verified:
    """A configured service that verified the example household: its report and department answers stored."""

    log: Logged
    verification: str
    report_id: str

    @property
    def report(self) -> str:
        """The report's resource name (its first and only version)."""
        return f"verifications/{self.verification}/reports/1"


def sandbox(bank_after: float | None = None) -> dict[str, Connector]:
    """The example sandbox's departments; the banks answer after ``bank_after`` seconds (tickets) if given."""
    data = example_sandbox()
    if bank_after is not None:
        data["banks"]["answer_after_seconds"] = bank_after
    return sandbox_connectors(SandboxDataset.from_json(data))


async def verified(db_url: str, tmp_path: Path) -> Verified:
    """One verification of the example household through the configured service (all six departments answer
    at once), its entries integrated when the service stops."""
    log = configured(db_url, tmp_path)
    async with sandbox_service(log.settings, sandbox()) as (service, request, authorization):
        created = await service.verifications.create(request, [authorization])
        await service.verifications.wait_for_report(created.name, 60.0)
        report = await service.reports.get(f"{created.name}/reports/1")
    await unsealed(log)
    return Verified(log, created.name.removeprefix("verifications/"), report["report_id"])


async def unsealed(log: Logged) -> None:
    """Issue 17: the stored reports and answers replaced by their plaintext, as someone holding the data keys could
    (what they then write is read as it is, a legacy cell), so the tests edit them with SQL as before the cells were
    sealed: what catches an edit is the audit log's digest over the plaintext, not the cipher."""
    async with log.service() as service:
        await unsealed_rows(service)


async def unsealed_rows(service: HeduiService) -> None:
    """:func:`unsealed` over a service's own database (a running one)."""
    async with service.db.sessions() as session:
        reports = (await session.scalars(select(ReportRow))).all()
        answers = (await session.scalars(select(DepartmentResultRow))).all()
        plain_reports = [{"i": r.id, "b": r.body_json} for r in reports]
        plain_answers = [
            {"v": a.verification_id, "d": a.department, "r": a.records_json, "n": a.not_queried_json} for a in answers
        ]
    db = Database(service.db.url)
    try:
        async with db.engine.begin() as connection:
            await connection.execute(text("UPDATE reports SET body_json = :b WHERE id = :i"), plain_reports)
            await connection.execute(
                text(
                    "UPDATE department_results SET records_json = :r, not_queried_json = :n "
                    "WHERE verification_id = :v AND department = :d"
                ),
                plain_answers,
            )
    finally:
        await db.close()


async def sql(url: str, *statements: str, triggers: bool = False) -> list[Any]:
    """Run ``statements`` as the database's owner, the append-only triggers dropped or disabled first unless
    ``triggers``; the rows of the last one if it returns any."""
    db = Database(url)
    rows: list[Any] = []
    try:
        async with db.engine.begin() as connection:
            if not triggers:
                await _without_triggers(connection, db.dialect)
            for statement in statements:
                result = await connection.execute(text(statement))
                rows = list(result.all()) if result.returns_rows else []
    finally:
        await db.close()
    return rows


async def _without_triggers(connection: Any, dialect: str) -> None:
    tables = ("audit_entries", "audit_leaves", "audit_tree_heads", "audit_refused")
    for table in tables:
        if dialect == "sqlite":
            for action in ("update", "delete"):
                await connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{action}"))
        else:
            await connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))


async def service_role_url(url: str) -> str:
    """PostgreSQL: a login role with the service's rights only (``hedui db migrate --service-role``); its URL.
    SQLite has no roles: the same URL."""
    if not url.startswith("postgresql"):
        return url
    role = f"hedui_service_{uuid.uuid4().hex[:8]}"
    db = Database(url)
    try:
        async with db.engine.begin() as connection:
            await connection.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        await db.grant_service_role(role)
    finally:
        await db.close()
    return url.replace("postgres@", f"{role}@")


def blob(url: str, data: bytes) -> str:
    """A bytes literal in the database's SQL."""
    return f"X'{data.hex()}'" if url.startswith("sqlite") else f"'\\x{data.hex()}'::bytea"


async def hedui(*argv: str) -> tuple[int, str]:
    """``hedui ARGV`` in a thread of this process: its exit code and its output (stdout and stderr)."""

    def run() -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                code = main(list(argv))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue()

    return await asyncio.to_thread(run)


async def verify(log: Logged, *extra: str) -> tuple[int, str]:
    """``hedui audit verify --config`` of the service's configuration."""
    return await hedui("audit", "verify", "--config", str(log.config), *extra)


def tree_hash(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962 §2.1 Merkle Tree Hash of leaf hashes (at least one), written from the RFC, not hedui's tree."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)  # the largest power of two smaller than n
    return hashlib.sha256(b"\x01" + tree_hash(leaves[:k]) + tree_hash(leaves[k:])).digest()
