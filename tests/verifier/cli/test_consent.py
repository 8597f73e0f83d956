"""``hedui keys ...`` and ``hedui consent ...`` as an administrator and a case system run them (subprocess)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from harness import EXAMPLES, example_request, example_sandbox
from sqlalchemy import select

from audit.log import audit_entries
from consent import china_today
from verifier.cli import main
from verifier.storage.db import Database

pytestmark = pytest.mark.integration
HEDUI = [sys.executable, "-m", "verifier.cli"]
ORG = "533401-civil-affairs"
APPLICANT = "533401197803120118"
SPOUSE = "53340119800605022X"


def subprocess_hedui(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it, in its own process."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*HEDUI, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env, check=False)


def hedui(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The same command run in this process (a second each saved on start-up), with its exit code and output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess([*HEDUI, *args], code, out.getvalue(), err.getvalue())


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def usage_error(done: subprocess.CompletedProcess[str], words: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert words in done.stderr, done.stderr


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


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


def keys(tmp_path: Path, name: str) -> tuple[Path, Path, str]:
    out = ok(hedui("keys", "generate", "--out", str(tmp_path / f"{name}.pem"), cwd=tmp_path))
    return tmp_path / f"{name}.pem", tmp_path / f"{name}.pub.pem", out.split()[0]


def audit_events(tmp_path: Path, db_url: str, *args: str) -> list[dict[str, Any]]:
    out = ok(hedui("audit", "list", "--db", db_url, "--format", "json", *args, cwd=tmp_path))
    return [json.loads(line) for line in out.splitlines()]


# --- the trust store ------------------------------------------------------------------------------------


def test_keys_add_list_rotate_revoke(db_url: str, tmp_path: Path) -> None:
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


def test_keys_commands_refuse_bad_input(tmp_path: Path) -> None:
    _, pub, _ = keys(tmp_path, "org")
    db = f"sqlite:///{tmp_path / 'h.db'}"
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
    assert not (tmp_path / ".hedui").exists()


# --- consent sign and verify --------------------------------------------------------------------------------


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
    ok(hedui("keys", "add", "--organisation", ORG, "--public-key", str(public), "--db", db, cwd=tmp_path))
    ok(hedui("consent", "verify", str(tmp_path / "env.json"), "--db", db, cwd=tmp_path))
    ok(hedui("keys", "revoke", keyid, "--reason", "rotated out early", "--db", db, cwd=tmp_path))
    refused = hedui("consent", "verify", str(tmp_path / "env.json"), "--db", db, cwd=tmp_path)
    assert refused.returncode == 1 and "revoked at" in refused.stdout

    stranger = keys(tmp_path, "stranger")[1]
    refused = hedui("consent", "verify", str(tmp_path / "env.json"), "--public-key", str(stranger), cwd=tmp_path)
    assert refused.returncode == 1 and "not in the trust store" in refused.stdout


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


# --- Done when: `hedui verify` with "signed": false queries nothing about the spouse -----------------------


def test_hedui_verify_queries_nothing_about_an_unsigned_spouse(db_url: str, tmp_path: Path) -> None:
    request = example_request()
    assert request["members"][1]["id_number"] == SPOUSE
    request["members"][1]["signed"] = False
    path = write(tmp_path / "req.json", request)
    sandbox = EXAMPLES / "sandbox-small.json"
    if not sandbox.exists():
        sandbox = write(tmp_path / "sb.json", example_sandbox())
    report = json.loads(
        ok(
            subprocess_hedui(
                "verify", str(path), "--sandbox", str(sandbox), "--db", db_url, "--format", "json", cwd=tmp_path
            )
        )
    )
    missing = {(f["id_number"], f["evidence"][0]["value"]) for f in report["flags"] if f["code"] == "CONSENT_MISSING"}
    assert missing == {(SPOUSE, d) for d in ("banks", "housing", "police", "social_security", "tax", "vehicles")}
    assert all(s["not_queried"] == [SPOUSE] for s in report["sources"])
    spouse = next(m for m in report["members"] if m["id_number"] == SPOUSE)
    assert spouse["records"] == []
    # The audit log, searched by person: six queries about the applicant, none about the spouse.
    sent_applicant = audit_events(tmp_path, db_url, "--person", APPLICANT, "--kind", "DEPARTMENT_QUERY_SENT")
    sent_spouse = audit_events(tmp_path, db_url, "--person", SPOUSE, "--kind", "DEPARTMENT_QUERY_SENT")
    assert len(sent_applicant) == 6
    assert sent_spouse == []
    refused = audit_events(tmp_path, db_url, "--person", SPOUSE, "--kind", "CONSENT_DECISION")
    assert len(refused) == 6
    assert all(e["details"]["refused"] == 1 for e in refused)
