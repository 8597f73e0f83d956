"""An independent verifier for RFC 9162 inclusion and consistency proofs, written from the RFC's text alone.

Tests check the service's proofs with it so that a mistake shared by ``audit.merkle``'s
own verifier cannot hide: it imports nothing from the project, only :mod:`hashlib`, and
follows the numbered steps of RFC 9162 §2.1.3.2 and §2.1.4.2 literally. The steps
assume well-formed input, so the checks they leave out are made first and marked as
preconditions; those follow transparency-dev/merkle's test vectors. Both functions
return a bool and never raise for bad proofs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["HASH_SIZE", "tree_hash", "verify_consistency", "verify_inclusion"]

HASH_SIZE = 32


def _hash_children(left: bytes, right: bytes) -> bytes:
    """HASH(0x01 || left || right), the RFC's interior node hash with SHA-256."""
    return hashlib.sha256(b"\x01" + bytes(left) + bytes(right)).digest()


def _lsb(value: int) -> bool:
    """LSB(x): whether the least significant bit of x is set."""
    return value & 1 == 1


def _are_hashes(values: Sequence[bytes]) -> bool:
    """Every value the algorithms combine is a HASH output, HASH_SIZE bytes long."""
    return all(isinstance(value, bytes | bytearray) and len(value) == HASH_SIZE for value in values)


def tree_hash(entries: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.1: MTH(D[n]), the Merkle Tree Hash of the ordered list of entries ``entries``."""
    # The hash of an empty list is the hash of an empty string: MTH({}) = HASH().
    if not entries:
        return hashlib.sha256(b"").digest()
    # The hash of a list with one entry (a leaf hash): MTH({d(0)}) = HASH(0x00 || d(0)).
    if len(entries) == 1:
        return hashlib.sha256(b"\x00" + bytes(entries[0])).digest()
    # For n > 1, let k be the largest power of two smaller than n (i.e., k < n <= 2k):
    # MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])).
    k = 1
    while k * 2 < len(entries):
        k *= 2
    return _hash_children(tree_hash(entries[:k]), tree_hash(entries[k:]))


def verify_inclusion(leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: whether ``proof`` shows ``leaf_hash`` at ``index`` in the tree of ``tree_size``, ``root``."""
    # Precondition: the hash, the root hash and every inclusion_path value are hashes.
    if not _are_hashes([leaf_hash, root, *proof]):
        return False
    if index < 0:
        return False
    # 1. If leaf_index is greater than or equal to tree_size, then fail the proof verification.
    if index >= tree_size:
        return False
    # 2. Set fn to leaf_index and sn to tree_size - 1.
    fn, sn = index, tree_size - 1
    # 3. Set r to hash.
    r = bytes(leaf_hash)
    # 4. For each value p in the inclusion_path array:
    for p in proof:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            return False
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if _lsb(fn) or fn == sn:
            # i. Set r to HASH(0x01 || p || r).
            r = _hash_children(p, r)
            # ii. If LSB(fn) is not set, then right-shift both fn and sn equally
            #     until either LSB(fn) is set or fn is 0.
            if not _lsb(fn):
                while not _lsb(fn) and fn != 0:
                    fn >>= 1
                    sn >>= 1
        # Otherwise:
        else:
            # i. Set r to HASH(0x01 || r || p).
            r = _hash_children(r, p)
        # c. Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 5. If sn is equal to 0 and r and the root_hash are equal, the log has proven the inclusion of hash.
    return sn == 0 and r == bytes(root)


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: whether ``proof`` shows the tree of ``second`` and ``second_root`` extends ``first``'s."""
    # Preconditions. PROOF(m, D[n]) is defined for 0 < m < n (§2.1.4.1); a proof from the
    # empty tree is refused. Equal sizes are consistent exactly when the proof is empty
    # and the two roots are the same, compared as given.
    if first <= 0 or first > second:
        return False
    if first == second:
        return len(proof) == 0 and bytes(first_root) == bytes(second_root)
    if not _are_hashes([first_root, second_root, *proof]):
        return False
    consistency_path = [bytes(value) for value in proof]
    # 1. If consistency_path is an empty array, stop and fail the proof verification.
    if not consistency_path:
        return False
    # 2. If first is an exact power of 2, then prepend first_hash to the consistency_path array.
    if first & (first - 1) == 0:
        consistency_path.insert(0, bytes(first_root))
    # 3. Set fn to first - 1 and sn to second - 1.
    fn, sn = first - 1, second - 1
    # 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
    while _lsb(fn):
        fn >>= 1
        sn >>= 1
    # 5. Set both fr and sr to the first value in the consistency_path array.
    fr = sr = consistency_path[0]
    # 6. For each subsequent value c in the consistency_path array:
    for c in consistency_path[1:]:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            return False
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if _lsb(fn) or fn == sn:
            # i. Set fr to HASH(0x01 || c || fr).
            fr = _hash_children(c, fr)
            # ii. Set sr to HASH(0x01 || c || sr).
            sr = _hash_children(c, sr)
            # iii. If LSB(fn) is not set, then right-shift both fn and sn equally
            #      until either LSB(fn) is set or fn is 0.
            if not _lsb(fn):
                while not _lsb(fn) and fn != 0:
                    fn >>= 1
                    sn >>= 1
        # Otherwise:
        else:
            # i. Set sr to HASH(0x01 || sr || c).
            sr = _hash_children(sr, c)
        # c. Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 7. Verify that fr equals first_hash, that sr equals second_hash, and that sn is 0.
    return fr == bytes(first_root) and sr == bytes(second_root) and sn == 0
