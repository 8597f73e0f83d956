"""SM2, SM3 and SM4 as hedui uses them: the published vectors, OpenSSL interop both ways, and every refusal.

Vectors: GB/T 32905-2016 Annex A (SM3), GB/T 32907-2016 Annex A (SM4), RFC 8998 A.1 (SM4-GCM) and GM/T 0003.5-2012
Annex A.2 = GB/T 32918.5-2017 Annex A (an SM2 signature of "message digest" under the default user id). OpenSSL 3
reads hedui's keys and signatures and hedui reads OpenSSL's; skipped with the reason when ``openssl`` or its SM2 is
missing, except under ``CI=true``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import gmssl_pyx
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from harness import REPO, UNDER_CI

from consent.sm2 import ORDER, Sm2PrivateKey, Sm2PublicKey, is_sm2_pem, quiet_fd2
from consent.suite import CryptoSuite

# GM/T 0003.5-2012 A.2: the key pair and the signature (r, s) of "message digest", user id 1234567812345678.
VECTOR_D = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
VECTOR_P = bytes.fromhex(
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
VECTOR_R = int("F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3", 16)
VECTOR_S = int("B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA", 16)
MESSAGE = b"message digest"
PAE = b"DSSEv1 50 application/vnd.hedui.authorization+json; version=1 5 hello"


def _raw(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


# --- published vectors -------------------------------------------------------------------------------------------


def test_sm3_matches_gb_t_32905_annex_a() -> None:
    """SM3 of "abc" and of "abcd" × 16 (GB/T 32905-2016 A.1, A.2), from cryptography as the suite hashes."""
    for message, expected in (
        (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
        (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
    ):
        digest = hashes.Hash(hashes.SM3())
        digest.update(message)
        assert digest.finalize().hex() == expected
        assert bytes(gmssl_pyx.sm3_hash(message)).hex() == expected


def test_the_sm_suites_keyed_hash_is_hmac_sm3() -> None:
    """CryptoSuite.SM's keyed hash is HMAC-SM3 (GmSSL's agrees); the standard suite's HMAC-SHA256 differs."""
    key = bytes(range(32))
    assert CryptoSuite.SM.keyed_hash(key, b"110101199003074578") == bytes(
        gmssl_pyx.sm3_hmac(key, b"110101199003074578")
    )
    assert CryptoSuite.STANDARD.keyed_hash(key, b"x") != CryptoSuite.SM.keyed_hash(key, b"x")


def test_sm4_matches_gb_t_32907_annex_a() -> None:
    """SM4 of its own key (GB/T 32907-2016 A.1): one block, 681edf34…"""
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    assert (encryptor.update(key) + encryptor.finalize()).hex() == "681edf34d206965e86b3e94f536e4246"


def test_sm4_gcm_matches_rfc_8998_and_refuses_tampering() -> None:
    """The suite's SM4-GCM gives RFC 8998 A.1's ciphertext and tag, opens it, and refuses a flipped bit or AAD."""
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    nonce = bytes.fromhex("00001234567800000000ABCD")
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plain = bytes.fromhex("".join(c * 16 for c in "ABCDEFEA"))
    sealed = CryptoSuite.SM.aead(key).encrypt(nonce, plain, aad)
    assert sealed.hex().upper() == (
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
        "83DE3541E4C2B58177E065A9BF7B62EC"
    )
    assert CryptoSuite.SM.aead(key).decrypt(nonce, sealed, aad) == plain
    with pytest.raises(InvalidTag):
        CryptoSuite.SM.aead(key).decrypt(nonce, sealed[:-1] + bytes([sealed[-1] ^ 1]), aad)
    with pytest.raises(InvalidTag):
        CryptoSuite.SM.aead(key).decrypt(nonce, sealed, aad + b"!")
    assert CryptoSuite.SM.dek_bytes == 16 and CryptoSuite.STANDARD.dek_bytes == 32


def test_the_published_sm2_signature_verifies_der_and_raw() -> None:
    """GM/T 0003.5 A.2's signature verifies as DER and as raw r‖s; not under another user id, nor another message."""
    public = Sm2PublicKey(VECTOR_P)
    der = encode_dss_signature(VECTOR_R, VECTOR_S)
    assert public.verify(der, MESSAGE)
    assert public.verify(_raw(VECTOR_R, VECTOR_S), MESSAGE)
    assert not public.verify(der, MESSAGE, user_id=b"ALICE123@YAHOO.COM")
    assert not public.verify(der, MESSAGE + b".")


def test_the_published_key_pair_round_trips_through_pkcs8() -> None:
    """The vector's key written as PKCS#8 loads again, signs what its public key verifies; its key id is SHA-256
    over the SPKI DER."""
    pem = _pkcs8(VECTOR_D, VECTOR_P)
    key = Sm2PrivateKey.from_pem(pem)
    assert key.public.point == VECTOR_P and key.pem() == pem
    assert key.public.verify(key.sign(PAE), PAE)
    assert key.public.keyid == hashlib.sha256(key.public.spki_der()).hexdigest()[:16]
    assert Sm2PublicKey.from_pem(key.public.pem()) == key.public and is_sm2_pem(key.public.pem())


def _pkcs8(scalar: bytes, point: bytes) -> bytes:
    """A PKCS#8 PEM written by hand (the layout `openssl genpkey -algorithm SM2` writes)."""
    der = (
        bytes.fromhex("308187020100301306072a8648ce3d020106082a811ccf5501822d046d306b0201010420")
        + scalar
        + bytes.fromhex("a14403420004")
        + point
    )
    text = base64.b64encode(der).decode()
    return ("-----BEGIN PRIVATE KEY-----\n" + "\n".join(text[i : i + 64] for i in range(0, len(text), 64))).encode() + (
        b"\n-----END PRIVATE KEY-----\n"
    )


# --- refusals ----------------------------------------------------------------------------------------------------


def test_a_key_file_whose_public_key_is_not_its_own_is_refused() -> None:
    """A PKCS#8 file carrying another key's public point is refused (the pair is proven on load)."""
    other = Sm2PrivateKey.generate().public.point
    with pytest.raises(ValueError, match="does not match"):
        Sm2PrivateKey.from_pem(_pkcs8(VECTOR_D, other))


def test_an_off_curve_public_key_is_refused() -> None:
    """A point not on the curve is refused, as a point and inside an SPKI PEM."""
    off = VECTOR_P[:-1] + bytes([VECTOR_P[-1] ^ 1])
    with pytest.raises(ValueError, match="not a point of the curve"):
        Sm2PublicKey(off)
    spki = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004") + off
    text = base64.b64encode(spki).decode()
    pem = f"-----BEGIN PUBLIC KEY-----\n{text[:64]}\n{text[64:]}\n-----END PUBLIC KEY-----\n".encode()
    with pytest.raises(ValueError, match="not a point of the curve"):
        Sm2PublicKey.from_pem(pem)
    with pytest.raises(ValueError, match="not an SM2"):
        Sm2PublicKey.from_spki_der(spki[:-1])


def test_tampered_and_malformed_signatures_do_not_verify() -> None:
    """A flipped bit, r or s of 0 or ≥ n, a truncated DER and garbage: none verifies, none raises."""
    key = Sm2PrivateKey.generate()
    der = key.sign(PAE)
    assert key.public.verify(der, PAE)
    raw = key.sign(PAE, raw=True)
    assert len(raw) == 64 and key.public.verify(raw, PAE)
    assert not key.public.verify(raw[:10] + bytes([raw[10] ^ 0x40]) + raw[11:], PAE)
    assert not key.public.verify(der[:-1], PAE)
    r = int.from_bytes(raw[:32], "big")
    s = int.from_bytes(raw[32:], "big")
    for bad in (_raw(0, s), _raw(r, 0), encode_dss_signature(r, ORDER), encode_dss_signature(r + ORDER, s)):
        assert not key.public.verify(bad, PAE)
    assert not key.public.verify(b"\x30\x00", PAE) and not key.public.verify(b"", PAE)
    assert not Sm2PrivateKey.generate().public.verify(der, PAE)  # another key


def test_a_failed_verification_prints_nothing_and_keeps_other_output(tmp_path: Path) -> None:
    """GmSSL writes to fd 2 on a failed verify: under the guard nothing of it reaches stderr, while what another
    writer put on fd 2 meanwhile still does."""
    script = (
        "import os\n"
        "from consent.sm2 import Sm2PrivateKey, quiet_fd2\n"
        "k = Sm2PrivateKey.generate()\n"
        "assert not k.public.verify(k.sign(b'a'), b'b')\n"
        "with quiet_fd2():\n"
        "    os.write(2, b'kept line\\n')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=60, check=True)
    assert done.stderr == b"kept line\n"
    before = os.fstat(2)
    with quiet_fd2():  # and in this process it restores fd 2 afterwards
        assert os.fstat(2).st_ino != before.st_ino
    assert (os.fstat(2).st_dev, os.fstat(2).st_ino) == (before.st_dev, before.st_ino)


# --- OpenSSL interop ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def openssl() -> str:
    """The openssl command, if it has SM2 (skipped with the reason otherwise; failed under CI)."""
    path = shutil.which("openssl")
    message = ""
    if path is None:
        message = "openssl not found on PATH (apt-get install openssl)"
    else:
        listed = subprocess.run([path, "list", "-public-key-algorithms"], capture_output=True, text=True, timeout=60)
        if "SM2" not in listed.stdout:
            message = "this openssl has no SM2"
    if message:
        if UNDER_CI:
            pytest.fail(message + " — required under CI")
        pytest.skip(message)
    assert path is not None
    return path


def _run(*args: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(a) for a in args], capture_output=True, timeout=60)


def test_openssl_reads_hedui_keys_and_verifies_its_signatures(openssl: str, tmp_path: Path) -> None:
    """OpenSSL reads hedui's PKCS#8 and SPKI and verifies its DER signature of a PAE (SM3, user id default);
    it refuses the signature over another message."""
    key = Sm2PrivateKey.generate()
    (tmp_path / "k.pem").write_bytes(key.pem())
    (tmp_path / "k.pub").write_bytes(key.public.pem())
    (tmp_path / "m").write_bytes(PAE)
    (tmp_path / "s").write_bytes(key.sign(PAE))
    assert _run(openssl, "pkey", "-in", tmp_path / "k.pem", "-noout").returncode == 0
    derived = _run(openssl, "pkey", "-in", tmp_path / "k.pem", "-pubout")
    assert derived.returncode == 0 and derived.stdout == key.public.pem()
    verify = (openssl, "pkeyutl", "-verify", "-pubin", "-inkey", tmp_path / "k.pub", "-rawin", "-digest", "sm3")
    verify += ("-pkeyopt", "distid:1234567812345678", "-sigfile", tmp_path / "s", "-in")
    assert _run(*verify, tmp_path / "m").returncode == 0
    (tmp_path / "m2").write_bytes(PAE + b"!")
    assert _run(*verify, tmp_path / "m2").returncode != 0


def test_hedui_reads_openssl_keys_and_verifies_its_signatures(openssl: str, tmp_path: Path) -> None:
    """hedui loads OpenSSL's PKCS#8 and SEC1 keys and its public key, verifies OpenSSL's signature, and computes
    the key id OpenSSL's own DER gives."""
    assert _run(openssl, "genpkey", "-algorithm", "SM2", "-out", tmp_path / "o.pem").returncode == 0
    assert _run(openssl, "pkey", "-in", tmp_path / "o.pem", "-pubout", "-out", tmp_path / "o.pub").returncode == 0
    (tmp_path / "m").write_bytes(PAE)
    sign = (openssl, "pkeyutl", "-sign", "-inkey", tmp_path / "o.pem", "-rawin", "-digest", "sm3")
    assert (
        _run(*sign, "-pkeyopt", "distid:1234567812345678", "-in", tmp_path / "m", "-out", tmp_path / "s").returncode
        == 0
    )
    key = Sm2PrivateKey.from_pem((tmp_path / "o.pem").read_bytes())
    public = Sm2PublicKey.from_pem((tmp_path / "o.pub").read_bytes())
    assert key.public == public
    assert public.verify((tmp_path / "s").read_bytes(), PAE)
    assert not public.verify((tmp_path / "s").read_bytes(), PAE + b"!")
    der = _run(openssl, "pkey", "-pubin", "-in", tmp_path / "o.pub", "-outform", "DER").stdout
    assert public.keyid == hashlib.sha256(der).hexdigest()[:16]
    sec1 = _run(openssl, "ec", "-in", tmp_path / "o.pem")  # SEC1, which OpenSSL labels SM2 PRIVATE KEY
    assert sec1.returncode == 0 and b"BEGIN SM2 PRIVATE KEY" in sec1.stdout
    assert Sm2PrivateKey.from_pem(sec1.stdout) == key
