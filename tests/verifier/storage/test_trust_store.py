"""verifier.storage.trust_store against SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from verifier.storage import trust_store as stored
from verifier.storage.db import Database
from verifier.storage.models import TrustedKeyRow

AT = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def key(keyid: str, organisation: str, days: int = 0) -> TrustedKeyRow:
    return TrustedKeyRow(
        keyid=keyid,
        organisation=organisation,
        public_key_pem=b"pem",
        not_before=AT + dt.timedelta(days=days),
        not_after=None,
        note="",
    )


async def test_keys_are_listed_by_organisation_then_oldest_first(db: Database) -> None:
    async with db.write() as session:
        for k in (key("k3", "b-org"), key("k2", "a-org", days=1), key("k1", "a-org")):
            stored.add(session, k)
    async with db.sessions() as session:
        assert [k.keyid for k in await stored.listing(session)] == ["k1", "k2", "k3"]
        assert [k.keyid for k in await stored.listing(session, "b-org")] == ["k3"]
        assert await stored.listing(session, "c-org") == []
        assert sorted(k.keyid for k in await stored.by_ids(session, ["k1", "k3", "k9"])) == ["k1", "k3"]
        assert (await stored.get(session, "k2")).organisation == "a-org"  # type: ignore[union-attr]
        assert await stored.get(session, "k9") is None


async def test_an_organisations_keys_are_locked_for_a_rotation(db: Database) -> None:
    async with db.write() as session:
        stored.add(session, key("k1", "a-org"))
        stored.add(session, key("k2", "b-org"))
    async with db.write() as session:
        rows = await stored.of_organisation_locked(session, "a-org")
        assert [r.keyid for r in rows] == ["k1"]
        rows[0].not_after = AT + dt.timedelta(days=30)
        locked = await stored.get(session, "k2", for_update=True)
        assert locked is not None
    async with db.sessions() as session:
        assert (await stored.get(session, "k1")).not_after == AT + dt.timedelta(days=30)  # type: ignore[union-attr]
