"""The integrator's in-memory look-up of leaf hashes (audit.leaf_index), which finds a copy of an entry already
in the tree without an index on audit_leaves.leaf_hash: it answers as a scan of the tree's leaves would, as the
tree grows past its table's doublings, and follows a tree that is replaced."""

from __future__ import annotations

from audit.leaf_index import LeafIndex
from audit.merkle import MerkleTree, leaf_hash


def leaves(low: int, high: int) -> list[bytes]:
    """Leaf hashes of distinct entries ``low..high-1``."""
    return [leaf_hash(b"entry %d" % i) for i in range(low, high)]


def test_finds_what_the_tree_holds_and_where_as_it_grows() -> None:
    tree, index = MerkleTree(leaves(0, 3)), LeafIndex()
    assert index.find(tree, [leaf_hash(b"entry 2"), leaf_hash(b"entry 3")]) == [(leaf_hash(b"entry 2"), 2)]
    tree.extend(leaves(3, 5000))  # past the first table's 4,096 slots at half full: indexed afresh, bigger
    asked = [leaf_hash(b"entry 4999"), leaf_hash(b"entry 5000"), leaf_hash(b"entry 0"), leaf_hash(b"entry 2048")]
    assert index.find(tree, asked) == [(asked[0], 4999), (asked[2], 0), (asked[3], 2048)]
    assert index.find(tree, leaves(5000, 9000)) == []
    tree.extend(leaves(0, 1))  # a leaf twice (a copy signed before the check existed): its first place
    assert index.find(tree, [leaf_hash(b"entry 0")]) == [(leaf_hash(b"entry 0"), 0)]


def test_another_tree_is_indexed_afresh() -> None:
    index = LeafIndex()
    assert index.find(MerkleTree(leaves(0, 10)), [leaf_hash(b"entry 5")]) == [(leaf_hash(b"entry 5"), 5)]
    other = MerkleTree(leaves(5, 7))  # the integrator rebuilds its tree after a failure
    assert index.find(other, [leaf_hash(b"entry 5"), leaf_hash(b"entry 9")]) == [(leaf_hash(b"entry 5"), 0)]
    assert index.find(MerkleTree(), [leaf_hash(b"entry 5")]) == []
