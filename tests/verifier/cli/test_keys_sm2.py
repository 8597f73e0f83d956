"""Issue 17: ``hedui keys`` and ``hedui consent`` under ``crypto_suite = "sm"``: SM2 keys made, trusted, signed
with and checked; other keys refused by the trust store; a bad SM2 signature refused with nothing on stderr."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from hedui_cli import APPLICANT, ORG, ok, service_keys, usage_error, write
from hedui_cli import hedui_here as hedui
from hedui_cli import hedui_process as subprocess_hedui

from consent import china_today
from consent.envelope import SigningKey
from consent.sm2 import Sm2PrivateKey, Sm2PublicKey


def authorization() -> dict[str, object]:
    """An authorization of one member, valid from today (as tests/verifier/cli/test_consent.py builds them)."""
    today = china_today()
    return {
        "commissioned_by": ORG,
        "purpose": "ASSESSMENT",
        "members": [{"id_number": APPLICANT, "name": "张建国"}],
        "departments": ["*"],
        "valid_from": today.isoformat(),
        "valid_until": (today + dt.timedelta(days=60)).isoformat(),
        "evidence": {"kind": "paper_form", "sha256": "ab" * 32},
    }


def _sm_config(tmp_path: Path) -> Path:
    return write_text(tmp_path / "sm.toml", 'crypto_suite = "sm"\n')


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.integration
def test_under_sm_keys_are_sm2_and_the_trust_store_takes_no_other(tmp_path: Path) -> None:
    """`keys generate` makes SM2 under sm (Ed25519 when asked), `keys add` refuses the Ed25519 key with one line
    and trusts the SM2 one under the key id of its SPKI DER; the service's SM2 log key file is made beside the
    others."""
    config = _sm_config(tmp_path)
    out = ok(hedui("keys", "generate", "--out", str(tmp_path / "org.pem"), "--config", str(config), cwd=tmp_path))
    sm2 = Sm2PrivateKey.from_pem((tmp_path / "org.pem").read_bytes())
    assert Sm2PublicKey.from_pem((tmp_path / "org.pub.pem").read_bytes()) == sm2.public
    assert out.split()[0] == sm2.public.keyid
    ed = tmp_path / "ed.pem"
    ok(hedui("keys", "generate", "--out", str(ed), "--algorithm", "ed25519", "--config", str(config), cwd=tmp_path))
    assert b"BEGIN PRIVATE KEY" in ed.read_bytes() and SigningKey.from_pem(ed.read_bytes()).keyid != sm2.public.keyid

    made = service_keys(tmp_path, config)
    assert tmp_path / ".hedui" / "audit-log-sm2.key" in made
    assert (tmp_path / ".hedui" / "audit-log-sm2.key").stat().st_mode & 0o777 == 0o600
    db = f"sqlite:///{tmp_path / 'h.db'}"
    add = ("keys", "add", "--organisation", ORG, "--config", str(config), "--db", db, "--public-key")
    usage_error(hedui(*add, str(tmp_path / "ed.pub.pem"), cwd=tmp_path), "SM2 keys only")
    assert ok(hedui(*add, str(tmp_path / "org.pub.pem"), cwd=tmp_path)).strip() == sm2.public.keyid
    listed = json.loads(
        ok(hedui("keys", "list", "--db", db, "--format", "json", "--config", str(config), cwd=tmp_path))
    )
    assert (listed["keyid"], listed["state"]) == (sm2.public.keyid, "valid")


@pytest.mark.integration
def test_an_sm2_signed_authorization_verifies_and_a_bad_signature_prints_nothing_on_stderr(tmp_path: Path) -> None:
    """`consent sign` with an SM2 key (OpenSSL's PKCS#8 form), `consent verify` accepts it; the same envelope with
    its signature's last byte changed is NOT valid (exit 1), and GmSSL's C-level lines do not reach stderr."""
    key = Sm2PrivateKey.generate()
    (tmp_path / "k.pem").write_bytes(key.pem())
    (tmp_path / "k.pub.pem").write_bytes(key.public.pem())
    artefact = write(tmp_path / "auth.json", authorization())
    envelope_file = tmp_path / "env.json"
    sign = ("consent", "sign", str(artefact), "--key", str(tmp_path / "k.pem"), "--out", str(envelope_file))
    assert key.public.keyid in ok(hedui(*sign, cwd=tmp_path))
    verify = ("consent", "verify", str(envelope_file), "--public-key", str(tmp_path / "k.pub.pem"))
    out = ok(hedui(*verify, cwd=tmp_path))
    assert "valid authorization" in out and f"organisation key {key.public.keyid}" in out

    envelope = json.loads(envelope_file.read_text())
    sig = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    sig[-1] ^= 0x01  # still DER, r and s in range: GmSSL itself must refuse it
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    write(envelope_file, envelope)
    refused = subprocess_hedui(*verify, cwd=tmp_path)
    assert refused.returncode == 1 and "does not verify (SM2 with SM3" in refused.stdout
    assert refused.stderr == ""
