"""Issue 17: the SM2 line on a checkpoint beside the Ed25519 one — its format by hand from C2SP signed-note's 0xff
rule, hedui's own checks of it, the Ed25519-only reader ignoring it, and ``hedui audit verify`` requiring it under the
``sm`` suite from the first head that carries it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from pathlib import Path

import pytest
from audit_tamper import sql
from harness import example_request, example_sandbox
from hedui_cli import hedui_here as hedui
from hedui_cli import ok, write

from audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    open_note,
    parse_note,
    sign_checkpoint,
)
from audit.note_sm2 import SM2_TYPE, Sm2Continuity, Sm2NoteSigner, Sm2NoteVerifier, note_verifier
from consent.sm2 import Sm2PrivateKey

ORIGIN = "hedui.example/audit"
ROOT = hashlib.sha256(b"root").digest()


def _pair() -> tuple[NoteSigner, Sm2NoteSigner, Sm2PrivateKey]:
    key = Sm2PrivateKey.generate()
    return NoteSigner.generate(ORIGIN), Sm2NoteSigner(ORIGIN, key), key


def test_the_sm2_line_is_0xff_plus_hedui_s_identifier_and_64_bytes_r_s() -> None:
    """The key ID is SHA-256(name ‖ 0x0A ‖ 0xff ‖ "hedui.cn/sm2-sm3/v1\\n" ‖ SPKI DER)[:4]; the line holds it and
    the raw 64-byte r‖s, which SM2 verifies over the note text with the default user id."""
    ed, sm2, key = _pair()
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, ROOT), ed, sm2)
    body, signatures = parse_note(note)
    assert [s.name for s in signatures] == [ORIGIN, ORIGIN]
    expected_id = hashlib.sha256(ORIGIN.encode() + b"\n\xffhedui.cn/sm2-sm3/v1\n" + key.public.spki_der()).digest()[:4]
    assert SM2_TYPE == b"\xffhedui.cn/sm2-sm3/v1\n"
    assert signatures[1].key_id == expected_id and len(signatures[1].signature) == 64
    assert key.public.verify(signatures[1].signature, body)
    vkey = sm2.verifier_key()
    assert vkey == f"{ORIGIN}+{expected_id.hex()}+{base64.b64encode(SM2_TYPE + key.public.spki_der()).decode()}"


def test_the_ed25519_reader_ignores_the_sm2_line_and_both_keys_open_it() -> None:
    """open_checkpoint with the Ed25519 key alone reads the note (unknown keys are ignored, as C2SP requires);
    with both keys both signed it."""
    ed, sm2, _ = _pair()
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, ROOT), ed, sm2)
    assert open_checkpoint(note, ed.verifier()).size == 3
    _, signed = open_note(note, [ed.verifier(), sm2.verifier()])
    assert [type(v) for v in signed] == [NoteVerifier, Sm2NoteVerifier]


def test_a_bad_sm2_line_by_the_known_key_fails_the_note() -> None:
    """A flipped bit of the SM2 signature: refused by a reader that knows the SM2 key."""
    ed, sm2, _ = _pair()
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, ROOT), ed, sm2)
    head, last = note.rstrip("\n").rsplit("\n", 1)
    raw = bytearray(base64.b64decode(last.rsplit(" ", 1)[1]))
    raw[-1] ^= 1
    bad = head + "\n" + last.rsplit(" ", 1)[0] + " " + base64.b64encode(bytes(raw)).decode() + "\n"
    with pytest.raises(CheckpointError, match="invalid signature by known key"):
        open_note(bad, [ed.verifier(), sm2.verifier()])
    with pytest.raises(CheckpointError, match="invalid SM2 signature"):
        Sm2Continuity(sm2.verifier()).check(bad)


def test_verifier_keys_of_both_kinds_parse_and_a_wrong_id_is_refused() -> None:
    """note_verifier tells the Ed25519 key from the SM2 one by the type byte; a key ID not matching is refused."""
    ed, sm2, _ = _pair()
    assert isinstance(note_verifier(ed.verifier_key()), NoteVerifier)
    parsed = note_verifier(sm2.verifier_key())
    assert isinstance(parsed, Sm2NoteVerifier) and parsed.vkey == sm2.verifier_key()
    name, key_id, key = sm2.verifier_key().split("+", 2)
    with pytest.raises(CheckpointError, match="does not match"):
        note_verifier(f"{name}+{'0' * 8 if key_id != '0' * 8 else '1' * 8}+{key}")
    with pytest.raises(CheckpointError):
        NoteVerifier.from_vkey(sm2.verifier_key())  # the Ed25519 parser (and Go's) refuses it: unknown type


def test_continuity_requires_the_sm2_line_from_the_first_head_that_carries_it() -> None:
    """Heads before the switch to sm have no SM2 line; once one has it, a later head without it fails."""
    ed, sm2, _ = _pair()
    rule = Sm2Continuity(sm2.verifier())
    rule.check(sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), ed))  # before the switch
    rule.check(sign_checkpoint(Checkpoint(ORIGIN, 2, ROOT), ed, sm2))
    rule.check(sign_checkpoint(Checkpoint(ORIGIN, 3, ROOT), ed, sm2))
    with pytest.raises(CheckpointError, match=r"no SM2 signature .* which signed 2 earlier head"):
        rule.check(sign_checkpoint(Checkpoint(ORIGIN, 4, ROOT), ed))


@pytest.mark.integration
def test_audit_verify_under_sm_requires_the_sm2_line_and_public_key_prints_both(tmp_path: Path) -> None:
    """A log written under sm: `audit public-key` prints the Ed25519 and the SM2 verifier keys; `audit verify`
    passes with the config and with that file; with the SM2 line removed from the newest stored head, the
    Ed25519-only check still passes while the sm check names the missing line."""
    config = tmp_path / "sm.toml"
    config.write_text('crypto_suite = "sm"\n', encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'h.db'}"
    request, sandbox = write(tmp_path / "req.json", example_request()), write(tmp_path / "sb.json", example_sandbox())
    run = ("verify", str(request), "--sandbox", str(sandbox), "--db", db, "--format", "json", "--config", str(config))
    ok(hedui(*run, cwd=tmp_path))
    ok(hedui(*run, cwd=tmp_path))  # a second head at least
    keys = ok(hedui("audit", "public-key", "--config", str(config), cwd=tmp_path)).splitlines()
    assert len(keys) == 2 and isinstance(note_verifier(keys[1]), Sm2NoteVerifier)
    both, ed_only = tmp_path / "log.vkeys", tmp_path / "log.vkey"
    both.write_text("\n".join(keys) + "\n")
    ed_only.write_text(keys[0] + "\n")
    verify = ("audit", "verify", "--db", db)
    assert "audit log intact" in ok(hedui(*verify, "--config", str(config), cwd=tmp_path))
    assert "audit log intact" in ok(hedui(*verify, "--public-key", str(both), cwd=tmp_path))

    asyncio.run(_drop_sm2_line_of_the_newest_head(db, keys[1]))
    assert "audit log intact" in ok(hedui(*verify, "--public-key", str(ed_only), cwd=tmp_path))
    for how in (("--config", str(config)), ("--public-key", str(both))):
        refused = hedui(*verify, *how, cwd=tmp_path)
        assert refused.returncode == 1 and "no SM2 signature by" in refused.stdout, refused.stdout


async def _drop_sm2_line_of_the_newest_head(url: str, sm2_vkey: str) -> None:
    """Remove the SM2 signature line from the newest stored head (its Ed25519 line stays valid), as the database's
    owner with the append-only triggers out of the way (tests/support/audit_tamper.py)."""
    name, key_id, _ = sm2_vkey.split("+", 2)
    rows = await sql(url, "SELECT tree_size, checkpoint FROM audit_tree_heads ORDER BY tree_size DESC")
    size, note = rows[0]
    kept = [
        line
        for line in note.split("\n")
        if not (line.startswith(f"— {name} ") and base64.b64decode(line.split(" ")[2])[:4].hex() == key_id)
    ]
    assert len(kept) == len(note.split("\n")) - 1
    changed = "\n".join(kept).replace("'", "''")
    await sql(url, f"UPDATE audit_tree_heads SET checkpoint = '{changed}' WHERE tree_size = {size}")


def test_the_export_format_is_unchanged_json() -> None:
    """The SM2 line travels inside the checkpoint text: an export's head record is still {head, checkpoint}."""
    ed, sm2, _ = _pair()
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), ed, sm2)
    assert set(json.loads(json.dumps({"head": 1, "checkpoint": note}))) == {"head", "checkpoint"}
