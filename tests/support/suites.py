"""Issue 17: which crypto suite the tests run under (``HEDUI_TEST_SUITE``: ``standard``, the default, or ``sm``).

CI runs the consent, audit and storage tests once more with ``HEDUI_TEST_SUITE=sm`` (.ci/run): the organisation's
keys the tests make are then SM2, and the services they start sign every checkpoint with SM2 beside Ed25519.
Tests about one algorithm (Ed25519, P-256's raw r‖s, SM2's vectors) name it instead.
"""

from __future__ import annotations

import os

from audit.checkpoint import NoteKey
from audit.note_sm2 import Sm2NoteSigner
from consent.envelope import SigningKey
from consent.sm2 import Sm2PrivateKey
from consent.suite import CryptoSuite

__all__ = ["TEST_SUITE", "log_cosigners", "org_key"]

TEST_SUITE = CryptoSuite(os.environ.get("HEDUI_TEST_SUITE", "standard"))


def org_key() -> SigningKey:
    """A new organisation key of the suite: Ed25519, or SM2 under ``sm``."""
    return SigningKey.generate(TEST_SUITE)


def log_cosigners(origin: str) -> tuple[NoteKey, ...]:
    """Who signs a test log's heads beside its Ed25519 key: a new SM2 key under ``sm``, nobody otherwise."""
    if TEST_SUITE is CryptoSuite.SM:
        return (Sm2NoteSigner(origin, Sm2PrivateKey.generate()),)
    return ()
