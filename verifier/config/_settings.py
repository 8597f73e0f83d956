"""The settings a running hedui reads: a frozen value built once from the configuration (or by tests directly)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from audit.note_sm2 import Sm2NoteSigner
from audit.witnessing import WitnessPolicy
from connectors.departments import DepartmentCatalogue
from consent.sm2 import Sm2PrivateKey
from consent.suite import CryptoSuite
from verifier.config._centre import CentreIdentity
from verifier.config._tls import TlsSettings

__all__ = ["Settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the data lives, how long departments get, the audit keys and the declared departments.

    Built by :func:`verifier.config.load_settings` from the TOML file and ``HEDUI_*`` variables; tests and
    benches build one directly (every field has a default, the keys a fresh random one).
    """

    database_url: str = "sqlite:///.hedui/hedui.db"
    listen: str = "127.0.0.1:50051"
    sandbox: Path | None = None
    policy_files: tuple[Path, ...] = ()
    # Each department gets this long to answer before it counts as unavailable (or pending, if it gave a ticket).
    department_deadline_seconds: float = 10.0
    # Deadlines of particular departments, overriding department_deadline_seconds.
    department_deadlines: Mapping[str, float] = field(default_factory=dict)
    # How often a pending (asynchronous) answer is polled, and for how long before giving up.
    poll_interval_seconds: float = 1.0
    pending_deadline_seconds: float = 3 * 24 * 3600.0
    # Key for the keyed hashes of identity numbers in the audit log.
    audit_subject_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    # Ed25519 seed of the key that signs the audit log's tree heads, and the log's name (checkpoint origin).
    audit_log_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    audit_log_origin: str = "hedui.local/audit"
    # How long appended entries may wait before they are integrated into the tree under a signed head.
    audit_integrate_seconds: float = 0.2
    # Directories of file witnesses that every new signed tree head is published to.
    witness_dirs: tuple[Path, ...] = ()
    # Issue 12: the key of the entries' MACs (load_settings: from its file, else derived from the log key; empty:
    # derived from the subject key, for tests and benches), the file keeping the signer's
    # state (None: kept in memory, tests and benches), and how long entries may wait for integration before
    # writes stop.
    audit_entry_key: bytes = field(default=b"", repr=False)
    audit_log_state_file: Path | None = None
    audit_integration_bound_seconds: float = 300.0
    # Per department: the connector entry point ("connector"), "deadline_seconds" and the connector's options
    # (the declaration keys name_zh, name_en and record_kinds are in ``catalogue`` instead).
    departments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Where Prometheus scrapes the metrics ("127.0.0.1:9464"); empty: no metrics endpoint.
    metrics_listen: str = ""
    # The database's connection pool (PostgreSQL): connections kept open, connections opened beyond them under load,
    # and how long a unit of work waits for one before it is refused (UNAVAILABLE, DATABASE_BUSY: retry).
    database_pool_size: int = 10
    database_max_overflow: int = 20
    database_pool_timeout_seconds: float = 5.0
    # Durable work: how long a process's claim on a step lasts without its heartbeat (then another process may
    # take the step over), and how often a process looks for steps that are due or orphaned. Lease > interval.
    work_lease_seconds: float = 30.0
    work_claim_interval_seconds: float = 0.5
    # Loaded with create_keys=False: the key files that did not exist (setting → path); their keys are empty.
    missing_key_files: Mapping[str, Path] = field(default_factory=dict)
    # The departments this service may query: the six defaults plus those the configuration declares.
    catalogue: DepartmentCatalogue = field(default_factory=DepartmentCatalogue)
    # The centre's identity on its printed reports (``[centre]``, issue 14).
    centre: CentreIdentity = field(default_factory=CentreIdentity)
    # Issue 12: the network witnesses and their quorum (``[witness_policy]``), and where the log is served as
    # C2SP tlog-tiles ("127.0.0.1:8080"; empty: not served).
    witness_policy: WitnessPolicy = field(default_factory=WitnessPolicy)
    tiles_listen: str = ""
    tiles_entries: bool = False  # serve tile/entries/... bundles too (issue 13: entries are not public)
    # Issue 13: how the gRPC server is reached (``[tls]``; default: the development CA under .hedui/tls).
    tls: TlsSettings = field(default_factory=TlsSettings)
    # --- issue 17, sealing at rest (docs/sealing.md): the suite that seals; where the master keys come from
    # ("file": key_dir; None there: master_key in memory, empty: derived from the subject key, for tests and
    # benches, so a service started again over the same database with the same keys reads it); how long answers
    # are kept before their data keys are destroyed; ``sealing`` off is for bench/bench_sealing.py only ---
    crypto_suite: CryptoSuite = CryptoSuite.STANDARD
    key_provider: str = "file"
    key_dir: Path | None = None
    master_key: bytes = field(default=b"", repr=False)
    department_answers_months: int = 12
    sealing: bool = True
    # the SM suite (docs/crypto-suites.md): the PKCS#8 PEM of the SM2 key that signs every checkpoint beside the
    # Ed25519 key under ``sm`` (empty under ``standard``; a fresh key when a test builds sm settings without one)
    audit_log_sm2_key: bytes = field(default=b"", repr=False)
    # --- end of issue 17's settings ---

    def __post_init__(self) -> None:
        """Issue 17: sm settings built without an SM2 log key get a fresh one (as the other keys default)."""
        if self.crypto_suite is CryptoSuite.SM and not self.audit_log_sm2_key and not self.missing_key_files:
            object.__setattr__(self, "audit_log_sm2_key", Sm2PrivateKey.generate().pem())

    def log_cosigners(self) -> tuple[Sm2NoteSigner, ...]:
        """Issue 17: who signs each checkpoint beside the log's Ed25519 key: its SM2 key under ``sm``, else none."""
        if self.crypto_suite is not CryptoSuite.SM or not self.audit_log_sm2_key:
            return ()
        return (Sm2NoteSigner.from_pem(self.audit_log_origin, self.audit_log_sm2_key),)

    def deadline(self, department: str) -> float:
        """How long ``department`` gets to answer one query (retries included)."""
        return self.department_deadlines.get(department, self.department_deadline_seconds)

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the named fields replaced (e.g. ``database_url`` from ``--db``)."""
        return replace(self, **changes)
