"""audit/cosignature.py, the cosignature verifier, against vectors built from the text of C2SP tlog-cosignature.

C2SP publishes no vectors that can be verified (its examples give no public key; the one fixed vector of
transparency-dev/formats, note/note_cosigv1_test.go, has neither key nor message), so the vectors are built here
from the spec's own example — the checkpoint body and ``time 1679315147`` of c2sp.org/tlog-cosignature — with the
RFC 8032 §7.1 TEST 1 key, the signed message and the key ID written out by hand and signed with ``cryptography``
directly (no code of audit/). The spec's example line is checked for its layout: key ID, then the big-endian
timestamp its signed message names.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.checkpoint import NoteSigner, sign_note
from audit.cosignature import CosignatureError, CosignatureVerifier, cosignatures
from audit.witness_server import CosignatureSigner

# RFC 8032 §7.1, TEST 1.
SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
NAME = "witness.example.com/w1"
# c2sp.org/tlog-cosignature, "Ed25519 signed message": the checkpoint and its timestamp.
BODY = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
TIME = 1679315147
MESSAGE = (
    b"cosignature/v1\n"
    b"time 1679315147\n"
    b"example.com/behind-the-sofa\n"
    b"20852163\n"
    b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
KEY_ID = hashlib.sha256(b"witness.example.com/w1\n\x04" + PUBLIC).digest()[:4]
LOG_LINE = (
    "— example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)
SPEC_LINE = "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="


def line(timestamp: int = TIME, message: bytes = MESSAGE, key_id: bytes = KEY_ID, name: str = NAME) -> str:
    """A cosignature line assembled by hand: key ID || u64 big-endian timestamp || Ed25519(message)."""
    signature = Ed25519PrivateKey.from_private_bytes(SEED).sign(message)
    return f"— {name} " + base64.b64encode(key_id + timestamp.to_bytes(8, "big") + signature).decode() + "\n"


def note(*lines: str, body: bytes = BODY) -> str:
    return body.decode() + "\n" + "".join(lines)


VERIFIER = CosignatureVerifier(NAME, PUBLIC)


def test_the_key_id_is_sha256_of_name_newline_0x04_and_key() -> None:
    assert VERIFIER.key_id == KEY_ID
    vkey = f"{NAME}+{KEY_ID.hex()}+" + base64.b64encode(b"\x04" + PUBLIC).decode()
    assert VERIFIER.vkey == vkey
    assert CosignatureVerifier.from_vkey(vkey).public_key == PUBLIC


def test_a_cosignature_built_from_the_spec_text_verifies_with_its_timestamp() -> None:
    found = cosignatures(note(LOG_LINE, line()), [VERIFIER])
    assert [(c.name, c.timestamp) for c in found] == [(NAME, 1679315147)]
    assert found[0].time == dt.datetime(2023, 3, 20, 12, 25, 47, tzinfo=dt.UTC)
    assert found[0].line == line()


def test_the_spec_example_line_holds_key_id_then_the_timestamp_its_message_names() -> None:
    raw = base64.b64decode(SPEC_LINE)
    assert len(raw) == 4 + 8 + 64
    assert int.from_bytes(raw[4:12], "big") == TIME  # "time 1679315147" of the spec's signed message
    # Signed by a key the spec does not publish: a verifier of another key ignores it (name matches, ID does not).
    assert cosignatures(note(f"— {NAME} {SPEC_LINE}\n"), [VERIFIER]) == []


def test_the_witness_signer_makes_exactly_the_line_of_the_spec() -> None:
    assert CosignatureSigner(NAME, SEED).cosign(BODY, TIME) == line()
    assert CosignatureSigner(NAME, SEED).vkey == VERIFIER.vkey


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (line(timestamp=TIME + 1), "does not verify"),  # the timestamp is signed
        (line(message=MESSAGE.replace(b"20852163", b"20852164")), "does not verify"),
        (line(message=MESSAGE.replace(b"cosignature/v1\n", b"")), "does not verify"),  # no header: no cosignature
        (line(message=BODY), "does not verify"),  # a plain note signature under the cosigner's ID
        (line(timestamp=0, message=MESSAGE.replace(b"time 1679315147", b"time 0")), "zero"),
        (line(timestamp=1 << 63, message=MESSAGE.replace(b"1679315147", str(1 << 63).encode())), r"2\*\*63"),
    ],
)
def test_a_known_cosigner_line_that_does_not_verify_refuses_the_note(bad: str, why: str) -> None:
    with pytest.raises(CosignatureError, match=why):
        cosignatures(note(LOG_LINE, bad), [VERIFIER])


def test_extension_lines_are_signed_too() -> None:
    body = BODY + b"hedui/v1 prev=0 time=2026-12-01T00:00:00.000000Z\n"
    good = line(message=b"cosignature/v1\ntime 1679315147\n" + body)
    assert cosignatures(note(good, body=body), [VERIFIER])
    edited = body.replace(b"prev=0", b"prev=1")
    with pytest.raises(CosignatureError):
        cosignatures(note(good, body=edited), [VERIFIER])


def test_a_signature_of_type_0x01_by_the_same_key_is_not_a_cosignature() -> None:
    plain = sign_note(BODY, NoteSigner.from_private_bytes(NAME, SEED))  # key ID with 0x01: another key to verifiers
    assert cosignatures(plain, [VERIFIER]) == []


def test_lines_of_unknown_keys_are_ignored_and_the_newest_of_one_cosigner_is_kept() -> None:
    stranger = "— other.example/w9 " + base64.b64encode(b"\0" * 76).decode() + "\n"
    later = line(timestamp=TIME + 60, message=MESSAGE.replace(b"1679315147", b"1679315207"))
    found = cosignatures(note(stranger, line(), later), [VERIFIER])
    assert [c.timestamp for c in found] == [TIME + 60]


def test_wrong_lengths_and_future_timestamps_are_refused() -> None:
    short = f"— {NAME} " + base64.b64encode(KEY_ID + b"\0" * 70).decode() + "\n"
    with pytest.raises(CosignatureError, match="8 \\+ 64"):
        cosignatures(note(short), [VERIFIER])
    with pytest.raises(CosignatureError, match="future"):
        cosignatures(note(line()), [VERIFIER], now=dt.datetime(2023, 3, 20, 12, 0, tzinfo=dt.UTC))
    assert cosignatures(note(line()), [VERIFIER], now=dt.datetime(2023, 3, 20, 12, 25, tzinfo=dt.UTC))


def _noncanonical(raw: bytes) -> str:
    """base64 of ``raw`` with the unused bits before the padding set: it decodes to ``raw`` all the same."""
    text = base64.b64encode(raw).decode()
    assert text.endswith("=") and not text.endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    spoilt = text[:-2] + alphabet[alphabet.index(text[-2]) | 0b11] + "="
    assert base64.b64decode(spoilt, validate=True) == raw and spoilt != text
    return spoilt


@pytest.mark.parametrize(
    ("vkey", "why"),
    [
        (f"{NAME}+{KEY_ID.hex()}+" + base64.b64encode(b"\x01" + PUBLIC).decode(), "type 0x01"),
        (f"{NAME}+00000000+" + base64.b64encode(b"\x04" + PUBLIC).decode(), "does not match"),
        (f"{NAME}+{KEY_ID.hex()}+" + base64.b64encode(b"\x04" + PUBLIC[:31]).decode(), "31 bytes"),
        ("no-plus-signs", "<name>"),
        (f"{NAME}+{KEY_ID.hex()}+" + _noncanonical(b"\x04" + PUBLIC[:31]), "not canonical base64"),
    ],
)
def test_verifier_keys_other_than_cosignature_v1_keys_are_refused(vkey: str, why: str) -> None:
    with pytest.raises(CosignatureError, match=why):
        CosignatureVerifier.from_vkey(vkey)
