"""audit.merkle and the independent tests/support/rfc9162 verifier against transparency-dev/merkle and the RFC.

Three sources of truth, none of them audit.merkle itself: the language-neutral JSON vectors
and testonly constants of transparency-dev/merkle (see vectors/README.md), the RFC 9162
definitions of MTH, PATH and PROOF written naively below, and symbolic runs of the RFC's
verification steps that decide which mutated proofs could possibly still verify.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import rfc9162
from hypothesis import event, given, settings
from hypothesis import strategies as st

from audit.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MerkleTree,
    ProofError,
    RootAccumulator,
    compact_range,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).parent / "vectors"
INCLUSION_FIELDS = {"leafIdx", "treeSize", "root", "leafHash", "proof", "desc", "wantErr"}
CONSISTENCY_FIELDS = {"size1", "size2", "root1", "root2", "proof", "desc", "wantErr"}


def _load(kind: str) -> list[tuple[str, dict[str, Any]]]:
    folder = VECTORS / kind
    paths = sorted(folder.rglob("*.json"))
    return [(f"{kind}/{path.relative_to(folder).as_posix()}", json.loads(path.read_text())) for path in paths]


INCLUSION_VECTORS = _load("inclusion")
CONSISTENCY_VECTORS = _load("consistency")


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _proof(value: list[str] | None) -> list[bytes]:
    """Go marshals a nil proof as null and an empty one as []; both mean no hashes."""
    return [_b64(item) for item in value or []]


def _inclusion_args(vector: dict[str, Any]) -> tuple[bytes, int, int, list[bytes], bytes]:
    leaf, root = _b64(vector["leafHash"]), _b64(vector["root"])
    return leaf, vector["leafIdx"], vector["treeSize"], _proof(vector["proof"]), root


def _consistency_args(vector: dict[str, Any]) -> tuple[int, int, bytes, bytes, list[bytes]]:
    return vector["size1"], vector["size2"], _b64(vector["root1"]), _b64(vector["root2"]), _proof(vector["proof"])


# --- transparency-dev/merkle JSON vectors -------------------------------------------------------------------------


def test_vector_set_is_complete() -> None:
    """All 196 upstream cases are present, 12 of them valid, in the upstream field layout."""
    assert len(INCLUSION_VECTORS) == 98
    assert len(CONSISTENCY_VECTORS) == 98
    assert sum(not vector["wantErr"] for _, vector in INCLUSION_VECTORS) == 6
    assert sum(not vector["wantErr"] for _, vector in CONSISTENCY_VECTORS) == 6
    assert all(set(vector) == INCLUSION_FIELDS for _, vector in INCLUSION_VECTORS)
    assert all(set(vector) == CONSISTENCY_FIELDS for _, vector in CONSISTENCY_VECTORS)
    assert len((VECTORS / "SOURCES.tsv").read_text().splitlines()) == 1 + 196


@pytest.mark.parametrize(("name", "vector"), INCLUSION_VECTORS, ids=[name for name, _ in INCLUSION_VECTORS])
def test_inclusion_vector(name: str, vector: dict[str, Any]) -> None:
    if vector["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*_inclusion_args(vector))
    else:
        verify_inclusion(*_inclusion_args(vector))


@pytest.mark.parametrize(("name", "vector"), CONSISTENCY_VECTORS, ids=[name for name, _ in CONSISTENCY_VECTORS])
def test_consistency_vector(name: str, vector: dict[str, Any]) -> None:
    if vector["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*_consistency_args(vector))
    else:
        verify_consistency(*_consistency_args(vector))


@pytest.mark.parametrize(("name", "vector"), INCLUSION_VECTORS, ids=[name for name, _ in INCLUSION_VECTORS])
def test_rfc9162_inclusion_vector(name: str, vector: dict[str, Any]) -> None:
    assert rfc9162.verify_inclusion(*_inclusion_args(vector)) is not vector["wantErr"]


@pytest.mark.parametrize(("name", "vector"), CONSISTENCY_VECTORS, ids=[name for name, _ in CONSISTENCY_VECTORS])
def test_rfc9162_consistency_vector(name: str, vector: dict[str, Any]) -> None:
    assert rfc9162.verify_consistency(*_consistency_args(vector)) is not vector["wantErr"]


# --- transparency-dev/merkle testonly constants --------------------------------------------------------------------

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]
ROOT_HASHES = [
    bytes.fromhex(h)
    for h in [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]
NODE_HASHES = [
    [
        bytes.fromhex(h)
        for h in [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        ]
    ],
    [
        bytes.fromhex(h)
        for h in [
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        ]
    ],
    [
        bytes.fromhex(h)
        for h in [
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ]
    ],
    [bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]


def _h(hex_hash: str) -> bytes:
    return bytes.fromhex(hex_hash)


# TestRefInclusionProof (testonly/reference_test.go) and inclusionProofs (proof/verify_test.go), 0-based index.
REFERENCE_INCLUSION_PROOFS: list[tuple[int, int, list[bytes]]] = [
    (0, 1, []),
    (0, 2, [_h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7")]),
    (1, 2, [_h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")]),
    (2, 3, [_h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            _h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            _h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            _h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        0,
        8,
        [
            _h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            _h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            _h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            _h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            _h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            _h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

# TestRefConsistencyProof (testonly/reference_test.go) and consistencyProofs (proof/verify_test.go).
REFERENCE_CONSISTENCY_PROOFS: list[tuple[int, int, list[bytes]]] = [
    (1, 1, []),
    (
        1,
        8,
        [
            _h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            _h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            _h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        2,
        5,
        [
            _h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            _h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        8,
        [
            _h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            _h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            _h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        6,
        7,
        [
            _h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            _h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            _h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]


def _reference_tree() -> MerkleTree:
    tree = MerkleTree()
    for entry in LEAF_INPUTS:
        tree.append(leaf_hash(entry))
    return tree


def test_hashing_constants() -> None:
    assert HASH_SIZE == 32
    assert EMPTY_ROOT == ROOT_HASHES[0] == hashlib.sha256(b"").digest()
    assert leaf_hash(b"") == _h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert [leaf_hash(entry) for entry in LEAF_INPUTS] == NODE_HASHES[0]
    for level in range(1, len(NODE_HASHES)):
        below = NODE_HASHES[level - 1]
        assert [node_hash(below[2 * i], below[2 * i + 1]) for i in range(len(below) // 2)] == NODE_HASHES[level]


def test_reference_roots_at_every_size() -> None:
    tree = _reference_tree()
    accumulator = RootAccumulator()
    assert tree.root(0) == accumulator.root() == root_hash([]) == ROOT_HASHES[0]
    for size in range(1, len(LEAF_INPUTS) + 1):
        accumulator.push(leaf_hash(LEAF_INPUTS[size - 1]))
        assert tree.root(size) == ROOT_HASHES[size]
        assert accumulator.root() == ROOT_HASHES[size]
        assert root_hash([leaf_hash(entry) for entry in LEAF_INPUTS[:size]]) == ROOT_HASHES[size]
        assert rfc9162.tree_hash(LEAF_INPUTS[:size]) == ROOT_HASHES[size]  # the harness's check of every entry
    assert tree.root() == ROOT_HASHES[8]


def test_reference_complete_subtrees() -> None:
    for level, hashes in enumerate(NODE_HASHES):
        width = 1 << level
        for index, expected in enumerate(hashes):
            subtree = MerkleTree(leaf_hash(entry) for entry in LEAF_INPUTS[index * width : (index + 1) * width])
            assert subtree.root() == expected


@pytest.mark.parametrize(("index", "size", "expected"), REFERENCE_INCLUSION_PROOFS)
def test_reference_inclusion_proofs(index: int, size: int, expected: list[bytes]) -> None:
    tree = _reference_tree()
    assert tree.inclusion_proof(index, size) == expected
    verify_inclusion(tree.leaf(index), index, size, expected, ROOT_HASHES[size])
    assert rfc9162.verify_inclusion(tree.leaf(index), index, size, expected, ROOT_HASHES[size])


@pytest.mark.parametrize(("size1", "size2", "expected"), REFERENCE_CONSISTENCY_PROOFS)
def test_reference_consistency_proofs(size1: int, size2: int, expected: list[bytes]) -> None:
    tree = _reference_tree()
    assert tree.consistency_proof(size1, size2) == expected
    verify_consistency(size1, size2, ROOT_HASHES[size1], ROOT_HASHES[size2], expected)
    assert rfc9162.verify_consistency(size1, size2, ROOT_HASHES[size1], ROOT_HASHES[size2], expected)


# --- the RFC's definitions, written naively --------------------------------------------------------------------------


def _largest_power_of_two_smaller_than(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes, RFC 9162 §2.1.1: the empty string's hash, the leaf itself, or the split."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _largest_power_of_two_smaller_than(len(leaves))
    return hashlib.sha256(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:])).digest()


def naive_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]), RFC 9162 §2.1.3.1."""
    if len(leaves) == 1:
        return []
    k = _largest_power_of_two_smaller_than(len(leaves))
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_mth(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_mth(leaves[:k])]


def naive_subproof(m: int, leaves: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), RFC 9162 §2.1.4.1; PROOF(m, D[n]) is SUBPROOF(m, D[n], true)."""
    if m == len(leaves):
        return [] if b else [naive_mth(leaves)]
    k = _largest_power_of_two_smaller_than(len(leaves))
    if m <= k:
        return [*naive_subproof(m, leaves[:k], b), naive_mth(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), naive_mth(leaves[:k])]


def test_naive_definitions_agree_with_the_reference() -> None:
    leaves = [leaf_hash(entry) for entry in LEAF_INPUTS]
    assert [naive_mth(leaves[:size]) for size in range(9)] == ROOT_HASHES
    for index, size, expected in REFERENCE_INCLUSION_PROOFS:
        assert naive_path(index, leaves[:size]) == expected
    for size1, size2, expected in REFERENCE_CONSISTENCY_PROOFS:
        assert naive_subproof(size1, leaves[:size2], True) == expected


# --- symbolic runs of the RFC's verification steps ----------------------------------------------------------------

Symbol = Any


def symbolic_inclusion(index: int, size: int, length: int) -> Symbol | None:
    """The root RFC 9162 §2.1.3.2 computes from leaf "x" and proof ("p", i), or None where it fails regardless."""
    if index < 0 or index >= size:
        return None
    fn, sn = index, size - 1
    r: Symbol = "x"
    for i in range(length):
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = ("H", ("p", i), r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = ("H", r, ("p", i))
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def symbolic_consistency(first: int, second: int, length: int) -> tuple[Symbol, Symbol] | None:
    """The (first, second) roots RFC 9162 §2.1.4.2 computes from "first_hash" and ("p", i), or None."""
    if not 0 < first < second or length == 0:
        return None
    path: list[Symbol] = [("p", i) for i in range(length)]
    if first & (first - 1) == 0:
        path.insert(0, "first_hash")
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            fr, sr = ("H", c, fr), ("H", c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = ("H", sr, c)
        fn, sn = fn >> 1, sn >> 1
    return (fr, sr) if sn == 0 else None


def _substitute(expression: Symbol, name: str, value: Symbol) -> Symbol:
    if expression == name:
        return value
    if isinstance(expression, tuple) and expression[0] == "H":
        return ("H", _substitute(expression[1], name, value), _substitute(expression[2], name, value))
    return expression


def inclusion_could_verify(index: int, size: int, mutated_index: int, mutated_size: int, length: int) -> bool:
    """Whether the proof for (index, size) computes the same root for the mutated pair, leaf and hashes distinct."""
    mutated = symbolic_inclusion(mutated_index, mutated_size, length)
    return mutated is not None and mutated == symbolic_inclusion(index, size, length)


def consistency_could_verify(size1: int, size2: int, mutated1: int, mutated2: int, length: int) -> bool:
    """Same question for consistency proofs; "first_hash" is the value the genuine proof computes for root1."""
    genuine = symbolic_consistency(size1, size2, length)
    mutated = symbolic_consistency(mutated1, mutated2, length)
    if genuine is None or mutated is None:
        return False
    known_first = _substitute(genuine[0], "first_hash", "root1")
    resolved = tuple(_substitute(part, "first_hash", known_first) for part in mutated)
    return resolved == (known_first, _substitute(genuine[1], "first_hash", known_first))


def test_symbolic_runs_accept_the_genuine_proof_shapes() -> None:
    tree = MerkleTree(leaf_hash(i.to_bytes(2, "big")) for i in range(40))
    for size in range(1, 41):
        for index in range(size):
            length = len(tree.inclusion_proof(index, size))
            assert symbolic_inclusion(index, size, length) is not None
        for size1 in range(1, size):
            assert symbolic_consistency(size1, size, len(tree.consistency_proof(size1, size))) is not None


# --- properties -------------------------------------------------------------------------------------------------------


def _leaves(count: int, seed: int) -> list[bytes]:
    prefix = seed.to_bytes(8, "big")
    return [leaf_hash(prefix + i.to_bytes(4, "big")) for i in range(count)]


seeds = st.integers(min_value=0, max_value=2**32)


@st.composite
def tree_and_inclusion(draw: st.DrawFn) -> tuple[list[bytes], MerkleTree, int, int]:
    count = draw(st.integers(min_value=1, max_value=300))
    leaves = _leaves(count, draw(seeds))
    size = draw(st.integers(min_value=1, max_value=count))
    index = draw(st.integers(min_value=0, max_value=size - 1))
    return leaves, MerkleTree(leaves), index, size


@st.composite
def tree_and_consistency(draw: st.DrawFn, strict: bool = False) -> tuple[list[bytes], MerkleTree, int, int]:
    """A tree and 0 < size1 <= size2 <= its size; size1 < size2 when ``strict``."""
    count = draw(st.integers(min_value=2 if strict else 1, max_value=300))
    leaves = _leaves(count, draw(seeds))
    size2 = draw(st.integers(min_value=2 if strict else 1, max_value=count))
    size1 = draw(st.integers(min_value=1, max_value=size2 - 1 if strict else size2))
    return leaves, MerkleTree(leaves), size1, size2


@settings(deadline=None)
@given(count=st.integers(min_value=0, max_value=300), seed=seeds, data=st.data())
def test_root_is_the_rfc_mth_at_any_size(count: int, seed: int, data: st.DataObject) -> None:
    leaves = _leaves(count, seed)
    tree = MerkleTree()
    tree.extend(leaves)
    assert tree.size == count
    assert tree.root() == naive_mth(leaves) == root_hash(leaves)
    for size in data.draw(st.lists(st.integers(min_value=0, max_value=count), max_size=5)):
        assert tree.root(size) == naive_mth(leaves[:size])


@settings(deadline=None)
@given(count=st.integers(min_value=0, max_value=300), seed=seeds)
def test_accumulator_matches_tree_at_every_size(count: int, seed: int) -> None:
    tree, accumulator = MerkleTree(), RootAccumulator()
    assert accumulator.root() == tree.root() == EMPTY_ROOT
    for leaf in _leaves(count, seed):
        assert tree.append(leaf) == accumulator.size
        accumulator.push(leaf)
        assert accumulator.size == tree.size
        assert accumulator.root() == tree.root()


@settings(deadline=None, max_examples=300)
@given(case=tree_and_inclusion())
def test_inclusion_proofs_are_rfc_paths_and_verify(case: tuple[list[bytes], MerkleTree, int, int]) -> None:
    leaves, tree, index, size = case
    proof = tree.inclusion_proof(index, size)
    assert proof == naive_path(index, leaves[:size])
    assert tree.leaf(index) == leaves[index]
    root = tree.root(size)
    verify_inclusion(leaves[index], index, size, proof, root)
    assert rfc9162.verify_inclusion(leaves[index], index, size, proof, root)


@settings(deadline=None, max_examples=300)
@given(case=tree_and_consistency())
def test_consistency_proofs_are_rfc_proofs_and_verify(case: tuple[list[bytes], MerkleTree, int, int]) -> None:
    leaves, tree, size1, size2 = case
    proof = tree.consistency_proof(size1, size2)
    assert proof == naive_subproof(size1, leaves[:size2], True)
    root1, root2 = tree.root(size1), tree.root(size2)
    verify_consistency(size1, size2, root1, root2, proof)
    assert rfc9162.verify_consistency(size1, size2, root1, root2, proof)


def _mutate_hashes(draw: Callable[[st.SearchStrategy[Any]], Any], proof: list[bytes], kind: str) -> list[bytes]:
    """The proof with one change of ``kind``: a flipped byte, a hash dropped, one added, or two swapped."""
    mutated = list(proof)
    if kind == "flip":
        position = draw(st.integers(min_value=0, max_value=len(proof) - 1))
        offset = draw(st.integers(min_value=0, max_value=HASH_SIZE - 1))
        changed = bytearray(mutated[position])
        changed[offset] ^= draw(st.integers(min_value=1, max_value=255))
        mutated[position] = bytes(changed)
    elif kind == "drop":
        del mutated[draw(st.integers(min_value=0, max_value=len(proof) - 1))]
    elif kind == "add":
        extra = draw(st.sampled_from([b"", bytes(HASH_SIZE), EMPTY_ROOT, *proof, hashlib.sha256(b"extra").digest()]))
        mutated.insert(draw(st.integers(min_value=0, max_value=len(proof))), extra)
    elif kind == "swap":
        first = draw(st.integers(min_value=0, max_value=len(proof) - 2))
        second = draw(st.integers(min_value=first + 1, max_value=len(proof) - 1))
        mutated[first], mutated[second] = mutated[second], mutated[first]
    return mutated


HASH_MUTATIONS = ["flip", "drop", "add", "swap"]


@settings(deadline=None, max_examples=300)
@given(case=tree_and_inclusion(), data=st.data())
def test_mutated_inclusion_proofs_are_rejected(
    case: tuple[list[bytes], MerkleTree, int, int], data: st.DataObject
) -> None:
    leaves, tree, index, size = case
    proof, root, leaf = tree.inclusion_proof(index, size), tree.root(size), leaves[index]
    usable = [kind for kind in HASH_MUTATIONS if kind == "add" or len(proof) >= (2 if kind == "swap" else 1)]
    kind = data.draw(st.sampled_from([*usable, "index", "size", "leaf", "root"]))
    mutated_index, mutated_size, mutated_leaf, mutated_root = index, size, leaf, root
    if kind in HASH_MUTATIONS:
        mutated_proof = _mutate_hashes(data.draw, proof, kind)
        must_fail = True
    elif kind in ("index", "size"):
        mutated_proof = proof
        if kind == "index":
            mutated_index = data.draw(st.integers(min_value=0, max_value=2 * size + 1).filter(lambda i: i != index))
        else:
            mutated_size = data.draw(st.integers(min_value=0, max_value=2 * size + 1).filter(lambda s: s != size))
        must_fail = not inclusion_could_verify(index, size, mutated_index, mutated_size, len(proof))
    else:
        mutated_proof = proof
        if kind == "leaf":
            others = [other for other in leaves if other != leaf]
            mutated_leaf = data.draw(st.sampled_from([leaf_hash(b"other"), EMPTY_ROOT, *others]))
        else:
            mutated_root = data.draw(st.sampled_from([EMPTY_ROOT, tree.root(size - 1), node_hash(root, root)]))
        must_fail = True
    args = (mutated_leaf, mutated_index, mutated_size, mutated_proof, mutated_root)
    event(f"{kind}: {'rejected' if must_fail else 'still a valid proof'}")
    if must_fail:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
        assert not rfc9162.verify_inclusion(*args)
    else:
        verify_inclusion(*args)
        assert rfc9162.verify_inclusion(*args)


@settings(deadline=None, max_examples=300)
@given(case=tree_and_consistency(strict=True), data=st.data())
def test_mutated_consistency_proofs_are_rejected(
    case: tuple[list[bytes], MerkleTree, int, int], data: st.DataObject
) -> None:
    _, tree, size1, size2 = case
    proof = tree.consistency_proof(size1, size2)
    root1, root2 = tree.root(size1), tree.root(size2)
    usable = [kind for kind in HASH_MUTATIONS if kind == "add" or len(proof) >= (2 if kind == "swap" else 1)]
    kind = data.draw(st.sampled_from([*usable, "size1", "size2", "root1", "root2", "swapped"]))
    mutated1, mutated2, mutated_root1, mutated_root2 = size1, size2, root1, root2
    mutated_proof = proof
    if kind in HASH_MUTATIONS:
        mutated_proof = _mutate_hashes(data.draw, proof, kind)
        must_fail = True
    elif kind in ("size1", "size2"):
        if kind == "size1":
            mutated1 = data.draw(st.integers(min_value=0, max_value=size2 + 2).filter(lambda s: s != size1))
        else:
            mutated2 = data.draw(st.integers(min_value=0, max_value=2 * size2 + 1).filter(lambda s: s != size2))
        must_fail = not consistency_could_verify(size1, size2, mutated1, mutated2, len(proof))
    else:
        if kind == "root1":
            mutated_root1 = data.draw(st.sampled_from([EMPTY_ROOT, tree.root(size1 - 1), root2]))
        elif kind == "root2":
            mutated_root2 = data.draw(st.sampled_from([EMPTY_ROOT, tree.root(size2 - 1), root1]))
        else:
            mutated_root1, mutated_root2 = root2, root1
        must_fail = True
    args = (mutated1, mutated2, mutated_root1, mutated_root2, mutated_proof)
    event(f"{kind}: {'rejected' if must_fail else 'still a valid proof'}")
    if must_fail:
        with pytest.raises(ProofError):
            verify_consistency(*args)
        assert not rfc9162.verify_consistency(*args)
    else:
        verify_consistency(*args)
        assert rfc9162.verify_consistency(*args)


# --- errors and edges -------------------------------------------------------------------------------------------------


def test_tree_rejects_out_of_range_arguments() -> None:
    tree = MerkleTree(_leaves(10, 1))
    with pytest.raises(ValueError, match="wrong hash length: leaf hash is 31 bytes"):
        tree.append(bytes(31))
    with pytest.raises(ValueError, match="leaf index 10 is out of range for tree size 10"):
        tree.leaf(10)
    with pytest.raises(ValueError, match="leaf index -1"):
        tree.leaf(-1)
    with pytest.raises(ValueError, match="size 11 is out of range: the tree has 10 leaves"):
        tree.root(11)
    with pytest.raises(ValueError, match="size -1 is out of range"):
        tree.root(-1)
    with pytest.raises(ValueError, match="leaf index 5 is out of range for tree size 5"):
        tree.inclusion_proof(5, 5)
    with pytest.raises(ValueError, match="size 11 is out of range"):
        tree.inclusion_proof(0, 11)
    with pytest.raises(ValueError, match="0 < size1 <= size2"):
        tree.consistency_proof(0, 5)
    with pytest.raises(ValueError, match="0 < size1 <= size2"):
        tree.consistency_proof(6, 5)
    with pytest.raises(ValueError, match="size2 11 is out of range"):
        tree.consistency_proof(1, 11)
    with pytest.raises(ValueError, match="wrong hash length"):
        RootAccumulator().push(b"short")
    with pytest.raises(ValueError, match=r"leaf_hashes\[1\] is 3 bytes"):
        root_hash([bytes(32), b"abc"])
    assert tree.consistency_proof(7, 7) == []
    assert MerkleTree().root() == EMPTY_ROOT
    assert tree.size == 10


def test_proof_errors_say_what_failed() -> None:
    tree = MerkleTree(_leaves(11, 2))
    leaf, root, proof = tree.leaf(3), tree.root(), tree.inclusion_proof(3, 11)
    assert issubclass(ProofError, ValueError)
    with pytest.raises(ProofError, match="index 11 is out of range for tree size 11"):
        verify_inclusion(leaf, 11, 11, proof, root)
    with pytest.raises(ProofError, match="must not be negative"):
        verify_inclusion(leaf, -1, 11, proof, root)
    with pytest.raises(ProofError, match="wrong hash length: leaf hash is 0 bytes, want 32"):
        verify_inclusion(b"", 3, 11, proof, root)
    with pytest.raises(ProofError, match="wrong hash length: root hash is 33 bytes"):
        verify_inclusion(leaf, 3, 11, proof, root + b"\x00")
    with pytest.raises(ProofError, match=r"wrong hash length: proof\[1\] is 0 bytes"):
        verify_inclusion(leaf, 3, 11, [proof[0], b"", *proof[1:]], root)
    with pytest.raises(ProofError, match="proof too short: inclusion proof for index 3 in tree size 11 needs 4 hashes"):
        verify_inclusion(leaf, 3, 11, proof[:-1], root)
    with pytest.raises(ProofError, match=r"proof too long: .* needs 4 hashes, got 5; 1 would not be consumed"):
        verify_inclusion(leaf, 3, 11, [*proof, root], root)
    with pytest.raises(ProofError, match="root mismatch for tree size 11"):
        verify_inclusion(leaf, 3, 11, proof, EMPTY_ROOT)

    root4, consistency = tree.root(4), tree.consistency_proof(6, 11)
    root6 = tree.root(6)
    with pytest.raises(ProofError, match="consistency proof from size 0 is meaningless"):
        verify_consistency(0, 11, EMPTY_ROOT, root, [])
    with pytest.raises(ProofError, match="consistency proof from size 0"):
        verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(ProofError, match=r"size2 \(4\) < size1 \(6\)"):
        verify_consistency(6, 4, root6, root4, consistency)
    with pytest.raises(ProofError, match=f"size1 == size2 == 11 needs an empty proof, got {len(consistency)} hashes"):
        verify_consistency(11, 11, root, root, consistency)
    with pytest.raises(ProofError, match="root mismatch at equal sizes 11"):
        verify_consistency(11, 11, root, root6, [])
    with pytest.raises(ProofError, match="proof too short: empty"):
        verify_consistency(6, 11, root6, root, [])
    with pytest.raises(ProofError, match=r"proof too short: consistency proof from size 6 to 11 needs \d+ hashes"):
        verify_consistency(6, 11, root6, root, consistency[:-1])
    with pytest.raises(ProofError, match="proof too long"):
        verify_consistency(6, 11, root6, root, [*consistency, root])
    with pytest.raises(ProofError, match="wrong hash length: root1 is 9 bytes"):
        verify_consistency(6, 11, b"WrongRoot", root, consistency)
    with pytest.raises(ProofError, match="root1 mismatch for size 6"):
        verify_consistency(6, 11, root4, root, consistency)
    with pytest.raises(ProofError, match="root2 mismatch for size 11"):
        verify_consistency(6, 11, root6, root4, consistency)
    verify_consistency(11, 11, root, root, [])


def test_larger_tree_spot_checks() -> None:
    leaves = _leaves(5000, 3)
    tree = MerkleTree(leaves)
    accumulator = RootAccumulator()
    for leaf in leaves:
        accumulator.push(leaf)
    assert accumulator.root() == tree.root() == naive_mth(leaves)
    for index, size in [(0, 5000), (4999, 5000), (2047, 2048), (2048, 4097), (1234, 3333)]:
        proof = tree.inclusion_proof(index, size)
        verify_inclusion(leaves[index], index, size, proof, tree.root(size))
        assert rfc9162.verify_inclusion(leaves[index], index, size, proof, tree.root(size))
    for size1, size2 in [(1, 5000), (2048, 5000), (2047, 2049), (3333, 4999), (4096, 4097)]:
        proof = tree.consistency_proof(size1, size2)
        assert proof == naive_subproof(size1, leaves[:size2], True)
        verify_consistency(size1, size2, tree.root(size1), tree.root(size2), proof)
        assert rfc9162.verify_consistency(size1, size2, tree.root(size1), tree.root(size2), proof)


def test_compact_range_of_a_tree_is_the_accumulators() -> None:
    """The integrator takes the signer's new compact range from its tree (audit.tree): it must be the one the
    accumulator holds after the same leaves, at every size, taken from a larger tree too."""
    leaves = [hashlib.sha256(bytes([i % 256, i // 256])).digest() for i in range(300)]
    tree = MerkleTree(leaves)
    accumulator = RootAccumulator()
    for size in range(301):
        assert compact_range(tree, size) == accumulator.compact_range, size
        assert RootAccumulator.from_range(size, compact_range(tree, size)).root() == tree.root(size)
        if size < 300:
            accumulator.push(leaves[size])
