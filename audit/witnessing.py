"""The log as a witness client: a witness policy, the hand-off of every new signed head, and the heads it allows.

A :class:`WitnessPolicy` names network witnesses (C2SP tlog-witness, e.g. ``hedui witness serve``) by name, URL
and cosigner verifier key, and how many of them must cosign a head before it is served to supervisors as the
latest (``quorum``). :class:`Witnessing` runs beside the integrator and never blocks it: it is one of the log's
witnesses (the :class:`~audit.witness.Witness` protocol), so the integrator hands it each head it signs
(:meth:`Witnessing.add_checkpoint` only records it and answers at once), and a background task hands the newest offered
head to every witness at once (each exchange within one deadline of ``timeout_seconds``, its socket closed when it
passes; a witness still busy with an earlier head is skipped), with a consistency proof from the
size that witness cosigned last (learnt from its 409 answer: the first request to a witness says old size 0),
checks each returned cosignature with :mod:`audit.cosignature` and stores it in ``audit_cosignatures``.
Heads offered while a round runs are coalesced: the next round takes only the newest.

:func:`policy_head` is what ``GetSignedTreeHead`` serves: the newest signed head whose stored cosignatures,
each verified again, meet the quorum, with those cosignature lines appended to its note. A cosignature row
edited or inserted in the database does not verify and is not counted; a row deleted only delays a head
(fail closed). The lag — entries and seconds the signed log is ahead of the newest head the policy allows — is
a Prometheus metric and, beyond ``lag_bound_seconds``, a failing readiness check.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import logging
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from prometheus_client import Counter, Gauge
from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from audit._http_client import HttpError, exchange
from audit.checkpoint import Checkpoint, CheckpointError, NoteVerifier, open_checkpoint, parse_note
from audit.cosignature import Cosignature, CosignatureError, CosignatureVerifier, cosignatures
from audit.log import audit_tree_heads, metadata
from audit.witness import WitnessConflict, WitnessError, WitnessRejected

__all__ = [
    "COSIGNED_SIZE",
    "POLICY_LAG_ENTRIES",
    "POLICY_LAG_SECONDS",
    "UNSIGNED_SIZE",
    "HttpWitness",
    "LogHeads",
    "Proofs",
    "WitnessPolicy",
    "WitnessSpec",
    "Witnessing",
    "audit_cosignatures",
    "check_stored_cosignatures",
    "log_heads",
    "log_proofs",
    "monitored_checkpoint",
    "policy_head",
    "witnessing_of",
]

log = logging.getLogger("hedui.witnessing")

audit_cosignatures = Table(
    "audit_cosignatures",
    metadata,
    Column("tree_size", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False),
    Column("witness", String(200), primary_key=True),
    Column("line", Text(), nullable=False),
    Column("cosigned_at", BigInteger(), nullable=False),
)
"""One verified cosignature line per (signed head, witness); migration 0006."""

COSIGNED_SIZE = Gauge(
    "hedui_audit_witness_cosigned_size", "Tree size of the newest head each policy witness cosigned", ["witness"]
)
POLICY_LAG_ENTRIES = Gauge(
    "hedui_audit_witness_policy_lag_entries",
    "Entries signed by this process's integrator beyond the newest head cosigned as the witness policy requires",
)
UNSIGNED_SIZE = Counter(
    "hedui_audit_witness_unsigned_size_total",
    "Answers of a policy witness claiming a size this log never signed (a fork, or a lying witness)",
    ["witness"],
)
POLICY_LAG_SECONDS = Gauge(
    "hedui_audit_witness_policy_lag_seconds",
    "Age of the oldest head signed here and not yet cosigned as the witness policy requires (0: none)",
)


@dataclass(frozen=True, slots=True)
class WitnessSpec:
    """One network witness of the policy: its name (for metrics and messages), its URL prefix, its key."""

    name: str
    url: str
    verifier: CosignatureVerifier


@dataclass(frozen=True, slots=True)
class WitnessPolicy:
    """Which witnesses, how many must cosign a head before it is served, and the bounds of waiting for them."""

    witnesses: tuple[WitnessSpec, ...] = ()
    quorum: int = 0
    timeout_seconds: float = 5.0
    lag_bound_seconds: float = 300.0

    def __post_init__(self) -> None:
        """A quorum the witnesses can reach; distinct names and distinct keys (a v1 cosignature does not commit
        to its cosigner's name, so one key under two names would count one witness twice)."""
        if not 0 <= self.quorum <= len(self.witnesses):
            raise ValueError(f"quorum {self.quorum} needs 0 to {len(self.witnesses)} witnesses")
        if len({w.name for w in self.witnesses}) != len(self.witnesses):
            raise ValueError("two witnesses share a name")
        keys = [w.verifier.public_key for w in self.witnesses]
        if len(set(keys)) != len(keys):
            twice = next(k for k in keys if keys.count(k) > 1)
            raise ValueError(f"two witnesses share the public key {base64.b64encode(twice).decode()}")

    @property
    def verifiers(self) -> list[CosignatureVerifier]:
        """The witnesses' cosigner keys."""
        return [w.verifier for w in self.witnesses]


@dataclass(frozen=True, slots=True)
class _Head:
    """A signed head handed to the witnesses: its size, root and note."""

    tree_size: int
    root_hash: bytes
    checkpoint: str


Proofs = Callable[[int, int], Awaitable[list[bytes]]]
"""(old size, new signed size) → the consistency proof between them (``TransparencyLog.consistency_proof``)."""


_SIZE = re.compile(rb"(0|[1-9][0-9]{0,18})\n")
_MAX_ANSWER = 1 << 16


class HttpWitness:
    """A C2SP tlog-witness over HTTP, as the :class:`~audit.witness.Witness` protocol the log speaks."""

    def __init__(self, spec: WitnessSpec, timeout: float) -> None:
        """The witness ``spec``; each exchange with it ends (its socket closed) ``timeout`` seconds after it began."""
        self.spec = spec
        self.name = spec.name
        self.timeout = timeout
        self.known_size = 0  # what it cosigned last, as far as this process knows (0: ask it)
        self.passed = 0  # the newest size this process knows it cosigned (or verifiably passed): the lag's count
        self.task: asyncio.Task[None] | None = None  # its call of the current round, while it runs
        self._latest: str | None = None

    @property
    def busy(self) -> bool:
        """Whether its previous call still runs (a round then skips it)."""
        return self.task is not None and not self.task.done()

    async def add_checkpoint(self, old_size: int, consistency_proof: Sequence[bytes], checkpoint: str) -> str:
        """Submit ``checkpoint``; its verified cosignature lines, :class:`WitnessConflict` on 409, else refused."""
        lines = [f"old {old_size}\n", *(base64.b64encode(node).decode() + "\n" for node in consistency_proof)]
        body = ("".join(lines) + "\n" + checkpoint).encode("utf-8")
        url = self.spec.url.rstrip("/") + "/add-checkpoint"
        try:  # one deadline for the whole exchange; the socket is closed when it passes
            answer = await exchange(url, method="POST", body=body, deadline=self.timeout, max_body=_MAX_ANSWER)
        except HttpError as exc:
            raise WitnessError(f"witness {self.name}: {exc}") from None
        if answer.status == 409:
            found = _SIZE.fullmatch(answer.body)
            if found is None:
                raise WitnessRejected(f"witness {self.name}: 409 without a size (decimal, then a newline)")
            raise WitnessConflict(int(found.group(1)))
        if answer.status != 200:
            text = answer.body[:200].decode("utf-8", "replace")
            raise WitnessRejected(f"witness {self.name}: HTTP {answer.status}: {text}")
        cosigned = checkpoint + answer.body.decode("utf-8", "replace")
        try:
            found_lines = cosignatures(cosigned, [self.spec.verifier], now=dt.datetime.now(dt.UTC))
        except CosignatureError as exc:
            raise WitnessRejected(f"witness {self.name}: {exc}") from None
        if not found_lines:
            raise WitnessRejected(f"witness {self.name}: no cosignature by its key in the answer")
        body_size = Checkpoint.parse_body(parse_note(checkpoint)[0]).size
        self.known_size = body_size
        self._latest = checkpoint + found_lines[0].line
        return found_lines[0].line

    async def latest(self, origin: str) -> str | None:
        """The newest checkpoint this process had cosigned by the witness (log and witness signatures)."""
        return self._latest


@dataclass
class _Lag:
    """Heads offered and not yet cosigned as the policy requires: (size, when offered), oldest first."""

    waiting: deque[tuple[int, float]] = field(default_factory=deque)
    satisfied: int = 0

    def offered(self, size: int) -> None:
        if size > self.satisfied and (not self.waiting or self.waiting[-1][0] < size):
            self.waiting.append((size, time.monotonic()))

    def reached(self, size: int) -> None:
        self.satisfied = max(self.satisfied, size)
        while self.waiting and self.waiting[0][0] <= size:
            self.waiting.popleft()

    def seconds(self) -> float:
        return time.monotonic() - self.waiting[0][1] if self.waiting else 0.0

    def entries(self) -> int:
        return self.waiting[-1][0] - self.satisfied if self.waiting else 0


@dataclass(frozen=True, slots=True)
class LogHeads:
    """What witnessing needs of the log to judge a witness that claims a newer size: the log's key, and the
    root of the signed head of a size (``None``: the log holds no such head, or its note does not verify)."""

    verifier: NoteVerifier
    root_at: Callable[[int], Awaitable[bytes | None]]


class Witnessing:
    """Hands signed heads to the policy's witnesses in the background and stores what they cosign."""

    name = "witness_policy"

    def __init__(
        self,
        policy: WitnessPolicy,
        transaction: Callable[[], Any],
        proofs: Proofs | None = None,
        heads: LogHeads | None = None,
    ) -> None:
        """Follow ``policy``; store cosignatures in transactions opened by ``transaction`` (``Database.write``);
        consistency proofs from ``proofs`` and the log's heads from ``heads`` (settable later, once the log
        exists: :attr:`proofs`, :attr:`heads`)."""
        self.policy = policy
        self.proofs = proofs
        self.heads = heads
        self._transaction = transaction
        self.witnesses = [HttpWitness(spec, policy.timeout_seconds) for spec in policy.witnesses]
        self._newest: _Head | None = None
        self._task: asyncio.Task[None] | None = None
        self._lag = _Lag()
        self._latest: str | None = None
        self._lines: dict[int, dict[str, str]] = {}  # the cosignature lines of recent heads, by size and witness
        self.rounds = 0  # rounds completed (tests wait on it)
        self._closed = False

    async def add_checkpoint(self, old_size: int, consistency_proof: Sequence[bytes], checkpoint: str) -> str:
        """The :class:`~audit.witness.Witness` call the log makes for each new head: recorded for the next round,
        answered at once (no cosignature yet: ``""``), so integration never waits on the witnesses."""
        if self._closed:
            return ""
        body = Checkpoint.parse_body(parse_note(checkpoint)[0])
        head = _Head(body.size, body.root_hash, checkpoint)
        if self._newest is None or head.tree_size > self._newest.tree_size:
            self._newest = head
        self._lag.offered(head.tree_size)
        if self.policy.quorum == 0:
            self._lag.reached(head.tree_size)
        self._publish_lag()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="hedui-witnessing")
        return ""

    async def latest(self, origin: str) -> str | None:
        """The newest checkpoint of this process cosigned as the policy requires (the lag metric reads it)."""
        return self._latest

    @property
    def cosigned_size(self) -> int:
        """The size of the newest head this process had cosigned as the policy requires (0: none yet)."""
        return self._lag.satisfied

    def failure(self) -> str | None:
        """Why the log is not ready for the policy (``None``: it is): heads uncosigned beyond the bound."""
        waited = self._lag.seconds()
        if waited <= self.policy.lag_bound_seconds:
            return None
        return (
            f"no head cosigned by {self.policy.quorum} witness(es) for {waited:.0f} s "
            f"({self._lag.entries()} entries behind; lag_bound_seconds {self.policy.lag_bound_seconds:g})"
        )

    async def close(self) -> None:
        """Stop the rounds and every call in flight (their sockets closed); heads handed over later are not
        witnessed by this process."""
        self._closed = True
        tasks = [task for task in (self._task, *(w.task for w in self.witnesses)) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        """Rounds until nothing new is offered. Each hands the newest head to every witness not still busy with
        an earlier one, and ends once the head is cosigned as the policy requires or every call it made ended:
        a slow witness never holds up the others, and is skipped (not cosigned) while its call runs."""
        while self._newest is not None and not self._closed:
            head, self._newest = self._newest, None
            pending = set()
            for witness in self.witnesses:
                if witness.busy:
                    log.warning(
                        "witness %s: still busy with an earlier head; not asked to cosign head %d",
                        witness.name,
                        head.tree_size,
                    )
                    continue
                witness.task = asyncio.get_running_loop().create_task(
                    self._witness(witness, head), name=f"hedui-witness-{witness.name}"
                )
                pending.add(witness.task)
            while pending and (self.policy.quorum == 0 or self._lag.satisfied < head.tree_size):
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            self.rounds += 1

    async def _witness(self, witness: HttpWitness, head: _Head) -> None:
        """One witness's call for ``head``: its cosignature stored (then, and only then, counted for the lag)."""
        line = await self._submit(witness, head)
        if line is None:
            return
        if line:
            try:
                await self._store(head.tree_size, {witness.name: line})
            except Exception as exc:  # the database out of reach: not counted, the next head tries again
                log.warning(
                    "witness %s: storing its cosignature of head %d failed: %s", witness.name, head.tree_size, exc
                )
                return
            self._lines.setdefault(head.tree_size, {})[witness.name] = line
            COSIGNED_SIZE.labels(witness.name).set(head.tree_size)
        witness.passed = max(witness.passed, head.tree_size)
        self._count(head)

    def _count(self, head: _Head) -> None:
        """The lag after a witness's call: the newest size passed by ``quorum`` witnesses is reached."""
        if self.policy.quorum > 0:
            size = sorted((w.passed for w in self.witnesses), reverse=True)[self.policy.quorum - 1]
            if size > self._lag.satisfied:
                self._lag.reached(size)
                if size == head.tree_size:
                    self._latest = head.checkpoint + "".join(self._lines.get(size, {}).values())
            for old in [s for s in self._lines if s < self._lag.satisfied]:
                del self._lines[old]
        self._publish_lag()

    async def _submit(self, witness: HttpWitness, head: _Head) -> str | None:
        """One witness's cosignature of ``head`` (retrying from the size a 409 names); ``""`` when it verifiably
        cosigned a newer head of this log already, ``None`` when it did not cosign."""
        old = witness.known_size if witness.known_size <= head.tree_size else 0
        for _attempt in range(3):
            try:
                proof = await self._proof(old, head.tree_size)
            except Exception as exc:  # the log cannot prove it now (stopped, damaged): the next head tries again
                log.warning(
                    "witness %s: no consistency proof from %d to %d: %s", witness.name, old, head.tree_size, exc
                )
                return None
            try:
                line = await witness.add_checkpoint(old, proof, head.checkpoint)
            except WitnessConflict as conflict:
                old = witness.known_size = conflict.known_size
                if old > head.tree_size:  # a newer head (another process's)? Only if the log signed it.
                    return await self._superseded(witness, old)
                continue
            except WitnessError as exc:
                log.warning("witness %s did not cosign tree head %d: %s", witness.name, head.tree_size, exc)
                return None
            return line
        return None

    async def _superseded(self, witness: HttpWitness, size: int) -> str | None:
        """``""`` when the witness's size is a head this log signed and holds, as its monitoring checkpoint
        shows (the log's signature and the witness's both verified, the root the log's); else one error line,
        a count in ``hedui_audit_witness_unsigned_size_total``, and ``None`` (not cosigned)."""
        why = await self._unsigned(witness, size)
        if why is None:
            log.info("witness %s cosigned this log's head of size %d already", witness.name, size)
            return ""
        log.error(
            "witness %s holds size %d that this log never signed: fork or lying witness (%s)", witness.name, size, why
        )
        UNSIGNED_SIZE.labels(witness.name).inc()
        return None

    async def _unsigned(self, witness: HttpWitness, size: int) -> str | None:
        """Why ``size`` at the witness is not a head of this log (``None``: it is one)."""
        if self.heads is None:
            return "the log's heads cannot be read here"
        try:
            seen = await monitored_checkpoint(witness.spec, self.heads.verifier, witness.timeout)
            if seen is None or seen.size != size:
                return f"its monitoring URL shows size {seen.size if seen else 'none'}"
            if await self.heads.root_at(size) != seen.root_hash:
                return "the log holds no signed head of that size and root"
        except Exception as exc:  # unreachable witness or database: not shown to be ours
            return f"{type(exc).__name__}: {exc}"
        return None

    async def _proof(self, old: int, size: int) -> list[bytes]:
        """The consistency proof from ``old`` to ``size`` (none needed from 0 or between equal sizes)."""
        if not 0 < old < size:
            return []
        if self.proofs is None:
            raise WitnessError("no source of consistency proofs")
        return await self.proofs(old, size)

    async def _store(self, size: int, lines: dict[str, str]) -> None:
        """Keep the cosignature lines of the head of ``size`` (a row already there is kept)."""
        async with self._transaction() as session:
            have = set(
                (
                    await session.execute(
                        select(audit_cosignatures.c.witness).where(audit_cosignatures.c.tree_size == size)
                    )
                )
                .scalars()
                .all()
            )
            rows = [
                {"tree_size": size, "witness": name, "line": line, "cosigned_at": int(time.time())}
                for name, line in lines.items()
                if name not in have
            ]
            if rows:
                await session.execute(audit_cosignatures.insert(), rows)

    def _publish_lag(self) -> None:
        POLICY_LAG_ENTRIES.set(self._lag.entries())
        POLICY_LAG_SECONDS.set(self._lag.seconds())


def witnessing_of(log: Any) -> Witnessing | None:
    """The :class:`Witnessing` among a :class:`~audit.tree.TransparencyLog`'s witnesses (``None``: no policy)."""
    return next((w for w in getattr(log, "witnesses", ()) if isinstance(w, Witnessing)), None)


def log_proofs(log: Any, sessions: Callable[[], Any]) -> Proofs:
    """Consistency proofs from ``log`` (``TransparencyLog.consistency_proof``), each in a read session of its own."""

    async def proof(old: int, size: int) -> list[bytes]:
        """The proof from ``old`` to the signed head of ``size``."""
        async with sessions() as session:
            nodes, _, _ = await log.consistency_proof(session, old, size)
        return list(nodes)

    return proof


def log_heads(log: Any, sessions: Callable[[], Any]) -> LogHeads:
    """The heads of ``log`` (``TransparencyLog``) for judging a witness's newer size: its key, and the root of
    its stored head of a size once that head's note is checked against it."""

    async def root_at(size: int) -> bytes | None:
        """The root of the signed head of ``size`` the log holds (``None``: none, or not the log's signature)."""
        async with sessions() as session:
            head = await log.head_at(session, size)
        if head is None:
            return None
        try:
            return bytes(log.checked(head).root_hash)
        except Exception:  # LogDamaged: a head row the log never signed
            return None

    return LogHeads(log.verifier, root_at)


_PAGE = 64
_FUTURE_SKEW = 300.0  # seconds a stored cosignature's timestamp may be ahead of this clock


async def policy_head(session: AsyncSession, policy: WitnessPolicy, head: Any, head_at: Any, checked: Any) -> Any:
    """The head to serve as the latest: ``head`` (the newest signed) when the policy asks for no cosignature,
    else the newest signed head whose stored cosignatures verify for ``quorum`` distinct witness keys, with
    those lines in its note; ``None`` when no head is cosigned so yet. ``head_at(session, size)`` reads a stored
    head and ``checked(head)`` verifies its note (:class:`~audit.tree.LogDamaged` if it does not). Only sizes
    with a head row are candidates, read a page at a time until one verifies: rows inserted for other sizes,
    or that do not verify, cannot hide the genuine cosigned head."""
    if policy.quorum == 0:
        return head
    c = audit_cosignatures.c
    below = head.tree_size + 1
    now = dt.datetime.now(dt.UTC)
    while True:
        sizes = (
            (
                await session.execute(
                    select(c.tree_size)
                    .join(audit_tree_heads, audit_tree_heads.c.tree_size == c.tree_size)
                    .where(c.tree_size < below)
                    .group_by(c.tree_size)
                    .having(func.count() >= policy.quorum)
                    .order_by(c.tree_size.desc())
                    .limit(_PAGE)
                )
            )
            .scalars()
            .all()
        )
        for size in sizes:
            candidate = await head_at(session, size)
            if candidate is None:
                continue
            checked(candidate)
            lines = (await session.execute(select(c.line).where(c.tree_size == size))).scalars().all()
            found = _valid(candidate.checkpoint, lines, policy.verifiers, now)
            if len(found) >= policy.quorum:
                return replace(candidate, checkpoint=candidate.checkpoint + "".join(f.line for f in found.values()))
        if len(sizes) < _PAGE:
            return None
        below = sizes[-1]


class _Warnings:
    """At most one warning a minute about stored cosignatures that do not verify (they are read per request)."""

    last = -math.inf
    held = 0

    @classmethod
    def warn(cls, why: str) -> None:
        now = time.monotonic()
        if now - cls.last < 60:
            cls.held += 1
            return
        log.warning("audit log: a stored cosignature does not verify (not counted): %s (%d more held)", why, cls.held)
        cls.last, cls.held = now, 0


def _valid(
    note: str, lines: Sequence[str], verifiers: Sequence[CosignatureVerifier], now: dt.datetime
) -> dict[bytes, Cosignature]:
    """The lines that are valid cosignatures of ``note``, by the verifiers' public keys (one key counts once,
    whatever name a line gives); a bad one, or one timestamped beyond the clock, is left out."""
    valid: dict[bytes, Cosignature] = {}
    for line in lines:
        for verifier in verifiers:
            try:
                for cosigned in cosignatures(note + line, [verifier], now=now, future_grace_seconds=_FUTURE_SKEW):
                    valid[verifier.public_key] = cosigned
            except CosignatureError as exc:
                _Warnings.warn(str(exc))
    return valid


async def check_stored_cosignatures(
    session: AsyncSession, specs: Sequence[WitnessSpec], log_key: NoteVerifier
) -> str | None:
    """``hedui audit verify``: every stored cosignature row of a witness given (named as in the policy, or
    whose line names that witness's key) is that witness's valid cosignature of a head the log holds; the first
    that is not, named. Rows of other witnesses are not judged (their keys are not known here)."""
    by_name = {spec.name: spec.verifier for spec in specs}
    by_key = {(spec.verifier.name, spec.verifier.key_id): spec.verifier for spec in specs}
    c = audit_cosignatures.c
    rows = (await session.execute(select(c.tree_size, c.witness, c.line).order_by(c.tree_size, c.witness))).all()
    for size, witness, line in rows:
        verifier = by_name.get(witness) or by_key.get(_signer_of(line))
        if verifier is None:
            continue
        checkpoint = (
            await session.execute(select(audit_tree_heads.c.checkpoint).where(audit_tree_heads.c.tree_size == size))
        ).scalar()
        if checkpoint is None:
            return f"the stored cosignature of {witness} is of a head of size {size} the log does not hold"
        try:
            open_checkpoint(checkpoint, log_key)
            now = dt.datetime.now(dt.UTC)
            if not cosignatures(checkpoint + line, [verifier], now=now, future_grace_seconds=_FUTURE_SKEW):
                raise CosignatureError("it is not a cosignature by that witness's key")
        except (CheckpointError, CosignatureError) as exc:
            return f"signed tree head at size {size}: the stored cosignature of {witness} does not verify: {exc}"
    return None


def _signer_of(line: str) -> tuple[str, bytes]:
    """The key name and key ID a signature line claims (empty when it is not one)."""
    try:
        (signature,) = parse_note("x\n\n" + line)[1]
    except (CheckpointError, ValueError):
        return "", b""
    return signature.name, signature.key_id


async def monitored_checkpoint(spec: WitnessSpec, log_key: NoteVerifier, timeout: float = 10.0) -> Checkpoint | None:
    """The checkpoint a witness says it cosigned last for the log (its monitoring URL), both signatures
    checked; ``None`` when it cosigned none (404). :class:`WitnessError` when it cannot be read or verified,
    or not within ``timeout`` seconds for the whole exchange."""
    origin_hash = hashlib.sha256(log_key.name.encode("utf-8")).hexdigest()
    url = f"{spec.url.rstrip('/')}/{origin_hash}/checkpoint"
    try:
        answer = await exchange(url, deadline=timeout, max_body=1 << 20)
    except HttpError as exc:
        raise WitnessError(f"witness {spec.name}: cannot read {url}: {exc}") from None
    if answer.status == 404:
        return None
    if answer.status != 200:
        raise WitnessError(f"witness {spec.name}: HTTP {answer.status} for {url}")
    note = answer.body
    try:
        checkpoint = open_checkpoint(note, log_key, log_key.name)
        if not cosignatures(note, [spec.verifier]):
            raise CosignatureError("it carries no cosignature by the witness's key")
    except (CheckpointError, CosignatureError) as exc:
        raise WitnessError(f"witness {spec.name}: its checkpoint does not verify: {exc}") from None
    return checkpoint
