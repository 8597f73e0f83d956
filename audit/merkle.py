"""RFC 6962 / RFC 9162 Merkle trees over SHA-256, so audit-log checkpoints can be proven append-only.

A checkpoint signs the root of the tree of leaf hashes at some size. An inclusion
proof shows one entry sits at its index under that root; a consistency proof shows
a later root extends an earlier one without rewriting it. The verifiers follow
transparency-dev/merkle ``proof/verify.go`` and its language-neutral test vectors,
and every failure raises :class:`ProofError` saying exactly what did not hold.
Pure and in-memory: no I/O, only :mod:`hashlib`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleTree",
    "ProofError",
    "RootAccumulator",
    "aligned_subtrees",
    "compact_range",
    "leaf_hash",
    "node_hash",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256


class ProofError(ValueError):
    """A proof, hash or tree size failed verification; the message says which check and why."""


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 || entry): the hash of a log entry as a leaf (RFC 9162 §2.1.1)."""
    return _sha256(_LEAF_PREFIX + bytes(entry)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node (RFC 9162 §2.1.1)."""
    return _sha256(_NODE_PREFIX + bytes(left) + bytes(right)).digest()


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves; EMPTY_ROOT for none."""
    accumulator = RootAccumulator()
    for position, leaf in enumerate(leaf_hashes):
        _require_hash_size(leaf, f"leaf_hashes[{position}]", ValueError)
        accumulator.push(leaf)
    return accumulator.root()


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf`` is the leaf hash at ``index`` in the tree of ``size`` with ``root`` (RFC 9162 §2.1.3.2).

    Raises ProofError on any failure; returns None when the proof holds.
    """
    if index < 0 or size < 0:
        raise ProofError(f"index ({index}) and size ({size}) must not be negative")
    if index >= size:
        raise ProofError(f"index {index} is out of range for tree size {size}")
    _require_hash_size(leaf, "leaf hash", ProofError)
    _require_hash_size(root, "root hash", ProofError)
    _require_proof_hash_sizes(proof)

    inner, border = _decompose_inclusion(index, size)
    _require_proof_length(proof, inner + border, f"inclusion proof for index {index} in tree size {size}")

    computed = _chain_inner(leaf, proof[:inner], index)
    computed = _chain_border_right(computed, proof[inner:])
    if computed != root:
        raise ProofError(
            f"root mismatch for tree size {size}: proof computes {computed.hex()}, expected {bytes(root).hex()}"
        )


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree of ``size2`` with ``root2`` extends the tree of ``size1`` with ``root1`` (RFC 9162 §2.1.4.2).

    A proof from size 0 is refused, as the upstream vectors require. Equal sizes need an
    empty proof and equal roots (compared as given, like the reference). Raises ProofError.
    """
    if size1 < 0 or size2 < 0:
        raise ProofError(f"tree sizes must not be negative: size1={size1}, size2={size2}")
    if size2 < size1:
        raise ProofError(f"size2 ({size2}) < size1 ({size1}): a log cannot shrink")
    if size1 == 0:
        raise ProofError("consistency proof from size 0 is meaningless: the empty tree commits to nothing")
    if size1 == size2:
        if proof:
            raise ProofError(f"size1 == size2 == {size1} needs an empty proof, got {len(proof)} hashes")
        if bytes(root1) != bytes(root2):
            raise ProofError(
                f"root mismatch at equal sizes {size1}: root1 {bytes(root1).hex()} != root2 {bytes(root2).hex()}"
            )
        return
    _require_hash_size(root1, "root1", ProofError)
    _require_hash_size(root2, "root2", ProofError)
    _require_proof_hash_sizes(proof)
    if not proof:
        raise ProofError(f"proof too short: empty, but size1 ({size1}) < size2 ({size2}) needs at least one hash")

    inner, border = _decompose_inclusion(size1 - 1, size2)
    shift = _trailing_zeros(size1)
    inner -= shift
    if size1 == 1 << shift:
        seed, start = bytes(root1), 0
    else:
        seed, start = bytes(proof[0]), 1
    _require_proof_length(proof, start + inner + border, f"consistency proof from size {size1} to {size2}")

    path = proof[start:]
    mask = (size1 - 1) >> shift
    computed1 = _chain_inner_right(seed, path[:inner], mask)
    computed1 = _chain_border_right(computed1, path[inner:])
    if computed1 != root1:
        raise ProofError(
            f"root1 mismatch for size {size1}: proof computes {computed1.hex()}, expected {bytes(root1).hex()}"
        )
    computed2 = _chain_inner(seed, path[:inner], mask)
    computed2 = _chain_border_right(computed2, path[inner:])
    if computed2 != root2:
        raise ProofError(
            f"root2 mismatch for size {size2}: proof computes {computed2.hex()}, expected {bytes(root2).hex()}"
        )


class MerkleTree:
    """Append-only tree of leaf hashes keeping every complete subtree's hash, ~64 bytes per leaf.

    Level k is one bytearray of 32-byte hashes of the aligned subtrees of 2**k leaves,
    so any root, PATH or SUBPROOF up to the current size costs O(log² n) hashing.
    """

    __slots__ = ("_levels", "_size")

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        """Start empty, or with ``leaves`` (leaf hashes) appended in order."""
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        self.extend(leaves)

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf: bytes) -> int:
        """Append one leaf hash and return its index."""
        _require_hash_size(leaf, "leaf hash", ValueError)
        index = self._size
        levels = self._levels
        levels[0] += leaf
        count, level = index + 1, 0
        while not count & 1:
            parent = _sha256(_NODE_PREFIX + levels[level][-2 * HASH_SIZE :]).digest()
            level += 1
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += parent
            count >>= 1
        self._size = index + 1
        return index

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append leaf hashes in order: the leaves at once, then each level's new nodes in one pass."""
        batch = list(leaves)
        if batch and set(map(len, batch)) != {HASH_SIZE}:
            raise ValueError(f"wrong hash length: a leaf hash is not {HASH_SIZE} bytes")
        levels, low, high = self._levels, self._size, self._size + len(batch)
        levels[0] += b"".join(batch)
        self._size = high
        level, step = 0, 2 * HASH_SIZE
        while high >> 1 > low >> 1:  # level + 1 gains the parents of the pairs completed at this level
            low, high, children = low >> 1, high >> 1, levels[level]
            if level + 1 == len(levels):
                levels.append(bytearray())
            levels[level + 1] += b"".join(
                [_sha256(_NODE_PREFIX + children[i * step : i * step + step]).digest() for i in range(low, high)]
            )
            level += 1

    def leaf(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        if not 0 <= index < self._size:
            raise ValueError(f"leaf index {index} is out of range for tree size {self._size}")
        return self._node(0, index)

    def leaf_bytes(self, low: int, high: int) -> bytes:
        """The leaf hashes ``low..high-1`` end to end (a copy), for whoever indexes them (audit.leaf_index)."""
        if not 0 <= low <= high <= self._size:
            raise ValueError(f"leaves {low}..{high} are out of range for tree size {self._size}")
        return bytes(self._levels[0][low * HASH_SIZE : high * HASH_SIZE])

    def node(self, level: int, index: int) -> bytes:
        """The hash of the ``index``-th perfect subtree of ``2**level`` leaves (C2SP tlog-tiles reads these)."""
        if level < 0 or not 0 <= index < self._size >> level:
            raise ValueError(f"no complete subtree {index} of 2**{level} leaves in a tree of size {self._size}")
        return self._node(level, index)

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all of them); EMPTY_ROOT for size 0."""
        if size is None:
            size = self._size
        self._require_size(size, "size")
        return self._range_hash(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaf-side hash first."""
        self._require_size(size, "size")
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is out of range for tree size {size}")
        path: list[bytes] = []
        low, high = 0, size
        while high - low > 1:
            split = low + _largest_power_of_two_below(high - low)
            if index < split:
                path.append(self._range_hash(split, high))
                high = split
            else:
                path.append(self._range_hash(low, split))
                low = split
        path.reverse()
        return path

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """PROOF(size1, D[0:size2]) of RFC 9162 §2.1.4.1; empty when the sizes are equal."""
        self._require_size(size2, "size2")
        if not 0 < size1 <= size2:
            raise ValueError(f"consistency proof needs 0 < size1 <= size2, got size1={size1}, size2={size2}")
        tail: list[bytes] = []
        low, high, known = 0, size2, True
        while size1 != high:
            split = low + _largest_power_of_two_below(high - low)
            if size1 <= split:
                tail.append(self._range_hash(split, high))
                high = split
            else:
                tail.append(self._range_hash(low, split))
                low, known = split, False
        tail.reverse()
        return tail if known else [self._range_hash(low, high), *tail]

    def _require_size(self, size: int, name: str) -> None:
        if not 0 <= size <= self._size:
            raise ValueError(f"{name} {size} is out of range: the tree has {self._size} leaves")

    def _node(self, level: int, index: int) -> bytes:
        start = index * HASH_SIZE
        return bytes(self._levels[level][start : start + HASH_SIZE])

    def _range_hash(self, low: int, high: int) -> bytes:
        """MTH(D[low:high]) for low aligned to the smallest power of two >= high - low, as RFC recursion yields."""
        pieces: list[bytes] = []
        position = low
        while position < high:
            level = (high - position).bit_length() - 1
            if position:
                level = min(level, _trailing_zeros(position))
            pieces.append(self._node(level, position >> level))
            position += 1 << level
        result = pieces[-1]
        for piece in reversed(pieces[:-1]):
            result = _sha256(_NODE_PREFIX + piece + result).digest()
        return result


class RootAccumulator:
    """Streaming MTH: the perfect-subtree roots of a compact range, for verifying a full export."""

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        """Start with the empty tree."""
        self._stack: list[bytes] = []
        self._size = 0

    @classmethod
    def from_range(cls, size: int, hashes: Sequence[bytes]) -> RootAccumulator:
        """The accumulator of a tree of ``size`` leaves given its compact range (one hash per set bit of
        ``size``, largest subtree first), as :attr:`compact_range` gave it."""
        if size < 0 or len(hashes) != bin(size).count("1"):
            raise ValueError(f"a compact range of size {size} has {bin(max(size, 0)).count('1')} hashes")
        for node in hashes:
            _require_hash_size(node, "compact range hash", ValueError)
        accumulator = cls()
        accumulator._stack = [bytes(node) for node in hashes]
        accumulator._size = size
        return accumulator

    @property
    def compact_range(self) -> tuple[bytes, ...]:
        """The roots of the perfect subtrees covering the leaves so far, largest first: all a signer must keep
        to extend the tree consistently without the leaves themselves."""
        return tuple(self._stack)

    @property
    def size(self) -> int:
        """Number of leaf hashes pushed so far."""
        return self._size

    def push(self, leaf_hash: bytes) -> None:
        """Add the next leaf hash, merging completed subtrees."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"wrong hash length: leaf hash is {len(leaf_hash)} bytes, want {HASH_SIZE}")
        size = self._size
        self._size = size + 1
        if not size & 1:
            self._stack.append(bytes(leaf_hash))
            return
        stack = self._stack
        node = bytes(leaf_hash)
        while size & 1:
            node = _sha256(_NODE_PREFIX + stack.pop() + node).digest()
            size >>= 1
        stack.append(node)

    def extend(self, leaf_hashes: Sequence[bytes]) -> None:
        """Add leaf hashes in order, as :meth:`push` one by one would (see :func:`aligned_subtrees`)."""
        for node, leaves in aligned_subtrees(self._size, leaf_hashes):
            self._push_subtree(node, leaves)

    def push_subtree(self, node: bytes, leaves: int) -> None:
        """Add the root ``node`` of a perfect subtree of ``leaves`` leaves, as :func:`aligned_subtrees` gives them
        for this size: ``leaves`` a power of two that divides the size so far."""
        _require_hash_size(node, "subtree hash", ValueError)
        if leaves <= 0 or leaves & (leaves - 1) or (self._size and self._size % leaves):
            raise ValueError(f"a perfect subtree of {leaves} leaves cannot follow {self._size} leaves")
        self._push_subtree(bytes(node), leaves)

    def _push_subtree(self, node: bytes, leaves: int) -> None:
        stack = self._stack
        count = self._size // leaves
        self._size += leaves
        while count & 1:
            node = _sha256(_NODE_PREFIX + stack.pop() + node).digest()
            count >>= 1
        stack.append(node)

    def root(self) -> bytes:
        """MTH of everything pushed so far; EMPTY_ROOT when nothing was."""
        stack = self._stack
        if not stack:
            return EMPTY_ROOT
        result = stack[-1]
        for piece in reversed(stack[:-1]):
            result = _sha256(_NODE_PREFIX + piece + result).digest()
        return result


def compact_range(tree: MerkleTree, size: int) -> tuple[bytes, ...]:
    """The compact range of ``tree``'s first ``size`` leaves: the roots of the perfect subtrees covering them,
    largest first (one per set bit of ``size``), as :attr:`RootAccumulator.compact_range` holds it."""
    hashes: list[bytes] = []
    position = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            hashes.append(tree.node(level, position >> level))
            position += 1 << level
    return tuple(hashes)


def aligned_subtrees(first: int, leaf_hashes: Sequence[bytes]) -> list[tuple[bytes, int]]:
    """The roots of the perfect subtrees that leaves ``first``.. (their hashes given) fill, each with its number of
    leaves, in order: each run of ``2**k`` leaves starting at a multiple of ``2**k`` is hashed level by level (a
    list comprehension a level: a third of the interpreter's work per node that pushing leaf by leaf costs)."""
    if leaf_hashes and set(map(len, leaf_hashes)) != {HASH_SIZE}:
        raise ValueError(f"wrong hash length: a leaf hash is not {HASH_SIZE} bytes")
    out: list[tuple[bytes, int]] = []
    done, total, position = 0, len(leaf_hashes), first
    while done < total:
        room = position & -position if position else 1 << 62  # the largest subtree that may start here
        block = min(room, 1 << ((total - done).bit_length() - 1))
        level = list(leaf_hashes[done : done + block])
        while len(level) > 1:
            pairs = iter(level)
            level = [_sha256(_NODE_PREFIX + left + right).digest() for left, right in zip(pairs, pairs, strict=False)]
        out.append((bytes(level[0]), block))
        done += block
        position += block
    return out


def _require_hash_size(value: bytes, name: str, error: type[ValueError]) -> None:
    if len(value) != HASH_SIZE:
        raise error(f"wrong hash length: {name} is {len(value)} bytes, want {HASH_SIZE}")


def _require_proof_hash_sizes(proof: Sequence[bytes]) -> None:
    for position, value in enumerate(proof):
        if len(value) != HASH_SIZE:
            raise ProofError(f"wrong hash length: proof[{position}] is {len(value)} bytes, want {HASH_SIZE}")


def _require_proof_length(proof: Sequence[bytes], want: int, what: str) -> None:
    if len(proof) < want:
        raise ProofError(f"proof too short: {what} needs {want} hashes, got {len(proof)}")
    if len(proof) > want:
        raise ProofError(
            f"proof too long: {what} needs {want} hashes, got {len(proof)}; {len(proof) - want} would not be consumed"
        )


def _decompose_inclusion(index: int, size: int) -> tuple[int, int]:
    """Split PATH(index, size)'s length where the paths to ``index`` and ``size - 1`` diverge: (inner, border)."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    result = bytes(seed)
    for level, value in enumerate(proof):
        result = node_hash(value, result) if (index >> level) & 1 else node_hash(result, value)
    return result


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    """Like _chain_inner, but only left siblings count: the same subtree as it was at the earlier size."""
    result = bytes(seed)
    for level, value in enumerate(proof):
        if (index >> level) & 1:
            result = node_hash(value, result)
    return result


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    result = seed
    for value in proof:
        result = node_hash(value, result)
    return result


def _trailing_zeros(value: int) -> int:
    return (value & -value).bit_length() - 1


def _largest_power_of_two_below(value: int) -> int:
    """The k of RFC 9162 §2.1.1: the largest power of two smaller than ``value`` (>= 2)."""
    return 1 << ((value - 1).bit_length() - 1)
