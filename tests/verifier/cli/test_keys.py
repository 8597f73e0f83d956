"""``hedui keys ...`` as an administrator runs it: the trust store's keys added, listed, rotated, revoked."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from harness import example_request, example_sandbox
from hedui_cli import ORG, audit_events, keys, ok, service_keys, usage_error, write
from hedui_cli import hedui_here as hedui
from sqlalchemy import select

from audit.log import audit_entries
from verifier.cli import keys as keys_command
from verifier.cli._common import UsageError
from verifier.operations.trust_store import KeyEntry
from verifier.storage.db import Database


@pytest.mark.integration
def test_keys_add_list_rotate_revoke(db_url: str, tmp_path: Path) -> None:
    service_keys(tmp_path)  # the service has run once here: its audit keys exist
    _, old_pub, old_id = keys(tmp_path, "old")
    _, new_pub, new_id = keys(tmp_path, "new")
    assert ok(hedui("keys", "add", "--organisation", ORG, "--public-key", str(old_pub), "--db", db_url, cwd=tmp_path))
    listed = [
        json.loads(x)
        for x in ok(hedui("keys", "list", "--db", db_url, "--format", "json", cwd=tmp_path)).split("\n")
        if x
    ]
    assert [(k["keyid"], k["state"]) for k in listed] == [(old_id, "valid")]

    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat(timespec="seconds")
    out = ok(
        hedui(
            "keys", "rotate", "--organisation", ORG, "--public-key", str(new_pub), "--old-valid-until", until,
            "--db", db_url, cwd=tmp_path,
        )
    )  # fmt: skip
    assert new_id in out and old_id in out
    listed = [
        json.loads(x)
        for x in ok(hedui("keys", "list", "--db", db_url, "--format", "json", cwd=tmp_path)).split("\n")
        if x
    ]
    by_id = {k["keyid"]: k for k in listed}
    assert dt.datetime.fromisoformat(by_id[old_id]["not_after"]) == dt.datetime.fromisoformat(until)
    assert by_id[new_id]["replaces"] == old_id and by_id[new_id]["state"] == "valid"

    out = ok(hedui("keys", "revoke", new_id, "--reason", "laptop stolen", "--db", db_url, cwd=tmp_path))
    assert "revoked" in out
    text_listing = ok(hedui("keys", "list", "--db", db_url, cwd=tmp_path))
    assert "laptop stolen" in text_listing and "revoked" in text_listing
    usage_error(hedui("keys", "revoke", new_id, "--reason", "again", "--db", db_url, cwd=tmp_path), "already revoked")
    usage_error(hedui("keys", "revoke", "feedbeef", "--reason", "x", "--db", db_url, cwd=tmp_path), "not found")
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    usage_error(
        hedui("keys", "revoke", old_id, "--reason", "x", "--at", future, "--db", db_url, cwd=tmp_path), "future"
    )
    usage_error(hedui("keys", "revoke", old_id, "--reason", " ", "--db", db_url, cwd=tmp_path), "needs a reason")

    # No service has signed a tree head yet: the entries wait for it to integrate them.
    entries = stored_entries(db_url)
    assert [e["kind"] for e in entries] == [
        "TRUSTED_KEY_ADDED",
        "TRUSTED_KEY_ADDED",
        "TRUSTED_KEY_ROTATED",
        "TRUSTED_KEY_REVOKED",
    ]
    assert entries[3]["details"]["reason"] == "laptop stolen" and entries[3]["details"]["keyid"] == new_id
    assert entries[2]["details"]["old_keyid"] == old_id and entries[2]["details"]["new_keyid"] == new_id
    assert all(e["operator"] == "hedui-keys" for e in entries)


@pytest.mark.integration
def test_key_changes_join_the_signed_log_when_the_service_keys_are_at_hand(tmp_path: Path) -> None:
    """After a service signed the log with the keys in ./.hedui, `hedui keys` integrates its entries too."""
    db = f"sqlite:///{tmp_path / 'h.db'}"
    request = write(tmp_path / "req.json", example_request())
    sandbox = write(tmp_path / "sb.json", example_sandbox())
    ok(hedui("verify", str(request), "--sandbox", str(sandbox), "--db", db, "--format", "json", cwd=tmp_path))
    dev_key = json.loads(ok(hedui("keys", "list", "--db", db, "--format", "json", cwd=tmp_path)))["keyid"]
    ok(hedui("keys", "revoke", dev_key, "--reason", "development key", "--db", db, cwd=tmp_path))
    revoked = audit_events(tmp_path, db, "--kind", "TRUSTED_KEY_REVOKED")
    assert [e["details"]["keyid"] for e in revoked] == [dev_key]
    assert "audit log intact" in ok(hedui("audit", "verify", "--db", db, cwd=tmp_path))


def stored_entries(db_url: str) -> list[dict[str, Any]]:
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
def test_keys_commands_refuse_bad_input(tmp_path: Path) -> None:
    _, pub, _ = keys(tmp_path, "org")
    db = f"sqlite:///{tmp_path / 'h.db'}"
    # Before the service ever ran here there is no key to record the change with: refused, nothing made.
    usage_error(
        hedui("keys", "add", "--organisation", ORG, "--public-key", str(pub), "--db", db, cwd=tmp_path),
        "key files do not exist yet",
    )
    assert not (tmp_path / ".hedui").exists() and not (tmp_path / "h.db").exists()
    made = service_keys(tmp_path)
    (tmp_path / "junk.pem").write_text("not a key")
    usage_error(
        hedui(
            "keys", "add", "--organisation", ORG, "--public-key", str(tmp_path / "junk.pem"), "--db", db, cwd=tmp_path
        ),
        "not a PEM public key",
    )
    usage_error(
        hedui("keys", "add", "--organisation", " ", "--public-key", str(pub), "--db", db, cwd=tmp_path), "organisation"
    )
    usage_error(hedui("keys", "list", "--db", db, cwd=tmp_path), "no database")
    usage_error(
        hedui("keys", "add", "--organisation", ORG, "--public-key", str(pub), "--db", "mysql://x/y", cwd=tmp_path),
        "--db",
    )
    usage_error(hedui("keys", "generate", "--out", str(tmp_path / "org.pem"), cwd=tmp_path), "exists")
    ok(hedui("keys", "add", "--organisation", ORG, "--public-key", str(pub), "--db", db, cwd=tmp_path))
    usage_error(
        hedui("keys", "rotate", "--organisation", "other", "--public-key", str(pub), "--db", db, cwd=tmp_path),
        "already in the trust store",
    )
    _, second, _ = keys(tmp_path, "second")
    usage_error(
        hedui("keys", "rotate", "--organisation", "other", "--public-key", str(second), "--db", db, cwd=tmp_path),
        "no valid key",
    )
    assert sorted((tmp_path / ".hedui").rglob("*")) == made  # the keys commands made no key file of their own


# --- the command's own helpers (verifier/cli/keys.py), in-process -------------------------------------------


def test_an_organisation_is_trimmed_and_a_blank_one_names_the_option() -> None:
    assert keys_command._organisation("  533401-civil-affairs ") == "533401-civil-affairs"
    for bad in (" ", "x" * 201, "tab\there"):
        with pytest.raises(UsageError, match=r"^--organisation: "):
            keys_command._organisation(bad)


def test_a_key_as_a_json_line_carries_its_state_at_the_moment_asked() -> None:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    revoked = start + dt.timedelta(days=2)
    entry = KeyEntry("ab12", ORG, start, None, revoked, "laptop stolen", "cd34", "rotated in")
    assert keys_command._entry_plain(entry, start + dt.timedelta(days=1)) == {
        "keyid": "ab12",
        "organisation": ORG,
        "state": "valid",
        "not_before": "2026-11-01T00:00:00+00:00",
        "not_after": None,
        "revoked_at": "2026-11-03T00:00:00+00:00",
        "revoke_reason": "laptop stolen",
        "replaces": "cd34",
        "note": "rotated in",
    }
    assert keys_command._entry_plain(entry, revoked)["state"] == "revoked"
    assert keys_command._entry_plain(entry, start - dt.timedelta(seconds=1))["state"] == "not yet valid"
