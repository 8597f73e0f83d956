"""``hedui consent sign`` and ``hedui consent verify`` as a case system runs them."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hedui_cli import APPLICANT, HEDUI, ORG, SPOUSE, keys, ok, service_keys, usage_error, write
from hedui_cli import hedui_here as hedui
from hedui_cli import hedui_process as subprocess_hedui

from consent import china_today
from verifier.cli import consent as consent_command
from verifier.cli._common import UsageError


def authorization(**overrides: Any) -> dict[str, Any]:
    today = china_today()
    raw: dict[str, Any] = {
        "commissioned_by": ORG,
        "purpose": "ASSESSMENT",
        "members": [{"id_number": APPLICANT, "name": "张建国"}, {"id_number": SPOUSE, "name": "李秀英"}],
        "departments": ["*"],
        "valid_from": today.isoformat(),
        "valid_until": (today + dt.timedelta(days=60)).isoformat(),
        "evidence": {"kind": "paper_form", "sha256": "ab" * 32},
    }
    raw.update(overrides)
    return raw


@pytest.mark.integration
def test_sign_then_verify_against_a_public_key_and_the_trust_store(tmp_path: Path) -> None:
    private, public, keyid = keys(tmp_path, "case-system")
    artefact = write(tmp_path / "auth.json", authorization())
    out = ok(
        subprocess_hedui(
            "consent", "sign", str(artefact), "--key", str(private), "--out", str(tmp_path / "env.json"), cwd=tmp_path
        )
    )
    assert keyid in out
    envelope = json.loads((tmp_path / "env.json").read_text())
    assert base64.b64decode(envelope["payload"]) == artefact.read_bytes()  # the file's exact bytes, not re-serialised
    assert envelope["payloadType"] == "application/vnd.hedui.authorization+json; version=1"

    out = ok(
        subprocess_hedui("consent", "verify", str(tmp_path / "env.json"), "--public-key", str(public), cwd=tmp_path)
    )
    assert "valid authorization" in out and f"organisation key {keyid}" in out
    assert "533401********0118 张**: signed" in out
    assert APPLICANT not in out and "张建国" not in out

    db = f"sqlite:///{tmp_path / 'h.db'}"
    service_keys(tmp_path)  # the service has run once here: the keys commands record their changes under its keys
    ok(hedui("keys", "add", "--organisation", ORG, "--public-key", str(public), "--db", db, cwd=tmp_path))
    ok(hedui("consent", "verify", str(tmp_path / "env.json"), "--db", db, cwd=tmp_path))
    ok(hedui("keys", "revoke", keyid, "--reason", "rotated out early", "--db", db, cwd=tmp_path))
    refused = hedui("consent", "verify", str(tmp_path / "env.json"), "--db", db, cwd=tmp_path)
    assert refused.returncode == 1 and "revoked at" in refused.stdout

    stranger = keys(tmp_path, "stranger")[1]
    refused = hedui("consent", "verify", str(tmp_path / "env.json"), "--public-key", str(stranger), cwd=tmp_path)
    assert refused.returncode == 1 and "not in the trust store" in refused.stdout


@pytest.mark.integration
def test_verify_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """``hedui consent verify … | head`` when head has gone: no BrokenPipe traceback, the shell's SIGPIPE status."""
    private, public, _ = keys(tmp_path, "case-system")
    artefact = write(tmp_path / "auth.json", authorization())
    ok(
        hedui(
            "consent", "sign", str(artefact), "--key", str(private), "--out", str(tmp_path / "env.json"), cwd=tmp_path
        )
    )
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before the command writes its first line
    try:
        done = subprocess.run(
            [*HEDUI, "consent", "verify", str(tmp_path / "env.json"), "--public-key", str(public)],
            cwd=tmp_path,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(writer)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.stderr == ""
    assert done.returncode == 141


@pytest.mark.integration
def test_verify_refuses_tampered_and_relabelled_envelopes(tmp_path: Path) -> None:
    private, public, _ = keys(tmp_path, "org")
    artefact = write(tmp_path / "auth.json", authorization())
    signed = json.loads(ok(hedui("consent", "sign", str(artefact), "--key", str(private), cwd=tmp_path)))
    tampered = dict(signed, payload=base64.b64encode(artefact.read_bytes().replace(b"ASSESSMENT", b"RECHECK")).decode())
    relabelled = dict(signed, payloadType="application/vnd.hedui.member-key+json; version=1")
    for name, envelope, words in (
        ("tampered", tampered, "does not verify"),
        ("relabelled", relabelled, "does not verify"),
    ):
        path = write(tmp_path / f"{name}.json", envelope)
        done = hedui("consent", "verify", str(path), "--public-key", str(public), cwd=tmp_path)
        assert done.returncode == 1 and words in done.stdout, (name, done.stdout, done.stderr)
    noisy = write(tmp_path / "noisy.json", dict(signed, payload=signed["payload"] + "\n"))
    usage_error(hedui("consent", "verify", str(noisy), "--public-key", str(public), cwd=tmp_path), "envelope.payload")


@pytest.mark.integration
@pytest.mark.parametrize(
    ("artefact", "words"),
    [
        (
            authorization(members=[{"id_number": APPLICANT, "name": "a"}, {"id_number": APPLICANT, "name": "b"}]),
            "duplicated member",
        ),
        (authorization(members=[{"id_number": "533401197803120119", "name": "a"}]), "check character"),
        (authorization(departments=["weather"]), "unknown department"),
        (authorization(valid_from="2020-01-01", valid_until="2020-02-01"), "in the past"),
        (authorization(valid_until=(china_today() + dt.timedelta(days=400)).isoformat()), "longer than 366"),
        (authorization(fingerprint="x"), "unknown field"),
    ],
)
def test_sign_refuses_an_invalid_artefact(tmp_path: Path, artefact: dict[str, Any], words: str) -> None:
    private, _, _ = keys(tmp_path, "org")
    path = write(tmp_path / "auth.json", artefact)
    done = hedui("consent", "sign", str(path), "--key", str(private), "--out", str(tmp_path / "env.json"), cwd=tmp_path)
    usage_error(done, words)
    assert not (tmp_path / "env.json").exists()


@pytest.mark.integration
def test_member_signs_on_their_phone_with_a_certified_key(tmp_path: Path) -> None:
    org_private, org_public, org_id = keys(tmp_path, "org")
    phone_private, phone_public, phone_id = keys(tmp_path, "phone")
    now = dt.datetime.now(dt.UTC)
    cert = write(
        tmp_path / "cert.json",
        {
            "organisation": ORG,
            "id_number": APPLICANT,
            "name": "张建国",
            "public_key": phone_public.read_text(),
            "not_before": (now - dt.timedelta(minutes=1)).isoformat(timespec="seconds"),
            "not_after": (now + dt.timedelta(days=365)).isoformat(timespec="seconds"),
        },
    )
    ok(
        hedui(
            "consent",
            "sign",
            str(cert),
            "--type",
            "member-key",
            "--key",
            str(org_private),
            "--out",
            str(tmp_path / "cert.env.json"),
            cwd=tmp_path,
        )
    )
    out = ok(hedui("consent", "verify", str(tmp_path / "cert.env.json"), "--public-key", str(org_public), cwd=tmp_path))
    assert f"key {phone_id}" in out and "533401********0118" in out

    artefact = write(tmp_path / "auth.json", authorization())
    ok(
        hedui(
            "consent",
            "sign",
            str(artefact),
            "--key",
            str(phone_private),
            "--out",
            str(tmp_path / "env.json"),
            cwd=tmp_path,
        )
    )
    verify = ["consent", "verify", str(tmp_path / "env.json"), "--public-key", str(org_public)]
    out = ok(hedui(*verify, "--certificate", str(tmp_path / "cert.env.json"), cwd=tmp_path))
    assert f"member key {phone_id} (member 533401********0118)" in out
    assert "533401********0118 张**: signed" in out
    assert "533401********022X 李**: NOT signed" in out
    assert org_id not in out.split("signed by")[1].split("\n")[0]
    without = hedui(*verify, cwd=tmp_path)
    assert without.returncode == 1 and "no member-key certificate names it" in without.stdout

    # the organisation countersigns the same envelope: now it vouches for everyone
    ok(
        hedui(
            "consent",
            "sign",
            str(tmp_path / "env.json"),
            "--key",
            str(org_private),
            "--out",
            str(tmp_path / "env2.json"),
            cwd=tmp_path,
        )
    )
    out = ok(
        hedui(
            "consent",
            "verify",
            str(tmp_path / "env2.json"),
            "--public-key",
            str(org_public),
            "--certificate",
            str(tmp_path / "cert.env.json"),
            cwd=tmp_path,
        )
    )
    assert "NOT signed" not in out
    usage_error(
        hedui("consent", "sign", str(tmp_path / "env2.json"), "--key", str(org_private), cwd=tmp_path), "already signed"
    )


# --- the command's own helpers (verifier/cli/consent.py), in-process ----------------------------------------


@pytest.mark.parametrize(("name", "shortened"), [("张建国", "张**"), ("李秀英", "李**"), ("张", "张*"), ("", "*")])
def test_names_are_shortened_to_their_first_character(name: str, shortened: str) -> None:
    assert consent_command._short_name(name) == shortened


def test_an_envelope_is_told_from_an_artefact_by_its_three_fields() -> None:
    assert consent_command._is_envelope({"payload": "", "payloadType": "x", "signatures": []})
    assert not consent_command._is_envelope({"payload": "", "payloadType": "x"})
    assert not consent_command._is_envelope(authorization())
    assert not consent_command._is_envelope(["payload", "payloadType", "signatures"])


@pytest.mark.parametrize(
    ("payload", "claimed"),
    [
        (b'{"commissioned_by": "533401-civil-affairs"}', "533401-civil-affairs"),
        (b'{"commissioned_by": 7}', ""),
        (b'{"organisation": "x"}', ""),
        (b"[1, 2]", ""),
        (b"\xff", ""),
        (b"{", ""),
    ],
)
def test_the_claimed_organisation_is_empty_unless_the_payload_names_one(payload: bytes, claimed: str) -> None:
    assert consent_command._claimed(payload, "commissioned_by") == claimed


def test_an_envelope_file_that_is_no_envelope_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "env.json", {"payload": "not base64!", "payloadType": "x", "signatures": []})
    with pytest.raises(UsageError, match=r"^envelope .*env\.json: "):
        consent_command._read_envelope(path, "envelope")
