"""Issue 17's Done-when: after a verification through the service, the household's identity numbers and names occur
nowhere in the raw SQLite file, its WAL (read while the service runs) or a ``pg_dump`` — in plain text, as JSON
escapes, in base64 (standard and URL-safe, every alignment) or in hex (either case)."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from audit_tamper import configured, sandbox, verify
from harness import PG_BIN, UNDER_CI, _as_postgres, example_request, sandbox_service
from sqlalchemy import text
from sqlalchemy.engine import make_url

from verifier.config import Settings
from verifier.errors import ServiceError
from verifier.storage import authorizations
from verifier.storage.sealing import seal_legacy

pytestmark = pytest.mark.integration


def forms(value: str) -> set[bytes]:
    """Every way ``value`` may stand in a file: its UTF-8 bytes, its JSON ``\\u`` escapes, base64 of it at each of
    the three alignments (the characters no neighbour influences), standard and URL-safe, and hex."""
    raw = value.encode("utf-8")
    found = {raw, raw.hex().encode(), raw.hex().upper().encode()}
    escaped = json.dumps(value).strip('"')
    if escaped != value:
        found.add(escaped.encode())
    for pad in range(3):
        start = {0: 0, 1: 2, 2: 3}[pad]
        end = ((pad + len(raw)) // 3) * 4
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            found.add(encode(b"\0" * pad + raw)[start:end])
    return {f for f in found if len(f) >= 8}


def household() -> list[str]:
    """The example household's identity numbers and names."""
    members = example_request()["members"]
    return [m["id_number"] for m in members] + [m["name"] for m in members]


def occurrences(data: bytes) -> dict[str, int]:
    """How often each needle occurs in ``data``, in any of its forms (those that occur)."""
    counts = {n: sum(data.count(f) for f in forms(n)) for n in household()}
    return {n: c for n, c in counts.items() if c}


def test_the_forms_find_what_they_look_for() -> None:
    """The counter is no blind eye: a name in each form is found in a report as the service used to store it."""
    name = household()[-1]
    body = json.dumps(
        {"name": name, "b64": base64.b64encode(b"x" + name.encode()).decode(), "hex": name.encode().hex()}
    )
    assert occurrences(body.encode())[name] == 3
    assert occurrences(json.dumps({"n": name}, ensure_ascii=False).encode())[name] == 1
    assert any("\\u" in f.decode() for f in forms(name)) and len(name.encode("utf-8")) == 3 * len(name)


async def _wait_for_version(service: object, name: str, version: int) -> None:
    """Until report ``version`` of ``name`` exists (the banks' answer comes after their ticket)."""
    async with asyncio.timeout(60):
        while True:
            try:
                await service.reports.get(f"{name}/reports/{version}")  # type: ignore[attr-defined]
                return
            except ServiceError:
                await asyncio.sleep(0.1)


def _copied(source: Path, copy: Path) -> bytes:
    """The bytes of a copy of ``source`` taken now (the service keeps writing the original)."""
    shutil.copyfile(source, copy)
    return copy.read_bytes()


def _pg_dump(url: str) -> bytes:
    parsed = make_url(url)
    dump = PG_BIN / "pg_dump"
    if not dump.exists():
        if UNDER_CI:
            pytest.fail(f"{dump} is missing (postgresql-client-15)")
        pytest.skip(f"{dump} is missing (install postgresql-client-15)")
    args = [str(dump), "-h", "127.0.0.1", "-p", str(parsed.port), "-U", "postgres", "--data-only", str(parsed.database)]
    return subprocess.run(_as_postgres(args), check=True, capture_output=True).stdout


async def test_no_identity_number_or_name_is_stored_in_the_clear(db_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=db_url,
        poll_interval_seconds=0.05,
        department_deadline_seconds=2.0,
        audit_subject_key=b"k" * 32,
    )
    sqlite = db_url.startswith("sqlite")
    database = Path(make_url(db_url).database or "") if sqlite else None
    seen: dict[str, bytes] = {}
    # The banks hand out a ticket and answer a little later: the ticket is stored too, then a second report.
    async with sandbox_service(settings, sandbox(bank_after=3.0)) as (service, request, authorization):
        created = await service.verifications.create(request, [authorization])
        await service.verifications.wait_for_report(created.name, 60.0)
        async with service.db.sessions() as session:
            tickets = (await session.execute(text("SELECT ticket_id FROM department_results"))).scalars().all()
        assert any(t is not None and t.startswith("hs1.") for t in tickets), tickets  # a ticket, sealed
        if database is not None:
            for suffix in ("", "-wal"):
                seen[f"running{suffix}"] = _copied(Path(f"{database}{suffix}"), tmp_path / f"running{suffix}")
        await _wait_for_version(service, created.name, 2)
        if database is not None:
            seen["running-wal-later"] = _copied(Path(f"{database}-wal"), tmp_path / "running-wal-later")
        else:
            seen["pg_dump while running"] = _pg_dump(db_url)
    if database is not None:
        seen["after"] = _copied(database, tmp_path / "after")
    else:
        seen["pg_dump"] = _pg_dump(db_url)
    assert seen["running-wal" if sqlite else "pg_dump"].count(b"hs1.") >= 10  # the sealed cells are there
    assert {where: occurrences(data) for where, data in seen.items()} == {where: {} for where in seen}


async def test_rows_from_before_sealing_are_sealed_in_place(db_url: str, tmp_path: Path) -> None:
    """``hedui db seal``'s pass: a database written unsealed (as before revision 0012) is sealed in place, its
    members moved to the blind index; the report reads as before and the audit log still vouches for it."""
    log = configured(db_url, tmp_path, extra=f'key_dir = "{tmp_path / "master-keys"}"\n')
    async with sandbox_service(log.settings.with_overrides(sealing=False), sandbox()) as (service, request, first):
        created = await service.verifications.create(request, [first])
        await service.verifications.wait_for_report(created.name, 60.0)
        report = await service.reports.get(f"{created.name}/reports/1")
    async with sandbox_service(log.settings, sandbox()) as (service, request, second):
        assert service.sealer is not None
        async with service.db.write() as session:
            done = await seal_legacy(session, service.sealer)
        assert done == {
            "verifications": 1,
            "department_results": 6,
            "reports": 1,
            "authorizations": 1,
            "authorization_members": 3,
        }
        async with service.db.write() as session:
            assert (await seal_legacy(session, service.sealer))["reports"] == 0  # idempotent
        assert await service.reports.get(f"{created.name}/reports/1") == report
        async with service.db.sessions() as session:
            cells = (await session.execute(text("SELECT body_json FROM reports"))).scalars().all()
            members = (await session.execute(text("SELECT count(*) FROM authorization_members"))).scalar_one()
            found = await authorizations.ids_naming(session, request.members[0].id_number)
        assert all(c.startswith("hs1.") for c in cells) and members == 0
        assert set(found) == {a.removeprefix("authorizations/") for a in (first, second)}  # one envelope, or two
    code, out = await verify(log)
    assert code == 0 and "audit log intact" in out, out
