"""Cells sealed at rest (issue 17): the cell format, both suites, the key provider, and every way a cell is refused."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from consent.suite import CryptoSuite, Sm4Gcm
from verifier.errors import Reason
from verifier.storage.sealing import (
    CellExpired,
    CellUnreadable,
    DataKey,
    FileKeyProvider,
    MemoryKeyProvider,
    Purpose,
    Sealer,
    expired_keys,
    month_of,
)

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
REPORT = ("reports", "body_json", "r-1")
TEXT = '{"members": [{"id_number": "533401197803120118", "name": "张建国"}]}'


def test_sm4_gcm_is_rfc_8998_a1() -> None:
    """RFC 8998 appendix A.1, by its published bytes."""
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    iv = bytes.fromhex("00001234567800000000ABCD")
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plain = bytes.fromhex(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
        "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
    )
    sealed = Sm4Gcm(key).encrypt(iv, plain, aad)
    assert sealed[-16:] == bytes.fromhex("83DE3541E4C2B58177E065A9BF7B62EC")
    assert sealed[:16] == bytes.fromhex("17F399F08C67D5EE19D0DC9969C4BB7D")
    assert Sm4Gcm(key).decrypt(iv, sealed, aad) == plain
    with pytest.raises(InvalidTag):
        Sm4Gcm(key).decrypt(iv, sealed, aad + b"x")


def test_the_keyed_hashes_are_hmac_sha256_and_hmac_sm3() -> None:
    """RFC 4231 test case 2 (HMAC-SHA256) and the SM3 digest of "abc" (GB/T 32905) under an empty-key HMAC frame."""
    assert CryptoSuite.STANDARD.keyed_hash(b"Jefe", b"what do ya want for nothing?").hex() == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    assert len(CryptoSuite.SM.keyed_hash(b"k" * 16, b"abc")) == 32
    assert CryptoSuite.SM.keyed_hash(b"k" * 16, b"abc") != CryptoSuite.STANDARD.keyed_hash(b"k" * 16, b"abc")


def _sealer(suite: CryptoSuite, tmp_path: Path | None = None) -> tuple[Sealer, dict[Purpose, DataKey]]:
    provider = FileKeyProvider(tmp_path, suite) if tmp_path else MemoryKeyProvider(b"m" * 32, suite)
    sealer = Sealer(provider, suite)
    keys = {}
    for purpose in Purpose:
        key = DataKey(
            os.urandom(8).hex(), purpose, "" if purpose is Purpose.INDEX else month_of(NOW), 0, suite, "", None
        )
        key.kek_id = provider.current()
        key.wrapped = provider.wrap(key.kek_id, os.urandom(suite.dek_bytes), key.wrap_aad())
        keys[purpose] = key
    sealer.learn(keys.values())
    return sealer, keys


@pytest.mark.parametrize("suite", list(CryptoSuite))
def test_a_cell_opens_where_it_was_sealed_and_nowhere_else(suite: CryptoSuite) -> None:
    sealer, keys = _sealer(suite)
    cell = sealer.seal(Purpose.ROWS, REPORT, TEXT, NOW)
    assert cell.startswith("hs1.") and "533401" not in cell and sealer.key_of(cell) == keys[Purpose.ROWS].id
    assert sealer.open(REPORT, cell) == TEXT
    assert sealer.seal(Purpose.ROWS, REPORT, TEXT, NOW) != cell  # a fresh nonce each time
    for elsewhere in (
        ("reports", "body_json", "r-2"),
        ("reports", "other", "r-1"),
        ("verifications", "body_json", "r-1"),
    ):
        with pytest.raises(CellUnreadable) as refused:
            sealer.open(elsewhere, cell)
        assert refused.value.reason is Reason.SEALED_CELL_UNREADABLE and refused.value.code == "DATA_LOSS"
        assert "moved from another row" in refused.value.message and "533401" not in refused.value.message


@pytest.mark.parametrize(
    "edit",
    [
        lambda c: c[:-3] + ("A" if c[-3] != "A" else "B") + c[-2:],  # the tag
        lambda c: c[:40] + ("A" if c[40] != "A" else "B") + c[41:],  # the ciphertext or nonce
        lambda c: c[:12],  # cut short
        lambda c: "hs1.!!!",  # not base64url
    ],
)
def test_an_edited_cell_is_refused_with_a_reason_not_a_traceback(edit: object) -> None:
    sealer, _ = _sealer(CryptoSuite.STANDARD)
    cell = sealer.seal(Purpose.ROWS, REPORT, TEXT, NOW)
    with pytest.raises(CellUnreadable) as refused:
        sealer.open(REPORT, edit(cell))  # type: ignore[operator]
    assert refused.value.reason is Reason.SEALED_CELL_UNREADABLE


def test_a_report_read_again_is_not_opened_again_yet_an_edit_or_a_destroyed_key_still_tells(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import verifier.storage.sealing._sealer as sealer_module

    parsed: list[str] = []
    parse = sealer_module.parse_cell
    monkeypatch.setattr(sealer_module, "parse_cell", lambda stored: parsed.append(stored) or parse(stored))
    sealer, keys = _sealer(CryptoSuite.STANDARD)
    cell = sealer.seal(Purpose.ROWS, REPORT, TEXT, NOW)
    assert [sealer.open(REPORT, cell) for _ in range(3)] == [TEXT] * 3 and parsed == []  # as sealed here
    other = sealer.seal(Purpose.ROWS, ("reports", "body_json", "r-2"), TEXT, NOW)
    with pytest.raises(CellUnreadable):
        sealer.open(REPORT, other)  # another row's cell: opened, and refused
    edited = cell[:40] + ("A" if cell[40] != "A" else "B") + cell[41:]
    with pytest.raises(CellUnreadable):
        sealer.open(REPORT, edited)
    assert parsed == [other, edited]
    answers = ("department_results", "records_json", "v-1/tax")
    answer = sealer.seal(Purpose.ANSWERS, answers, "[]", NOW)
    assert sealer.open(answers, answer) == "[]" and parsed[-1] == answer  # answers are never remembered
    keys[Purpose.ROWS].wrapped = None  # never done to a rows key; if it were, nothing would outlive it
    sealer.learn([keys[Purpose.ROWS]])
    with pytest.raises(CellExpired):
        sealer.open(REPORT, cell)


def test_legacy_plaintext_is_read_as_it_is_and_an_unknown_key_is_named() -> None:
    sealer, _ = _sealer(CryptoSuite.STANDARD)
    assert sealer.open(REPORT, TEXT) == TEXT
    other, _ = _sealer(CryptoSuite.STANDARD)
    cell = other.seal(Purpose.ROWS, REPORT, TEXT, NOW)
    with pytest.raises(CellUnreadable) as refused:
        sealer.open(REPORT, cell)
    assert refused.value.missing and "is unknown" in refused.value.message


def test_a_destroyed_key_makes_its_answers_expired() -> None:
    sealer, keys = _sealer(CryptoSuite.STANDARD)
    where = ("department_results", "records_json", "v-1/tax")
    answer = sealer.seal(Purpose.ANSWERS, where, "[]", NOW)
    report = sealer.seal(Purpose.ROWS, REPORT, TEXT, NOW)
    keys[Purpose.ANSWERS].wrapped = None
    sealer.learn([keys[Purpose.ANSWERS]])
    with pytest.raises(CellExpired) as expired:
        sealer.open(where, answer)
    assert expired.value.reason is Reason.ANSWER_EXPIRED
    assert sealer.open(REPORT, report) == TEXT


def test_answers_keys_expire_the_month_after_their_retention() -> None:
    """A key of 2026-12 with 12 months: its answers are kept through 2027-12 and destroyed from 2028-01 on."""
    sealer, keys = _sealer(CryptoSuite.STANDARD)
    assert expired_keys(sealer, 12, dt.datetime(2027, 12, 31, 15, tzinfo=dt.UTC)) == []  # 23:00 China time
    assert expired_keys(sealer, 12, dt.datetime(2027, 12, 31, 16, tzinfo=dt.UTC)) == [keys[Purpose.ANSWERS]]


@pytest.mark.parametrize("suite", list(CryptoSuite))
def test_the_blind_index_is_keyed_and_stable(suite: CryptoSuite) -> None:
    sealer, _ = _sealer(suite)
    other, _ = _sealer(suite)
    index = sealer.index("533401197803120118")
    assert index == sealer.index("533401197803120118") != other.index("533401197803120118")
    assert len(index) == 64 and "533401" not in index


def test_the_file_provider_keeps_owner_only_master_keys_and_wraps_per_key(tmp_path: Path) -> None:
    provider = FileKeyProvider(tmp_path / "keys", CryptoSuite.STANDARD)
    first = provider.current()
    path = tmp_path / "keys" / f"{first}.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(bytes.fromhex(path.read_text())) == 32
    wrapped = provider.wrap(first, b"d" * 32, b"aad")
    assert provider.unwrap(first, wrapped, b"aad") == b"d" * 32
    with pytest.raises(InvalidTag):
        provider.unwrap(first, wrapped, b"another key's label")
    second = provider.new_master_key()
    assert provider.current() == second != first and provider.unwrap(first, wrapped, b"aad") == b"d" * 32
    read_only = FileKeyProvider(tmp_path / "none", CryptoSuite.STANDARD, create=False)
    with pytest.raises(LookupError):
        read_only.current()
    assert not (tmp_path / "none").exists()


def test_after_a_switch_of_suite_new_keys_of_the_new_suite_seal_and_the_old_cells_still_open() -> None:
    """Keys made under ``standard``, then ``crypto_suite = "sm"``: the service lacks this month's and next month's rows
    and answers keys of SM4 (the next generation) and seals with them once made; the index key stays (never
    replaced); an AES-GCM cell sealed before the switch opens."""
    from verifier.storage.sealing._keys import _missing, _next_generation, next_month

    old, keys = _sealer(CryptoSuite.STANDARD)
    before = old.seal(Purpose.ROWS, REPORT, TEXT, NOW)
    switched = Sealer(old.provider, CryptoSuite.SM)
    switched.learn(keys.values())
    month, following = month_of(NOW), next_month(month_of(NOW))
    assert _missing(switched, NOW) == [
        (Purpose.ROWS, month),
        (Purpose.ROWS, following),
        (Purpose.ANSWERS, month),
        (Purpose.ANSWERS, following),
    ]
    assert (_next_generation(switched, Purpose.ROWS, month), _next_generation(switched, Purpose.ROWS, following)) == (
        1,
        0,
    )
    assert switched.writing_key(Purpose.ROWS, NOW).suite is CryptoSuite.STANDARD  # until the new key is made
    new = DataKey("00" * 8, Purpose.ROWS, month, 1, CryptoSuite.SM, old.provider.current(), None)
    new.wrapped = old.provider.wrap(new.kek_id, os.urandom(16), new.wrap_aad())
    switched.learn([new])
    assert switched.writing_key(Purpose.ROWS, NOW) is new
    after = switched.seal(Purpose.ROWS, REPORT, TEXT, NOW)
    assert switched.key_of(after) == new.id and switched.key_of(before) == keys[Purpose.ROWS].id
    assert switched.open(REPORT, before) == switched.open(REPORT, after) == TEXT
    assert switched.index("x") == old.index("x")  # the index key of the standard suite, kept
