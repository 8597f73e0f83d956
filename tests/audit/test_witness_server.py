"""``hedui witness serve`` in its own process, spoken to over HTTP as c2sp.org/tlog-witness describes.

The requests are written from the spec's text (tests/support/witness_process.py), the proofs come from a
tree built here, and every cosignature is checked with audit/cosignature.py (not the witness's code).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from witness_process import HEDUI, add_checkpoint, get, make_key, post, witness_process

from audit.checkpoint import Checkpoint, NoteSigner, open_checkpoint, sign_checkpoint
from audit.cosignature import CosignatureVerifier, cosignatures
from audit.merkle import EMPTY_ROOT, MerkleTree, leaf_hash

ORIGIN = "hedui.example/audit"
LOG = NoteSigner.from_private_bytes(ORIGIN, bytes(range(32)))
OTHER = NoteSigner.from_private_bytes(ORIGIN, bytes(range(1, 33)))
TREE = MerkleTree(leaf_hash(b"entry %d" % i) for i in range(20))
FORKED = MerkleTree(leaf_hash(b"forged %d" % i) for i in range(20))


def head(size: int, tree: MerkleTree = TREE, signer: NoteSigner = LOG, origin: str = ORIGIN) -> str:
    return sign_checkpoint(Checkpoint(origin, size, tree.root(size)), signer)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    key = tmp_path_factory.mktemp("witness-key") / "witness.key"
    return key, make_key(key, "witness.example/w1")


def test_keygen_writes_a_secret_key_and_prints_its_cosignature_vkey(keys: tuple[Path, str]) -> None:
    key, vkey = keys
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    verifier = CosignatureVerifier.from_vkey(vkey)  # a type 0x04 key, as the cosignature spec says
    assert verifier.name == "witness.example/w1"
    again = subprocess.run([*HEDUI, "witness", "vkey", "--key", str(key)], capture_output=True, text=True, check=False)
    assert again.stdout.strip() == vkey
    refused = subprocess.run(
        [*HEDUI, "witness", "keygen", "--key", str(key), "--name", "x"], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 2 and "never overwritten" in refused.stderr


def test_the_witness_follows_the_tlog_witness_protocol(keys: tuple[Path, str], tmp_path: Path) -> None:
    key, vkey = keys
    verifier = CosignatureVerifier.from_vkey(vkey)
    state = tmp_path / "state"
    with witness_process(key, state, [f"{ORIGIN}={LOG.verifier_key()}"]) as witness:
        assert witness.vkey == vkey
        status, kind, body = add_checkpoint(witness.url, 0, [], head(5))
        assert (status, kind) == (200, "text/plain; charset=utf-8"), body
        assert body.startswith("— witness.example/w1 ") and body.count("\n") == 1
        (cosigned,) = cosignatures(head(5) + body, [verifier])
        # Persisted before the answer: the state file of the origin holds the cosigned checkpoint.
        stored = (state / (hashlib.sha256(ORIGIN.encode()).hexdigest() + ".checkpoint")).read_text()
        assert open_checkpoint(stored, LOG.verifier()).size == 5 and cosigned.line in stored

        # The log thinks the witness saw nothing: 409 with the size it cosigned.
        assert add_checkpoint(witness.url, 0, [], head(8)) == (409, "text/x.tlog.size", "5\n")
        status, _, body = add_checkpoint(witness.url, 5, TREE.consistency_proof(5, 8), head(8))
        assert status == 200 and cosignatures(head(8) + body, [verifier])

        # A fork of the same size, a bigger tree that does not extend it, a proof cut short: 422, nothing cosigned.
        assert add_checkpoint(witness.url, 8, [], head(8, FORKED))[0] == 422
        assert add_checkpoint(witness.url, 8, FORKED.consistency_proof(8, 12), head(12, FORKED))[0] == 422
        assert add_checkpoint(witness.url, 8, TREE.consistency_proof(8, 12)[1:], head(12))[0] == 422
        assert add_checkpoint(witness.url, 8, [], head(8))[0] == 200  # the same head again: cosigned again

        assert add_checkpoint(witness.url, 0, [], head(3, origin="other.example/log"))[0] == 404
        assert add_checkpoint(witness.url, 8, TREE.consistency_proof(8, 12), head(12, signer=OTHER))[0] == 403
        assert add_checkpoint(witness.url, 13, [], head(12))[0] == 400  # old size beyond the checkpoint
        assert post(witness.url + "/add-checkpoint", b"old 08\n\n" + head(12).encode())[0] == 400
        assert post(witness.url + "/add-checkpoint", b"no blank line")[0] == 400

        status, monitored = get(f"{witness.url}/{hashlib.sha256(ORIGIN.encode()).hexdigest()}/checkpoint")
        assert status == 200 and open_checkpoint(monitored, LOG.verifier()).size == 8
        assert cosignatures(monitored, [verifier])
        assert get(f"{witness.url}/{'0' * 64}/checkpoint")[0] == 404

    history = [json.loads(line) for line in (state / "history.jsonl").read_text().splitlines()]
    assert [h["outcome"] for h in history] == ["cosigned", "cosigned", "refused", "refused", "refused", "cosigned"]
    assert "fork" in history[2]["reason"]

    # Its state outlives the process: a restarted witness still knows size 8.
    with witness_process(key, state, [f"{ORIGIN}={LOG.verifier_key()}"]) as witness:
        assert add_checkpoint(witness.url, 0, [], head(12)) == (409, "text/x.tlog.size", "8\n")


def test_an_empty_tree_needs_the_empty_root(keys: tuple[Path, str], tmp_path: Path) -> None:
    key, _ = keys
    with witness_process(key, tmp_path / "state", [f"{ORIGIN}={LOG.verifier_key()}"]) as witness:
        bad = sign_checkpoint(Checkpoint(ORIGIN, 0, TREE.root(1)), LOG)
        assert add_checkpoint(witness.url, 0, [], bad)[0] == 422
        good = sign_checkpoint(Checkpoint(ORIGIN, 0, EMPTY_ROOT), LOG)
        assert add_checkpoint(witness.url, 0, [], good)[0] == 200


def test_serve_refuses_bad_arguments_with_exit_2(keys: tuple[Path, str], tmp_path: Path) -> None:
    key, _ = keys
    for args, words in [
        (["--key", str(key), "--state", str(tmp_path)], "--log"),
        (["--key", str(tmp_path / "none"), "--state", str(tmp_path), "--log", "a=b"], "no such file"),
        (["--key", str(key), "--state", str(tmp_path), "--log", "novkey"], "ORIGIN=VKEY"),
        (["--key", str(key), "--state", str(tmp_path), "--log", f"{ORIGIN}=bad+key"], ORIGIN),
    ]:
        done = subprocess.run([*HEDUI, "witness", "serve", *args], capture_output=True, text=True, check=False)
        assert done.returncode == 2, done.stderr
        assert words in done.stderr and done.stderr.count("\n") == 1
