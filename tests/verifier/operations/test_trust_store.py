"""verifier.operations.trust_store: keys added, listed, rotated and revoked, and bad input refused."""

from __future__ import annotations

import datetime as dt

import pytest

from audit import AuditLog
from consent import SigningKey
from verifier.config import Settings
from verifier.errors import Reason, ServiceError
from verifier.operations.trust_store import KeyState, TrustStore, check_organisation, trusted_keys
from verifier.service import HeduiService
from verifier.storage.db import Database

ORG = "533401-civil-affairs"
NOW = dt.datetime.now(dt.UTC)


def store(db: Database) -> TrustStore:
    return HeduiService(db, {}, Settings(database_url=db.url, audit_subject_key=b"k" * 32)).trust_store


async def refused(work: object) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        await work  # type: ignore[misc]
    return caught.value


async def test_a_key_is_added_once(db: Database) -> None:
    keys, key = store(db), SigningKey.generate_ed25519()
    added = await keys.add(ORG, key.public_pem(), note="first")
    assert added.keyid == key.keyid and added.organisation == ORG
    error = await refused(keys.add(ORG, key.public_pem()))
    assert (error.reason, error.code) == (Reason.KEY_EXISTS, "ALREADY_EXISTS")
    bad = await refused(keys.add(ORG, b"not a key"))
    assert (bad.reason, bad.violations[0].field) == (Reason.INVALID_REQUEST, "public_key")
    (entry,) = await keys.list()
    now = dt.datetime.now(dt.UTC)
    assert (entry.keyid, entry.note, entry.state(now)) == (key.keyid, "first", KeyState.VALID)


async def test_a_rotation_ends_the_one_valid_key_and_trusts_the_new_one(db: Database) -> None:
    keys = store(db)
    old, new = SigningKey.generate_ed25519(), SigningKey.generate_p256()
    await keys.add(ORG, old.public_pem(), not_before=NOW - dt.timedelta(days=1))
    until = NOW + dt.timedelta(days=7)
    added, ended = await keys.rotate(ORG, new.public_pem(), old_valid_until=until)
    assert (added.keyid, ended.keyid, ended.not_after) == (new.keyid, old.keyid, until)
    listed = {e.keyid: e for e in await keys.list(ORG)}
    assert listed[new.keyid].replaces == old.keyid
    assert listed[old.keyid].state(until) == KeyState.EXPIRED


async def test_a_rotation_refuses_what_it_cannot_do(db: Database) -> None:
    keys = store(db)
    pem = SigningKey.generate_ed25519().public_pem()
    until = NOW + dt.timedelta(days=7)
    assert (await refused(keys.rotate(ORG, pem, old_valid_until=until))).reason == Reason.KEY_NOT_VALID
    for _ in range(2):
        await keys.add(ORG, SigningKey.generate_ed25519().public_pem(), not_before=NOW - dt.timedelta(days=1))
    assert (await refused(keys.rotate(ORG, pem, old_valid_until=until))).reason == Reason.KEY_AMBIGUOUS
    naive = await refused(keys.rotate(ORG, pem, old_valid_until=until.replace(tzinfo=None)))
    past = await refused(keys.rotate(ORG, pem, old_valid_until=NOW - dt.timedelta(days=1)))
    assert [e.violations[0].field for e in (naive, past)] == ["old_valid_until", "old_valid_until"]
    assert (await refused(keys.rotate(" ", pem, old_valid_until=until))).violations[0].field == "organisation"


async def test_a_revocation_counts_what_it_takes_and_happens_once(db: Database) -> None:
    keys, key = store(db), SigningKey.generate_ed25519()
    await keys.add(ORG, key.public_pem(), not_before=NOW - dt.timedelta(days=1))
    entry, affected = await keys.revoke(key.keyid, reason="laptop stolen", at=NOW - dt.timedelta(hours=1))
    assert (entry.revoke_reason, affected, entry.state(NOW)) == ("laptop stolen", 0, KeyState.REVOKED)
    assert (await refused(keys.revoke(key.keyid, reason="again"))).reason == Reason.KEY_REVOKED
    assert (await refused(keys.revoke("nope", reason="x"))).reason == Reason.NOT_FOUND
    other = SigningKey.generate_ed25519()
    await keys.add(ORG, other.public_pem())
    future = await refused(keys.revoke(other.keyid, reason="x", at=NOW + dt.timedelta(hours=1)))
    naive = await refused(keys.revoke(other.keyid, reason="x", at=NOW.replace(tzinfo=None)))
    no_reason = await refused(keys.revoke(other.keyid, reason=""))
    assert [e.violations[0].field for e in (future, naive, no_reason)] == ["at", "at", "reason"]


def test_an_organisations_name_is_trimmed_and_bounded() -> None:
    assert check_organisation("  org ") == "org"
    for bad in ("", "   ", "x" * 201, "a\x00b"):
        with pytest.raises(ServiceError):
            check_organisation(bad)


async def test_trusted_keys_are_read_without_a_service_whatever_their_state(db: Database) -> None:
    store = TrustStore(db, AuditLog(b"k" * 32))
    kept = await store.add("533401-civil-affairs", SigningKey.generate_ed25519().public_pem())
    gone = await store.add("533401-civil-affairs", SigningKey.generate_ed25519().public_pem())
    await store.revoke(gone.keyid, reason="laptop stolen")
    found = await trusted_keys(db, [kept.keyid, gone.keyid, "0" * 64])
    assert set(found) == {kept.keyid, gone.keyid}  # an unknown id is simply absent
    assert found[kept.keyid].public_key_pem == kept.public_key_pem and found[kept.keyid].revoked_at is None
    assert found[gone.keyid].revoked_at is not None
