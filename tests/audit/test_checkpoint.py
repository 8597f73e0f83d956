"""Signed notes and checkpoints: audit/checkpoint.py, against the Go reference vectors."""

from __future__ import annotations

import base64
import contextlib
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.checkpoint import (
    MAX_NOTE_SIZE,
    Checkpoint,
    CheckpointError,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    open_note,
    parse_note,
    sign_checkpoint,
    sign_note,
    signature_line,
)

# golang.org/x/mod/sumdb/note/note_test.go
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"

# golang.org/x/mod/sumdb/tlog/note_test.go: a tree note whose root is RecordHash("hello world").
GO_TREE = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"

# A real signed tree head of sum.golang.org (the key every Go toolchain ships with).
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTE = (
    "go.sum database tree\n49189689\nftjbAOzaupaIvaPo/G+Dk63nxOZ2s1OPOKIaPtXs7S4=\n\n"
    "— sum.golang.org Az3grlKZssqRoMNPpZfKt0TphbbcF+pzXqElURJKRNFKfaUAgqeI5k2AORH0QAhg/ebRwyIqD/OqP4oLtLnNumvOBAM=\n"
)

ORIGIN = "hedui.example/audit"
ROOT = hashlib.sha256(b"root").digest()
LOG = NoteSigner.from_private_bytes(ORIGIN, bytes(range(32)))
WITNESS = NoteSigner.from_private_bytes("witness.example/w1", bytes(range(32, 64)))


PETER_PUB = base64.b64decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")  # 0x01 || Ed25519 public key


def _vkey(name: str, key: bytes) -> str:
    """A verifier key with a correct key ID for whatever ``key`` holds."""
    key_id = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]
    return f"{name}+{key_id.hex()}+{base64.b64encode(key).decode()}"


def peter() -> NoteVerifier:
    return NoteVerifier.from_vkey(PETER_VKEY)


def enoch() -> NoteVerifier:
    return NoteVerifier.from_vkey(ENOCH_VKEY)


def expect(message: str) -> contextlib.AbstractContextManager[pytest.ExceptionInfo[CheckpointError]]:
    return pytest.raises(CheckpointError, match=message)


# --- keys -------------------------------------------------------------------------------------


def test_go_signer_key_gives_the_go_verifier_key() -> None:
    signer = NoteSigner.from_signer_key(PETER_SKEY)
    assert signer.name == "PeterNeumann"
    assert signer.key_id == bytes.fromhex("c74f20a3")
    assert signer.verifier_key() == PETER_VKEY
    assert signer.signer_key() == PETER_SKEY
    assert signer.verifier().vkey == PETER_VKEY


def test_verifier_key_fields() -> None:
    verifier = peter()
    assert verifier.name == "PeterNeumann"
    assert verifier.key_id == bytes.fromhex("c74f20a3")
    assert verifier.vkey == PETER_VKEY
    assert enoch().key_id == bytes.fromhex("af0cfe78")


def test_key_id_is_sha256_of_name_newline_type_and_key() -> None:
    pub = LOG.public_bytes()
    assert LOG.key_id == hashlib.sha256(ORIGIN.encode() + b"\n\x01" + pub).digest()[:4]
    assert len(LOG.key_id) == 4
    encoded = base64.b64encode(bytes([1]) + pub).decode()
    assert LOG.verifier_key() == f"{ORIGIN}+{LOG.key_id.hex()}+{encoded}"


def test_every_mangling_of_the_go_verifier_key_is_refused() -> None:
    b = PETER_VKEY.encode()
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)):
                with pytest.raises(CheckpointError):
                    NoteVerifier.from_vkey(b[i:j].decode())
    for i in range(len(b)):
        mangled = bytearray(b)
        mangled[i] += 1
        with pytest.raises(CheckpointError):
            NoteVerifier.from_vkey(mangled.decode())


def test_every_mangling_of_the_go_signer_key_is_refused() -> None:
    b = PETER_SKEY.encode()
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)):
                with pytest.raises(CheckpointError):
                    NoteSigner.from_signer_key(b[i:j].decode())
    for i in range(len(b)):
        mangled = bytearray(b)
        mangled[i] += 1
        with pytest.raises(CheckpointError):
            NoteSigner.from_signer_key(mangled.decode())


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        # From note_test.go: wrong key length and unknown algorithm, each with an adjusted key ID.
        # (Go's decoder ignores the non-zero trailing bits of "…KEY=="; this one does not.)
        ("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==", "not canonical base64"),
        ("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "unknown signature type 0x65"),
        (_vkey("PeterNeumann", PETER_PUB + b"BAD"), "is 35 bytes, not 32"),
        (_vkey("PeterNeumann", PETER_PUB[:-1]), "is 31 bytes, not 32"),
        (_vkey("PeterNeumann", b"\x04" + PETER_PUB[1:]), "unknown signature type 0x04"),
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        ("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "not 8 hexadecimal digits"),
        ("PeterNeumann+c74f20ag+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "not 8 hexadecimal digits"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", "not valid base64"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TX", "does not match"),
        ("PeterNeumann+c74f20a3+", "public key is empty"),
        ("PeterNeumann+c74f20a3", "not of the form"),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "key name is empty"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "contains a space"),
        ("Peter\u3000Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "contains a space"),
        ("Peter\x01+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "control character"),
    ],
)
def test_bad_verifier_keys_are_refused_with_the_reason(vkey: str, message: str) -> None:
    with expect(message):
        NoteVerifier.from_vkey(vkey)


def test_upper_case_key_id_is_accepted_like_go() -> None:
    assert NoteVerifier.from_vkey(PETER_VKEY.replace("c74f20a3", "C74F20A3")).key_id == bytes.fromhex("c74f20a3")


@pytest.mark.parametrize("name", ["", "a+b", "a b", "a\tb", "a\u00a0b", "a\u2028b", "a\x00b"])
def test_bad_key_names_are_refused(name: str) -> None:
    with pytest.raises(CheckpointError, match="key name"):
        NoteSigner.generate(name)


def test_private_key_round_trips() -> None:
    signer = NoteSigner.generate("hedui.example/log")
    again = NoteSigner.from_private_bytes(signer.name, signer.private_bytes())
    assert again.verifier_key() == signer.verifier_key()
    assert NoteSigner.from_pem(signer.name, signer.private_pem()).verifier_key() == signer.verifier_key()
    encrypted = signer.private_pem(b"correct horse")
    assert b"ENCRYPTED" in encrypted
    assert NoteSigner.from_pem(signer.name, encrypted, b"correct horse").verifier_key() == signer.verifier_key()
    with expect("cannot load PEM private key"):
        NoteSigner.from_pem(signer.name, encrypted, b"wrong")
    assert NoteSigner.from_signer_key(signer.signer_key()).verifier_key() == signer.verifier_key()


def test_bad_private_keys_are_refused() -> None:
    with expect("is 31 bytes, not 32"):
        NoteSigner.from_private_bytes("log", bytes(31))
    with expect("cannot load PEM private key"):
        NoteSigner.from_pem("log", b"not a pem")
    p256 = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with expect("not Ed25519"):
        NoteSigner.from_pem("log", p256)
    with expect("does not match"):
        NoteSigner.from_signer_key(PETER_SKEY.replace("c74f20a3", "c74f20a4"))
    with expect("not an Ed25519 key"):
        NoteSigner.from_signer_key("PRIVATE+KEY+PeterNeumann+c74f20a3+AgEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")


def test_sign_and_verify_raw() -> None:
    signer = NoteSigner.from_signer_key(PETER_SKEY)
    verifier = peter()
    signature = signer.sign(b"hi")
    assert len(signature) == 64
    assert verifier.verify(b"hi", signature)
    assert not verifier.verify(b"hj", signature)
    assert not verifier.verify(b"hi", bytes([signature[0] ^ 1]) + signature[1:])
    assert not verifier.verify(b"hi", signature[:-1])
    assert not enoch().verify(b"hi", signature)


# --- notes: the Go vectors --------------------------------------------------------------------


def test_sign_reproduces_the_go_note_exactly() -> None:
    signer = NoteSigner.from_signer_key(PETER_SKEY)
    assert sign_note(TEXT.encode(), signer) == TEXT + "\n" + PETER_SIG
    assert signature_line(TEXT.encode(), signer) == PETER_SIG


def test_open_go_note_one_verified_one_unknown() -> None:
    body, signed = open_note((TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), [peter()])
    assert body == TEXT.encode()
    assert [v.vkey for v in signed] == [PETER_VKEY]


def test_open_go_note_both_verified() -> None:
    body, signed = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter(), enoch()])
    assert body == TEXT.encode()
    assert [v.vkey for v in signed] == [PETER_VKEY, ENOCH_VKEY]


def test_open_go_note_without_known_key_is_refused() -> None:
    with expect(r"no signature by a known key \(signed by: PeterNeumann\+c74f20a3, EnochRoot\+af0cfe78\)"):
        open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])


def test_the_same_verifier_twice_is_not_ambiguous() -> None:
    _, signed = open_note(TEXT + "\n" + ENOCH_SIG, [enoch(), peter(), enoch()])
    assert [v.vkey for v in signed] == [ENOCH_VKEY]


def test_two_different_keys_with_one_name_and_id_are_ambiguous() -> None:
    impostor = NoteVerifier("EnochRoot", Ed25519PrivateKey.generate().public_key())
    impostor.key_id = enoch().key_id  # a 32-bit collision, forced
    with expect(r"ambiguous key EnochRoot\+af0cfe78"):
        open_note(TEXT + "\n" + ENOCH_SIG, [enoch(), impostor])
    # Unused, the ambiguity does not matter (as in Go).
    open_note(TEXT + "\n" + PETER_SIG, [enoch(), peter(), impostor])


def test_signature_limit() -> None:
    _, signed = open_note(TEXT + "\n" + PETER_SIG * 100, [peter()])
    assert len(signed) == 1
    with expect("101 signature lines, more than 100"):
        open_note(TEXT + "\n" + PETER_SIG * 101, [peter()])
    with expect("101 signature lines, more than 100"):
        open_note(TEXT + "\n" + PETER_SIG * 101, [])


def test_size_limit() -> None:
    big = "x" * MAX_NOTE_SIZE + "\n"
    with expect(f"more than {MAX_NOTE_SIZE}"):
        open_note(big + "\n" + PETER_SIG, [peter()])


def test_invalid_signature_by_known_key_rejects_the_note() -> None:
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with expect(r"invalid signature by known key PeterNeumann\+c74f20a3"):
        open_note(TEXT + "\n" + bad, [peter()])
    # ... even when another signature by that key is good (the spec: every known signature is verified).
    with expect(r"invalid signature by known key PeterNeumann\+c74f20a3"):
        open_note(TEXT + "\n" + PETER_SIG + bad, [peter()])


def test_duplicated_and_bad_unknown_signatures_are_ignored() -> None:
    enoch_abcd = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    body, signed = open_note(TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd, [peter()])
    assert body == TEXT.encode()
    assert [v.vkey for v in signed] == [PETER_VKEY]


def test_unknown_keys_sharing_a_name_or_an_id_are_ignored() -> None:
    misnamed = PETER_SIG.replace("PeterNeumann", "CarmenSandiego")
    with expect(r"no signature by a known key \(signed by: CarmenSandiego\+c74f20a3\)"):
        open_note(TEXT + "\n" + misnamed, [peter()])
    other_id = PETER_SIG.replace("x08g", "xxxx")
    with expect(r"no signature by a known key \(signed by: PeterNeumann\+c71c71a3\)"):
        open_note(TEXT + "\n" + other_id, [peter()])
    body, _ = open_note(TEXT + "\n" + misnamed + other_id + PETER_SIG, [peter()])
    assert body == TEXT.encode()


@pytest.mark.parametrize(
    ("note", "message"),
    [
        # The malformed notes of note_test.go ...
        (TEXT, "no blank line before its signatures"),
        (TEXT + "\n", "no signature lines after its last blank line"),
        (TEXT + "\n" + PETER_SIG[:-1], "does not end with a newline"),
        ("\x01" + TEXT + "\n" + PETER_SIG, "control character U\\+0001"),
        (b"\xff" + (TEXT + "\n" + PETER_SIG).encode(), "not valid UTF-8 \\(byte offset 0\\)"),
        (
            TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name"),
            "signature line 1 is not valid base64",
        ),
        (TEXT + "\n" + PETER_SIG + "Unexpected line.\n", "signature line 2 does not start with an em dash"),
        # ... and more.
        (TEXT + "\n" + PETER_SIG.replace("—", "-"), "signature line 1 does not start with an em dash"),
        (TEXT + "\n" + PETER_SIG.replace("— ", "—"), "signature line 1 does not start with an em dash"),
        (TEXT + "\n" + "— PeterNeumann\n", "no space between key name and signature"),
        (TEXT + "\n" + "—  x08go/ZJku\n", "signature line 1: key name is empty"),
        (TEXT + "\n" + "— PeterNeumann AAAAAA==\n", "holds 4 bytes, fewer than key ID"),
        (TEXT + "\n" + "— PeterNeumann \n", "signature line 1 holds 0 bytes"),
        (TEXT + "\n" + PETER_SIG.replace("AM=", "AN="), "signature line 1 is not canonical base64"),
        (TEXT + "\n" + PETER_SIG + "\n", "no signature lines after its last blank line"),
        (TEXT + "\n" + PETER_SIG.replace(" x08", "\tx08"), "control character U\\+0009"),
        (TEXT.replace("\n", "\r\n") + "\r\n" + PETER_SIG, "control character U\\+000D"),
        ("a\ud800\n\n" + PETER_SIG, "not valid Unicode"),
        (b"a\xed\xa0\x80\n\n" + PETER_SIG.encode(), "not valid UTF-8"),
    ],
)
def test_malformed_notes_are_refused_with_the_reason(note: str | bytes, message: str) -> None:
    with expect(message):
        open_note(note, [peter()])


def test_a_note_text_may_contain_blank_lines() -> None:
    body = b"first\n\nthird\n\n"
    note = sign_note(body, LOG)
    assert open_note(note, [LOG.verifier()])[0] == body
    assert parse_note(note) == (body, [NoteSignature(LOG.name, LOG.key_id, LOG.sign(body))])


def test_sign_note_refuses_bad_bodies_and_signers() -> None:
    with expect("does not end with a newline"):
        sign_note(b"abc", LOG)
    with expect("control character U\\+0000"):
        sign_note(b"a\x00\n", LOG)
    with expect("not valid UTF-8"):
        sign_note(b"\xc3\n", LOG)
    with expect("at least one signer"):
        sign_note(b"abc\n")
    with expect(r"two signers share the key hedui\.example/audit\+"):
        sign_note(b"abc\n", LOG, WITNESS, LOG)


def test_multiply_signed_note_round_trips() -> None:
    note = sign_note(b"abc\n", LOG, WITNESS)
    body, signed = open_note(note, [WITNESS.verifier(), LOG.verifier()])
    assert body == b"abc\n"
    assert [v.name for v in signed] == [ORIGIN, "witness.example/w1"]


# --- checkpoints ------------------------------------------------------------------------------


def test_checkpoint_body_matches_the_go_tree_format() -> None:
    root = hashlib.sha256(b"\x00hello world").digest()  # RFC 6962 leaf hash, as tlog.RecordHash
    checkpoint = Checkpoint("go.sum database tree", 123456789012, root)
    assert checkpoint.body() == GO_TREE.encode()
    assert Checkpoint.parse_body(GO_TREE.encode()) == checkpoint


def test_real_sum_golang_org_tree_head_opens() -> None:
    checkpoint = open_checkpoint(SUMDB_NOTE, NoteVerifier.from_vkey(SUMDB_VKEY), origin="go.sum database tree")
    assert checkpoint.size == 49189689
    assert base64.b64encode(checkpoint.root_hash).decode() == "ftjbAOzaupaIvaPo/G+Dk63nxOZ2s1OPOKIaPtXs7S4="


def test_checkpoint_round_trips() -> None:
    checkpoint = Checkpoint(ORIGIN, 42, ROOT, ("extension one", "— two"))
    note = sign_checkpoint(checkpoint, LOG)
    assert note.startswith(f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\nextension one\n— two\n\n— {ORIGIN} ")
    assert open_checkpoint(note, LOG.verifier()) == checkpoint
    assert open_checkpoint(note.encode(), LOG.verifier(), origin=ORIGIN) == checkpoint
    empty = Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest())
    assert open_checkpoint(sign_checkpoint(empty, LOG), LOG.verifier()) == empty


def test_cosigned_checkpoint_opens_for_the_log_key_alone_and_with_the_witness() -> None:
    checkpoint = Checkpoint(ORIGIN, 7, ROOT)
    note = sign_checkpoint(checkpoint, LOG) + signature_line(checkpoint.body(), WITNESS)
    assert open_checkpoint(note, LOG.verifier()) == checkpoint
    _, signed = open_note(note, [LOG.verifier(), WITNESS.verifier()])
    assert [v.name for v in signed] == [ORIGIN, WITNESS.name]


def test_checkpoint_must_be_signed_by_the_log() -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 7, ROOT), WITNESS)
    with expect("no signature by a known key"):
        open_checkpoint(note, LOG.verifier())
    impostor = NoteSigner.generate(ORIGIN)  # same name, different key: an unknown key
    with expect("no signature by a known key"):
        open_checkpoint(sign_checkpoint(Checkpoint(ORIGIN, 7, ROOT), impostor), LOG.verifier())


def test_checkpoint_origin_is_checked_when_given() -> None:
    note = sign_checkpoint(Checkpoint("elsewhere.example/log", 7, ROOT), LOG)
    with expect("checkpoint origin 'elsewhere.example/log' is not the expected 'hedui.example/audit'"):
        open_checkpoint(note, LOG.verifier(), origin=ORIGIN)
    assert open_checkpoint(note, LOG.verifier()).origin == "elsewhere.example/log"


def test_signed_note_that_is_not_a_checkpoint_is_refused() -> None:
    with expect("checkpoint has 2 line"):
        open_checkpoint(sign_note(b"hedui.example/audit\n7\n", LOG), LOG.verifier())


ROOT64 = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"{ORIGIN}\n7\n{ROOT64}".encode(), "does not end with a newline"),
        (f"{ORIGIN}\n7\n".encode(), "has 2 line\\(s\\), needs at least 3"),
        (b"\n", "has 1 line\\(s\\)"),
        (b"", "does not end with a newline"),
        (f"\n7\n{ROOT64}\n".encode(), "origin is empty"),
        (f"{ORIGIN}\n07\n{ROOT64}\n".encode(), "'07' is not a decimal number without leading zeros"),
        (f"{ORIGIN}\n00\n{ROOT64}\n".encode(), "'00' is not a decimal"),
        (f"{ORIGIN}\n\n{ROOT64}\n".encode(), "'' is not a decimal"),
        (f"{ORIGIN}\n+7\n{ROOT64}\n".encode(), "'\\+7' is not a decimal"),
        (f"{ORIGIN}\n-1\n{ROOT64}\n".encode(), "'-1' is not a decimal"),
        (f"{ORIGIN}\n 7\n{ROOT64}\n".encode(), "' 7' is not a decimal"),
        (f"{ORIGIN}\n7 \n{ROOT64}\n".encode(), "'7 ' is not a decimal"),
        (f"{ORIGIN}\n1_000\n{ROOT64}\n".encode(), "'1_000' is not a decimal"),
        (f"{ORIGIN}\n0xabcdef\n{ROOT64}\n".encode(), "'0xabcdef' is not a decimal"),
        (f"{ORIGIN}\n\u0667\n{ROOT64}\n".encode(), "is not a decimal"),
        (f"{ORIGIN}\n{2**63}\n{ROOT64}\n".encode(), "larger than 2\\*\\*63-1"),
        (
            f"{ORIGIN}\n7\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG=\n".encode(),  # from tlog's note_test.go
            "root hash is not canonical base64",
        ),
        (f"{ORIGIN}\n7\n{base64.b64encode(ROOT + b'x').decode()}\n".encode(), "root hash is 33 bytes, not 32"),
        (f"{ORIGIN}\n7\n{base64.b64encode(ROOT[:31]).decode()}\n".encode(), "root hash is 31 bytes, not 32"),
        (f"{ORIGIN}\n7\n{ROOT64.rstrip('=')}\n".encode(), "root hash is not valid base64"),
        (f"{ORIGIN}\n7\n{ROOT64[:-2]}1=\n".encode(), "root hash is not canonical base64"),
        (f"{ORIGIN}\n7\n{'_' * 43}=\n".encode(), "not valid base64"),
        (f"{ORIGIN}\n7\n\n".encode(), "root hash is 0 bytes"),
        (f"{ORIGIN}\n7\n{ROOT64}\n\n".encode(), "line 4 \\(an extension line\\) is empty"),
        (f"{ORIGIN}\n7\n{ROOT64}\next\n\nmore\n".encode(), "line 5 \\(an extension line\\) is empty"),
        (f"{ORIGIN}\t\n7\n{ROOT64}\n".encode(), "control character U\\+0009"),
        (f"{ORIGIN}\n7\r\n{ROOT64}\n".encode(), "control character U\\+000D"),
        (b"\xc0\xaf\n7\n" + ROOT64.encode() + b"\n", "not valid UTF-8"),
    ],
)
def test_bad_checkpoint_bodies_are_refused_with_the_reason(body: bytes, message: str) -> None:
    with expect(message):
        Checkpoint.parse_body(body)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"origin": ""}, "origin is empty"),
        ({"origin": "a\nb"}, "origin contains a newline"),
        ({"origin": "a\x7fb\x1f"}, "origin contains control character U\\+001F"),
        ({"origin": "\udcff"}, "origin is not valid Unicode"),
        ({"size": -1}, "outside 0..2\\*\\*63-1"),
        ({"size": 2**63}, "outside 0..2\\*\\*63-1"),
        ({"size": True}, "size must be an int, not bool"),
        ({"size": 7.0}, "size must be an int, not float"),
        ({"root_hash": ROOT[:31]}, "root hash is 31 bytes, not 32"),
        ({"root_hash": bytearray(ROOT)}, "root hash must be bytes, not bytearray"),
        ({"extensions": ["x"]}, "extensions must be a tuple"),
        ({"extensions": ("",)}, "extension line is empty"),
        ({"extensions": ("a\nb",)}, "extension line contains a newline"),
    ],
)
def test_bad_checkpoints_cannot_be_built(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"origin": ORIGIN, "size": 7, "root_hash": ROOT, **kwargs}
    with expect(message):
        Checkpoint(**fields)  # type: ignore[arg-type]


def test_parse_body_refuses_non_bytes() -> None:
    with expect("must be bytes, not str"):
        Checkpoint.parse_body(GO_TREE)  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------------

_line_text = st.text(alphabet=st.characters(min_codepoint=0x20, blacklist_categories=("Cs",)), min_size=1, max_size=40)
checkpoints = st.builds(
    Checkpoint,
    origin=_line_text,
    size=st.integers(min_value=0, max_value=2**63 - 1),
    root_hash=st.binary(min_size=32, max_size=32),
    extensions=st.lists(_line_text, max_size=3).map(tuple),
)


@given(checkpoints)
def test_any_checkpoint_round_trips_through_its_body(checkpoint: Checkpoint) -> None:
    assert Checkpoint.parse_body(checkpoint.body()) == checkpoint


@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(checkpoints)
def test_any_checkpoint_round_trips_through_a_signed_note(checkpoint: Checkpoint) -> None:
    assert open_checkpoint(sign_checkpoint(checkpoint, LOG), LOG.verifier()) == checkpoint


ORIGINAL = Checkpoint(ORIGIN, 1234, ROOT, ("ext",))
LOG_NOTE = sign_checkpoint(ORIGINAL, LOG).encode()
# A cosignature by a key the opener does not know: the only part a mutation may touch harmlessly.
UNKNOWN_LINE = signature_line(ORIGINAL.body(), WITNESS).encode()
COSIGNED = LOG_NOTE + UNKNOWN_LINE


def _mutate(data: bytes, kind: str, position: int, value: int) -> bytes:
    position %= len(data) + (kind == "insert")
    if kind == "replace":
        if data[position] == value:
            value = (value + 1) % 256
        return data[:position] + bytes([value]) + data[position + 1 :]
    if kind == "insert":
        return data[:position] + bytes([value]) + data[position:]
    return data[:position] + data[position + 1 :]


mutations = st.tuples(st.sampled_from(["replace", "insert", "delete"]), st.integers(min_value=0), st.integers(0, 255))


def test_every_flipped_or_deleted_byte_is_caught() -> None:
    """Exhaustively: a change outside the unknown key's line is refused; inside it, it changes nothing."""
    accepted = 0
    for position in range(len(COSIGNED)):
        for mutated in (
            _mutate(COSIGNED, "replace", position, COSIGNED[position] ^ 1),
            _mutate(COSIGNED, "delete", position, 0),
        ):
            try:
                checkpoint = open_checkpoint(mutated, LOG.verifier())
            except CheckpointError:
                continue
            accepted += 1
            assert checkpoint == ORIGINAL
            assert position >= len(LOG_NOTE)
    assert accepted > 0  # the unknown key's line really is ignored


@settings(max_examples=2000, deadline=None)
@given(mutations)
def test_no_single_byte_mutation_is_accepted_as_the_original(mutation: tuple[str, int, int]) -> None:
    kind, position, value = mutation
    mutated = _mutate(COSIGNED, kind, position, value)
    try:
        checkpoint = open_checkpoint(mutated, LOG.verifier())
    except CheckpointError:
        return
    # Accepted: only the unknown key's signature line may have been touched, and the checkpoint is unchanged.
    assert checkpoint == ORIGINAL
    assert mutated.startswith(LOG_NOTE)
    assert position % (len(COSIGNED) + (kind == "insert")) >= len(LOG_NOTE)


@settings(max_examples=500, deadline=None)
@given(st.lists(mutations, min_size=1, max_size=5))
def test_no_multi_byte_mutation_is_accepted_as_another_checkpoint(steps: list[tuple[str, int, int]]) -> None:
    mutated = COSIGNED
    for kind, position, value in steps:
        mutated = _mutate(mutated, kind, position, value)
    try:
        checkpoint = open_checkpoint(mutated, LOG.verifier())
    except CheckpointError:
        return
    assert checkpoint == ORIGINAL
    assert mutated.startswith(LOG_NOTE)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_open(data: bytes) -> None:
    with pytest.raises(CheckpointError):
        open_checkpoint(data, LOG.verifier())
    # A valid checkpoint body followed by anything but the log's own signature line is refused.
    body = ORIGINAL.body()
    try:
        open_checkpoint(body + data, LOG.verifier())
    except CheckpointError:
        return
    assert data.startswith(LOG_NOTE[len(body) :])
