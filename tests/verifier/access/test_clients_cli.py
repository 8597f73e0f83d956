"""``hedui clients add|list|revoke`` as an administrator runs it, and the audit entries each change leaves."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from hedui_cli import ORG, ok, service_keys, usage_error
from hedui_cli import hedui_here as hedui
from sqlalchemy import select

from audit.log import audit_entries
from connectors.tls import certificate_authority, issue_certificate, public_key_sha256
from verifier.access import DevelopmentCa
from verifier.storage.db import Database


def stored_entries(db_url: str) -> list[dict[str, Any]]:
    """Every audit entry stored, integrated or not."""

    async def read() -> list[dict[str, Any]]:
        db = Database(db_url)
        try:
            async with db.sessions() as session:
                rows = await session.execute(select(audit_entries.c.entry).order_by(audit_entries.c.seq))
                return [json.loads(row.entry) for row in rows]
        finally:
            await db.close()

    return asyncio.run(read())


@pytest.mark.integration
def test_clients_add_list_revoke(db_url: str, tmp_path: Path) -> None:
    service_keys(tmp_path)  # the service has run once here: its audit keys exist
    ca, ca_key = certificate_authority("test client CA")
    cert, _ = issue_certificate(ca, ca_key, "case-system-1")
    (tmp_path / "client.pem").write_bytes(cert)
    out = ok(
        hedui(
            "clients", "add", "--certificate", str(tmp_path / "client.pem"), "--organisation", ORG,
            "--role", "case_system", "--role", "supervisor", "--db", db_url, cwd=tmp_path,
        )
    )  # fmt: skip
    key = public_key_sha256(cert)
    assert out.split() == ["case-system-1", ORG, "case_system,supervisor", f"sha256:{key}"]
    usage_error(
        hedui(
            "clients", "add", "--certificate", str(tmp_path / "client.pem"), "--organisation", ORG,
            "--role", "admin", "--name", "other", "--db", db_url, cwd=tmp_path,
        ),
        "exists",
    )  # fmt: skip
    listed = [
        json.loads(x)
        for x in ok(hedui("clients", "list", "--db", db_url, "--format", "json", cwd=tmp_path)).split("\n")
        if x
    ]
    assert [(c["name"], c["organisation"], c["roles"], c["key_sha256"], c["revoked_at"]) for c in listed] == [
        ("case-system-1", ORG, ["case_system", "supervisor"], key, None)
    ]
    out = ok(hedui("clients", "revoke", "case-system-1", "--reason", "server retired", "--db", db_url, cwd=tmp_path))
    assert "revoked" in out
    usage_error(hedui("clients", "revoke", key, "--reason", "again", "--db", db_url, cwd=tmp_path), "revoked already")
    assert "server retired" in ok(hedui("clients", "list", "--db", db_url, cwd=tmp_path))
    entries = [
        (e["kind"], e["details"].get("client"), e["details"].get("organisation")) for e in stored_entries(db_url)
    ]
    assert ("CLIENT_ADDED", "case-system-1", ORG) in entries and ("CLIENT_REVOKED", "case-system-1", ORG) in entries


@pytest.mark.integration
def test_clients_add_refuses_what_is_not_a_certificate_or_a_role(db_url: str, tmp_path: Path) -> None:
    service_keys(tmp_path)
    (tmp_path / "junk.pem").write_text("not a certificate")
    usage_error(
        hedui("clients", "add", "--certificate", str(tmp_path / "junk.pem"), "--organisation", ORG, "--role",
              "case_system", "--db", db_url, cwd=tmp_path),
        "not a PEM X.509 certificate",
    )  # fmt: skip
    usage_error(
        hedui("clients", "add", "--certificate", str(tmp_path / "junk.pem"), "--organisation", ORG, "--role",
              "root", "--db", db_url, cwd=tmp_path),
        "invalid choice",
    )  # fmt: skip


@pytest.mark.integration
def test_clients_add_refuses_a_certificate_the_client_ca_did_not_issue(tmp_path: Path) -> None:
    """With the development CA in ./.hedui/tls (hedui serve made it), a certificate of another CA is refused:
    the server's handshake would never let it in."""
    service_keys(tmp_path)
    db = f"sqlite:///{tmp_path / 'h.db'}"
    development = DevelopmentCa(tmp_path / ".hedui" / "tls")
    development.ensure()
    foreign, _ = issue_certificate(*certificate_authority("someone else's CA"), "stranger")
    (tmp_path / "foreign.pem").write_bytes(foreign)
    (tmp_path / "ours.pem").write_bytes(development.issue_client("case-system-2")[0])
    add = ["clients", "add", "--organisation", ORG, "--role", "case_system", "--db", db, "--certificate"]
    usage_error(hedui(*add, str(tmp_path / "foreign.pem"), cwd=tmp_path), "not issued by the client CA")
    assert "case-system-2" in ok(hedui(*add, str(tmp_path / "ours.pem"), cwd=tmp_path))
