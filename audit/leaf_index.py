"""Where a leaf hash sits in the integrator's proven tree: the check that a queued entry is not a copy of one.

The integrator refuses a queued entry whose leaf hash is already in the tree (a genuine row copied with its MAC).
It looks the hash up here, among the leaves of the tree it holds in memory — leaves proven against the root the
signer signed, which no edit of the database can change — instead of through an index on
``audit_leaves.leaf_hash``: random hashes scatter that index's inserts over its whole b-tree, the largest part of
an append's database work on SQLite (migration 0013 drops it).

An open-addressing table, 8 bytes a slot (a leaf's index and 32 bits of its hash, so that a miss rarely reads the
tree) and at most half full: 16 to 32 MB a million leaves, beside the tree's 64 MB. Filled lazily from the tree:
each lookup first indexes the leaves added since the last.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence

from audit.merkle import HASH_SIZE, MerkleTree

__all__ = ["LeafIndex"]

_FIRST_SLOTS = 1 << 12
_POSITION = (1 << 32) - 1  # a slot: the high 32 bits of the leaf's first 8 bytes, then its index + 1
_ORDER = sys.byteorder


class LeafIndex:
    """The leaves of one tree by their hash. Follows the tree it is asked about: a new tree object, or one that is
    smaller than what was indexed, is indexed afresh."""

    def __init__(self) -> None:
        """An empty index of no tree yet."""
        self._tree: MerkleTree | None = None
        self._size = 0
        self._slots = array("Q", bytes(8 * _FIRST_SLOTS))  # 0 is an empty slot
        self._mask = _FIRST_SLOTS - 1

    def find(self, tree: MerkleTree, hashes: Sequence[bytes]) -> list[tuple[bytes, int]]:
        """Which of ``hashes`` are leaves of ``tree``, each with its first leaf index, in the order given."""
        self._follow(tree)
        found: list[tuple[bytes, int]] = []
        slots, mask, at = self._slots, self._mask, tree.leaf
        for leaf in hashes:
            key = int.from_bytes(leaf[:8], _ORDER)
            position, tag = key & mask, key >> 32
            while stored := slots[position]:
                if stored >> 32 == tag and at((stored & _POSITION) - 1) == leaf:
                    found.append((leaf, (stored & _POSITION) - 1))
                    break
                position = (position + 1) & mask
        return found

    def _follow(self, tree: MerkleTree) -> None:
        """Index the leaves ``tree`` has beyond those indexed (all of them for another tree)."""
        if tree is not self._tree or tree.size < self._size:
            self._tree, self._size = tree, 0
            self._slots = array("Q", bytes(8 * _FIRST_SLOTS))
            self._mask = _FIRST_SLOTS - 1
        if tree.size == self._size:
            return
        if 2 * tree.size > len(self._slots):
            capacity = len(self._slots)
            while 2 * tree.size > capacity:
                capacity *= 2
            self._slots, self._mask, low = array("Q", bytes(8 * capacity)), capacity - 1, 0
        else:
            low = self._size
        if tree.size > _POSITION:
            raise ValueError(f"a tree of {tree.size} leaves is more than a leaf index holds")
        slots, mask = self._slots, self._mask
        # Each leaf's first 8 bytes as one integer (the machine's order, which find's int.from_bytes follows).
        with memoryview(tree.leaf_bytes(low, tree.size)) as leaves, leaves.cast("Q") as words:
            for number, key in enumerate(words[:: HASH_SIZE // 8], start=low + 1):
                position = key & mask
                while slots[position]:
                    position = (position + 1) & mask
                slots[position] = (key >> 32) << 32 | number
        self._size = tree.size
