"""Witnessing tree heads: audit/witness.py, with real consistency proofs from audit/merkle.py."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
from pathlib import Path

import pytest

from audit.checkpoint import Checkpoint, NoteSigner, open_checkpoint, open_note, sign_checkpoint, sign_note
from audit.merkle import MerkleTree, leaf_hash
from audit.witness import (
    HISTORY_FILE,
    KEY_FILE,
    FileWitness,
    Witness,
    WitnessConflict,
    WitnessError,
    WitnessRejected,
)

ORIGIN = "hedui.example/audit"
LOG = NoteSigner.from_private_bytes(ORIGIN, bytes(range(32)))
WITNESS_KEY = NoteSigner.from_private_bytes("witness.example/w1", bytes(range(32, 64)))


def tree_of(entries: list[bytes]) -> MerkleTree:
    tree = MerkleTree()
    for entry in entries:
        tree.append(leaf_hash(entry))
    return tree


def entries(n: int, prefix: bytes = b"entry") -> list[bytes]:
    return [prefix + b" %d" % i for i in range(n)]


def head(tree: MerkleTree, size: int, signer: NoteSigner = LOG, origin: str = ORIGIN) -> str:
    return sign_checkpoint(Checkpoint(origin, size, tree.root(size)), signer)


def proof(tree: MerkleTree, old: int, new: int) -> list[bytes]:
    return list(tree.consistency_proof(old, new)) if 0 < old < new else []


@pytest.fixture
def witness(tmp_path: Path) -> FileWitness:
    return FileWitness(tmp_path / "witness", LOG.verifier(), WITNESS_KEY)


def history(witness: FileWitness) -> list[dict[str, object]]:
    lines = (witness.directory / HISTORY_FILE).read_text().splitlines()
    return [json.loads(line) for line in lines]


async def test_accepts_a_growing_sequence_of_heads_with_real_proofs(witness: FileWitness) -> None:
    w: Witness = witness  # FileWitness is a Witness
    tree = tree_of(entries(130))
    old = 0
    for size in [0, 1, 2, 3, 4, 7, 8, 9, 16, 17, 63, 64, 65, 100, 127, 128, 130]:
        note = head(tree, size)
        cosignature = await w.add_checkpoint(old, proof(tree, old, size), note)
        assert cosignature.startswith(f"— {WITNESS_KEY.name} ")
        assert cosignature.endswith("\n") and cosignature.count("\n") == 1
        # The cosignature is a note signature over the checkpoint: appended, it verifies.
        body, signed = open_note(note + cosignature, [LOG.verifier(), WITNESS_KEY.verifier()])
        assert body == Checkpoint(ORIGIN, size, tree.root(size)).body()
        assert [v.name for v in signed] == [ORIGIN, WITNESS_KEY.name]
        latest = await w.latest(ORIGIN)
        assert latest == note + cosignature
        old = size
    records = history(witness)
    assert [r["size"] for r in records] == [0, 1, 2, 3, 4, 7, 8, 9, 16, 17, 63, 64, 65, 100, 127, 128, 130]
    assert {r["outcome"] for r in records} == {"cosigned"}


async def test_first_checkpoint_needs_old_size_zero_and_no_proof(witness: FileWitness) -> None:
    tree = tree_of(entries(8))
    assert await witness.latest(ORIGIN) is None
    with pytest.raises(WitnessConflict) as conflict:
        await witness.add_checkpoint(4, tree.consistency_proof(4, 8), head(tree, 8))
    assert conflict.value.known_size == 0
    with pytest.raises(WitnessRejected, match="consistency proof from size 0 must be empty"):
        await witness.add_checkpoint(0, [leaf_hash(b"x")], head(tree, 8))
    await witness.add_checkpoint(0, [], head(tree, 8))


async def test_conflict_on_wrong_old_size_reports_the_known_size(witness: FileWitness) -> None:
    tree = tree_of(entries(20))
    await witness.add_checkpoint(0, [], head(tree, 8))
    for wrong in (0, 5, 9):
        with pytest.raises(WitnessConflict, match="latest checkpoint for this origin has size 8") as conflict:
            await witness.add_checkpoint(wrong, proof(tree, wrong, 20), head(tree, 20))
        assert conflict.value.known_size == 8
    # The log retries from the size it was told, and succeeds.
    await witness.add_checkpoint(8, tree.consistency_proof(8, 20), head(tree, 20))
    assert open_checkpoint(await witness.latest(ORIGIN) or "", LOG.verifier()).size == 20


async def test_refuses_a_fork_of_the_same_size(witness: FileWitness) -> None:
    honest, forked = tree_of(entries(8)), tree_of(entries(8, b"rewritten"))
    await witness.add_checkpoint(0, [], head(honest, 8))
    with pytest.raises(WitnessRejected, match="fork: a different root hash for tree size 8"):
        await witness.add_checkpoint(8, [], head(forked, 8))
    # The same head again is fine (and cosigned again).
    await witness.add_checkpoint(8, [], head(honest, 8))
    refused = [r for r in history(witness) if r["outcome"] == "refused"]
    assert len(refused) == 1
    assert refused[0]["checkpoint"] == head(forked, 8)  # kept as evidence against the log
    assert open_checkpoint(await witness.latest(ORIGIN) or "", LOG.verifier()).root_hash == honest.root(8)


async def test_refuses_a_bigger_tree_that_does_not_extend_the_old_one(witness: FileWitness) -> None:
    honest = tree_of(entries(8))
    rewritten = tree_of([b"tampered", *entries(12)[1:]])  # the whole database rewritten from entry 0
    await witness.add_checkpoint(0, [], head(honest, 8))
    with pytest.raises(WitnessRejected, match="consistency proof from size 8 to 12 does not verify"):
        await witness.add_checkpoint(8, rewritten.consistency_proof(8, 12), head(rewritten, 12))
    # Nor with the honest tree's proof, nor with none.
    grown = tree_of(entries(12))
    with pytest.raises(WitnessRejected, match="does not verify"):
        await witness.add_checkpoint(8, grown.consistency_proof(8, 12), head(rewritten, 12))
    with pytest.raises(WitnessRejected, match="does not verify"):
        await witness.add_checkpoint(8, [], head(rewritten, 12))
    # A proof for other sizes does not do either.
    with pytest.raises(WitnessRejected, match="does not verify"):
        await witness.add_checkpoint(8, grown.consistency_proof(7, 12), head(grown, 12))
    assert [r["outcome"] for r in history(witness)] == ["cosigned", "refused", "refused", "refused", "refused"]
    await witness.add_checkpoint(8, grown.consistency_proof(8, 12), head(grown, 12))


async def test_refuses_a_head_signed_by_another_key(witness: FileWitness) -> None:
    tree = tree_of(entries(8))
    impostor = NoteSigner.generate(ORIGIN)  # same name, another key
    with pytest.raises(WitnessRejected, match="checkpoint refused: note has no signature by a known key"):
        await witness.add_checkpoint(0, [], head(tree, 8, impostor))
    with pytest.raises(WitnessRejected, match="no signature by a known key"):
        await witness.add_checkpoint(0, [], head(tree, 8, WITNESS_KEY))
    bad = head(tree, 8).replace("\n8\n", "\n9\n")
    with pytest.raises(WitnessRejected, match="invalid signature by known key"):
        await witness.add_checkpoint(0, [], bad)
    with pytest.raises(WitnessRejected, match="checkpoint refused: checkpoint has 1 line"):
        await witness.add_checkpoint(0, [], sign_note(b"not a checkpoint\n", LOG))
    assert await witness.latest(ORIGIN) is None
    assert not (witness.directory / HISTORY_FILE).exists()


async def test_refuses_a_rollback_to_a_smaller_size(witness: FileWitness) -> None:
    tree = tree_of(entries(16))
    await witness.add_checkpoint(0, [], head(tree, 16))
    with pytest.raises(WitnessRejected, match="old size 16 is larger than the checkpoint size 10"):
        await witness.add_checkpoint(16, [], head(tree, 10))
    with pytest.raises(WitnessConflict) as conflict:  # a log that believes it is at 10
        await witness.add_checkpoint(10, [], head(tree, 10))
    assert conflict.value.known_size == 16
    assert open_checkpoint(await witness.latest(ORIGIN) or "", LOG.verifier()).size == 16


async def test_refuses_malformed_requests(witness: FileWitness) -> None:
    tree = tree_of(entries(100))
    await witness.add_checkpoint(0, [], head(tree, 8))
    note = head(tree, 100)
    good = tree.consistency_proof(8, 100)
    with pytest.raises(WitnessRejected, match="old size -1 is not a non-negative integer"):
        await witness.add_checkpoint(-1, good, note)
    with pytest.raises(WitnessRejected, match="old size True"):
        await witness.add_checkpoint(True, good, note)
    with pytest.raises(WitnessRejected, match="consistency proof hash 1 is not 32 bytes"):
        await witness.add_checkpoint(8, [good[0], good[1][:31], *good[2:]], note)
    with pytest.raises(WitnessRejected, match="64 hashes, more than 63"):
        await witness.add_checkpoint(8, [good[0]] * 64, note)
    with pytest.raises(WitnessRejected, match="consistency proof from size 8 must be empty"):
        await witness.add_checkpoint(8, good, head(tree, 8))
    await witness.add_checkpoint(8, good, note)


async def test_origins_are_tracked_separately_and_can_be_limited(tmp_path: Path) -> None:
    witness = FileWitness(tmp_path, LOG.verifier(), WITNESS_KEY)
    tree = tree_of(entries(10))
    await witness.add_checkpoint(0, [], head(tree, 10))
    await witness.add_checkpoint(0, [], head(tree, 3, origin="hedui.example/other"))
    assert open_checkpoint(await witness.latest("hedui.example/other") or "", LOG.verifier()).size == 3
    assert open_checkpoint(await witness.latest(ORIGIN) or "", LOG.verifier()).size == 10
    assert await witness.latest("nobody.example/log") is None
    limited = FileWitness(tmp_path, LOG.verifier(), WITNESS_KEY, origins=[ORIGIN])
    with pytest.raises(WitnessRejected, match=r"unknown origin 'hedui\.example/other'"):
        await limited.add_checkpoint(3, [], head(tree, 3, origin="hedui.example/other"))


async def test_survives_reopening_the_directory(tmp_path: Path) -> None:
    tree = tree_of(entries(50))
    first = FileWitness(tmp_path / "w", LOG.verifier(), WITNESS_KEY)
    await first.add_checkpoint(0, [], head(tree, 10))
    cosigned = await first.add_checkpoint(10, tree.consistency_proof(10, 20), head(tree, 20))
    del first

    again = FileWitness(tmp_path / "w", LOG.verifier(), WITNESS_KEY)
    assert await again.latest(ORIGIN) == head(tree, 20) + cosigned
    with pytest.raises(WitnessConflict) as conflict:
        await again.add_checkpoint(0, [], head(tree, 50))
    assert conflict.value.known_size == 20
    forked = tree_of(entries(20, b"other"))
    with pytest.raises(WitnessRejected, match="fork"):
        await again.add_checkpoint(20, [], head(forked, 20))
    await again.add_checkpoint(20, tree.consistency_proof(20, 50), head(tree, 50))
    assert [r["size"] for r in history(again)] == [10, 20, 20, 50]


async def test_open_keeps_the_witness_key_in_the_directory(tmp_path: Path) -> None:
    directory = tmp_path / "witness one"
    witness = FileWitness.open(directory, LOG.verifier_key())
    assert witness.name == "file-witness/witness-one"
    key_file = directory / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    tree = tree_of(entries(5))
    cosignature = await witness.add_checkpoint(0, [], head(tree, 5))
    again = FileWitness.open(directory, LOG.verifier())
    assert again.signer.verifier_key() == witness.signer.verifier_key()
    assert await again.latest(ORIGIN) == head(tree, 5) + cosignature
    named = FileWitness.open(tmp_path / "named", LOG.verifier(), name="bureau.example/witness")
    assert named.name == "bureau.example/witness"
    with pytest.raises(WitnessError, match="holds the key of 'file-witness/witness-one', not 'someone/else'"):
        FileWitness.open(directory, LOG.verifier(), name="someone/else")
    key_file.write_text("PRIVATE+KEY+garbage\n")
    with pytest.raises(WitnessError, match="does not hold a witness signer key"):
        FileWitness.open(directory, LOG.verifier())


async def test_only_the_log_signature_and_the_cosignature_are_stored(witness: FileWitness) -> None:
    tree = tree_of(entries(4))
    other = NoteSigner.generate("other.example/witness")
    body = Checkpoint(ORIGIN, 4, tree.root(4)).body()
    # Someone else's signature, and a bogus line in this witness's name and key ID, must not be kept.
    bogus = f"— {WITNESS_KEY.name} {base64.b64encode(WITNESS_KEY.key_id + bytes(64)).decode()}\n"
    note = sign_note(body, other, LOG) + bogus
    cosignature = await witness.add_checkpoint(0, [], note)
    assert await witness.latest(ORIGIN) == sign_note(body, LOG) + cosignature


async def test_tampered_state_is_refused(witness: FileWitness) -> None:
    tree = tree_of(entries(8))
    await witness.add_checkpoint(0, [], head(tree, 8))
    (state,) = witness.directory.glob("*.checkpoint")
    # A checkpoint the log signed, but without the witness's cosignature: not the witness's own record.
    state.write_text(head(tree, 4))
    with pytest.raises(WitnessError, match="not a checkpoint cosigned by this witness"):
        await witness.latest(ORIGIN)
    with pytest.raises(WitnessError, match="not a checkpoint cosigned by this witness"):
        await witness.add_checkpoint(4, proof(tree, 4, 8), head(tree, 8))
    # Deleting the state does not make the witness forget the origin either.
    state.unlink()
    with pytest.raises(WitnessError, match=r"is missing, yet history\.jsonl records cosignatures"):
        await witness.add_checkpoint(0, [], head(tree_of(entries(8, b"rewritten")), 8))


async def test_concurrent_submissions_cannot_roll_the_witness_back(tmp_path: Path) -> None:
    tree = tree_of(entries(40))
    one = FileWitness(tmp_path, LOG.verifier(), WITNESS_KEY)
    two = FileWitness(tmp_path, LOG.verifier(), WITNESS_KEY)  # another process, in effect
    await one.add_checkpoint(0, [], head(tree, 10))
    results = await asyncio.gather(
        *(w.add_checkpoint(10, tree.consistency_proof(10, n), head(tree, n)) for w, n in [(one, 20), (two, 30)]),
        *(one.add_checkpoint(10, tree.consistency_proof(10, n), head(tree, n)) for n in (25, 35)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, str) for r in results) == 1
    assert all(isinstance(r, WitnessConflict) for r in results if not isinstance(r, str))
    winner = open_checkpoint(await two.latest(ORIGIN) or "", LOG.verifier()).size
    assert winner in (20, 25, 30, 35)
    assert all(r.known_size == winner for r in results if isinstance(r, WitnessConflict))


async def test_history_is_append_only(witness: FileWitness) -> None:
    tree = tree_of(entries(30))
    old = 0
    snapshots = []
    for size in (5, 10, 30):
        await witness.add_checkpoint(old, proof(tree, old, size), head(tree, size))
        snapshots.append((witness.directory / HISTORY_FILE).read_bytes())
        old = size
    assert snapshots[1].startswith(snapshots[0]) and snapshots[2].startswith(snapshots[1])
    last = history(witness)[-1]
    assert last["old_size"] == 10 and last["size"] == 30
    assert last["proof"] == [base64.b64encode(h).decode() for h in tree.consistency_proof(10, 30)]
    assert last["checkpoint"] == head(tree, 30)
    assert not [name for name in os.listdir(witness.directory) if name.endswith(".tmp")]
