"""ExportAuditLog streams pieces of whole lines under the gRPC message limit (issue 12: it broke past ~6,000
entries, 10,000 entries a message): the pieces on SQLite and PostgreSQL, a 100,000-entry log over gRPC on SQLite
(the pieces are cut by the service, not the database; on PostgreSQL the same test only took 20 s more)."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from audit import AuditEvent
from audit.verify import EXPORT_CHUNK_BYTES, check_export, export_stored_log
from hedui.v1 import audit_pb2, audit_pb2_grpc
from verifier.api import MAX_MESSAGE_BYTES, build_server
from verifier.config import Settings, TlsSettings
from verifier.service import HeduiService
from verifier.storage.db import Database


async def _logged(db: Database, entries: int, batch: int = 10_000) -> HeduiService:
    national = TlsSettings(development_organisation="000000-ministry")  # issue 13: the whole log is a national's
    service = HeduiService(db, {}, Settings(database_url=db.url, audit_subject_key=b"k" * 32, tls=national))
    for start in range(0, entries, batch):
        events = [
            (AuditEvent(kind="REPORT_READ", operator="worker", client="10.0.0.1", verification=f"v-{i}"), ())
            for i in range(start, min(entries, start + batch))
        ]
        async with db.write() as session:
            await service.audit.append_many(session, events)
        await service.log.integrate(db.write)
    return service


async def test_pieces_are_whole_lines_no_longer_than_asked(db: Database) -> None:
    service = await _logged(db, 40, batch=7)
    whole = b"".join([piece async for piece in export_stored_log(db.sessions, max_bytes=1 << 30)])
    pieces = [piece async for piece in export_stored_log(db.sessions, max_bytes=600)]
    assert b"".join(pieces) == whole and len(pieces) > 5
    assert all(piece.endswith(b"\n") for piece in pieces)
    assert all(len(piece) <= 600 for piece in pieces[1:])  # the header is a piece of its own
    assert check_export(whole.splitlines(keepends=True), service.log.verifier).intact


@pytest.mark.slow
@pytest.mark.integration
async def test_a_100_000_entry_log_streams_over_grpc_under_the_message_limit(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/hedui.db")
    await db.migrate()
    service = await _logged(db, 100_000)
    _, port, stop = await build_server(service, "127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:  # the client's default 4 MiB limit
            sizes, data = [], bytearray()
            async for chunk in audit_pb2_grpc.AuditServiceStub(channel).ExportAuditLog(
                audit_pb2.ExportAuditLogRequest(), timeout=300
            ):
                sizes.append(chunk.ByteSize())
                data += chunk.data
    finally:
        await stop()
        await db.close()
    assert max(sizes) <= EXPORT_CHUNK_BYTES + 16 < MAX_MESSAGE_BYTES and len(sizes) > 10
    result = check_export(bytes(data).splitlines(keepends=True), service.log.verifier)
    assert result.intact, result.failure
    assert (result.entries, result.heads) == (100_000, 10)
