"""verifier.storage.authorizations against SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.exc import IntegrityError

from verifier.storage import authorizations as stored
from verifier.storage.db import Database
from verifier.storage.models import AuthorizationRow

AT = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def row(
    authorization_id: str, *, request_id: str | None = None, digest: str = "", keyid: str = "k1"
) -> AuthorizationRow:
    return AuthorizationRow(
        id=authorization_id,
        request_id=request_id,
        payload=b"{}",
        payload_sha256=digest or authorization_id * 2,
        payload_type="application/vnd.hedui.authorization+json",
        signatures_json=f'[{{"keyid": "{keyid}", "sig": "00"}}]',
        signed_by_json=f'["{keyid}"]',
        certificates_json="[]",
        commissioned_by="org",
        purpose="ASSESSMENT",
        registered_at=AT,
    )


async def test_an_authorization_is_found_by_id_request_id_digest_and_member(db: Database) -> None:
    async with db.write() as session:
        await stored.add(session, row("a1", request_id="r-1", digest="d1"), ["M1", "M2"])
        await stored.add(session, row("a2", digest="d2"), ["M2"])
    async with db.sessions() as session:
        assert (await stored.by_request_id(session, "org", "r-1")).id == "a1"  # type: ignore[union-attr]
        assert await stored.by_request_id(session, "org", "r-2") is None
        assert await stored.by_request_id(session, "another-org", "r-1") is None
        assert (await stored.by_payload_digest(session, "d2")).id == "a2"  # type: ignore[union-attr]
        assert sorted(await stored.member_ids(session, "a1")) == ["M1", "M2"]
        assert sorted(await stored.ids_naming(session, "M2")) == ["a1", "a2"]
        assert await stored.ids_naming(session, "M3") == []
        assert set(await stored.by_ids(session, ["a1", "a2", "missing"])) == {"a1", "a2"}
        assert await stored.get(session, "missing") is None


async def test_reads_in_a_write_transaction_may_lock(db: Database) -> None:
    async with db.write() as session:
        await stored.add(session, row("a1"), [])
    async with db.write() as session:
        # Share lock (PostgreSQL FOR SHARE; ignored by SQLite) and row lock both read the row.
        assert list(await stored.by_ids(session, ["a1"], share_lock=True)) == ["a1"]
        locked = await stored.get(session, "a1", for_update=True)
        assert locked is not None
        locked.revoke_reason = "withdrawn"
        locked.revoked_at = AT
    async with db.sessions() as session:
        again = await stored.get(session, "a1")
    assert again is not None and again.revoked_at == AT and again.revoke_reason == "withdrawn"


async def test_an_envelope_is_stored_once(db: Database) -> None:
    async with db.write() as session:
        await stored.add(session, row("a1", digest="same"), [])
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            await stored.add(session, row("a2", digest="same"), [])


async def test_authorizations_signed_with_a_key_are_counted_from_a_moment_on(db: Database) -> None:
    async with db.write() as session:
        early = row("a1", keyid="k1")
        early.registered_at = AT - dt.timedelta(days=1)
        await stored.add(session, early, [])
        await stored.add(session, row("a2", keyid="k1"), [])
        await stored.add(session, row("a3", keyid="k2"), [])
    async with db.sessions() as session:
        assert await stored.count_signed_with_key_since(session, "k1", AT) == 1
        assert await stored.count_signed_with_key_since(session, "k1", AT - dt.timedelta(days=2)) == 2
        assert await stored.count_signed_with_key_since(session, "k3", AT - dt.timedelta(days=2)) == 0
