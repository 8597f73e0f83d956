"""Sandbox departments: built-in connectors answering from a sandbox dataset file.

The file format is interfaces.md's "Sandbox dataset", including ``faults`` and
``banks.answer_after_seconds``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import functools
import hashlib
import hmac
import importlib.resources
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from connectors.base import (
    ConnectorDescription,
    DepartmentAnswer,
    DepartmentQuery,
    DepartmentRefused,
    DepartmentUnavailable,
    Ticket,
    idempotency_keys,
)
from connectors.departments import Department, DepartmentCatalogue
from connectors.idempotency import DEFAULT_MAX_PAIRS, AnswerStore, QueryLog
from connectors.records import (
    RECORD_TYPES,
    SANDBOX_SECTIONS,
    DepartmentRecord,
    PersonRecord,
    RecordError,
    parse_record,
    record_to_plain,
    records_about,
)

__all__ = [
    "MIN_TICKET_KEY_BYTES",
    "Fault",
    "SandboxConnector",
    "SandboxDataset",
    "SandboxError",
    "dataset_ticket_key",
    "sandbox_connectors",
    "sections_of",
]

SECTION_KINDS: Final = SANDBOX_SECTIONS
"""The list of a department's section that holds each record kind (interfaces.md's names), in kind order."""
_ASYNCHRONOUS_SECTION: Final = "banks"  # interfaces.md: only the banks' section may set answer_after_seconds


def sections_of(department: Department) -> dict[str, type[DepartmentRecord]]:
    """The lists a department's sandbox section may hold (section name → record type), in kind order."""
    return {name: RECORD_TYPES[kind] for name, kind in SECTION_KINDS.items() if department.answers_with(kind)}


_FAULT_MODES: Final = ("unavailable", "slow", "flaky")
MAX_ANSWER_DELAY_SECONDS: Final = 30 * 24 * 3600
MIN_TICKET_KEY_BYTES: Final = 16
_TICKET_SEAL_LABEL: Final = b"hedui sandbox ticket v2 aes-256-gcm\0"
_TICKET_PREFIX: Final = "t2."
_TICKET_KEY_LABEL: Final = b"hedui sandbox ticket key v1\0"
MAX_BATCH_SIZE: Final = 100


class SandboxError(ValueError):
    """A sandbox dataset that does not match the format; names the path."""


@dataclass(frozen=True, slots=True)
class Fault:
    """A simulated department failure: ``unavailable``, ``slow`` (``delay_ms``) or ``flaky`` (``fail_first``)."""

    mode: str
    delay_ms: int = 0
    fail_first: int = 0


@dataclass(frozen=True, slots=True)
class SandboxDataset:
    """Validated sandbox data: records per department, faults, the banks' answer delay.

    ``catalogue`` is the departments the data was read for (by default the six of interfaces.md):
    the dataset holds a section for each (empty if the file has none), and a section of any other
    name is an error.
    """

    records: Mapping[str, tuple[DepartmentRecord, ...]]
    faults: Mapping[str, Fault] = field(default_factory=dict)
    answer_after_seconds: Mapping[str, float] = field(default_factory=dict)
    catalogue: DepartmentCatalogue = field(default_factory=DepartmentCatalogue, compare=False)

    @classmethod
    def load(cls, path: Path, catalogue: DepartmentCatalogue | None = None) -> SandboxDataset:
        """Read and check a dataset file; :class:`SandboxError` names the file or the wrong path."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SandboxError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SandboxError(f"{path}: cannot read: {exc}") from None
        except json.JSONDecodeError as exc:
            raise SandboxError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from None
        return cls.from_json(raw, catalogue)

    @classmethod
    def demo(cls) -> SandboxDataset:
        """The demo dataset shipped with the package."""
        text = importlib.resources.files("connectors").joinpath("data/demo-sandbox.json").read_text("utf-8")
        return cls.from_json(json.loads(text))

    @classmethod
    def from_json(cls, raw: object, catalogue: DepartmentCatalogue | None = None) -> SandboxDataset:
        """Check a parsed dataset: a section per department of ``catalogue`` (default: the six), and ``faults``."""
        departments = catalogue if catalogue is not None else DepartmentCatalogue()
        if not isinstance(raw, Mapping):
            raise SandboxError("sandbox: must be a JSON object")
        unknown = sorted(set(raw) - set(departments) - {"faults"})
        if unknown:
            raise SandboxError(f"{unknown[0]}: unknown section")
        records: dict[str, tuple[DepartmentRecord, ...]] = {}
        answer_after: dict[str, float] = {}
        for department in departments.values():
            section = raw.get(department.id, {})
            records[department.id] = _parse_section(department, section)
            if isinstance(section, Mapping) and "answer_after_seconds" in section:
                answer_after[department.id] = _answer_delay(department.id, section["answer_after_seconds"])
        faults = _parse_faults(raw.get("faults", {}), departments)
        return cls(records=records, faults=faults, answer_after_seconds=answer_after, catalogue=departments)


def _parse_section(department: Department, section: object) -> tuple[DepartmentRecord, ...]:
    """The records of one department's section: its lists, each record checked, record ids unique."""
    if not isinstance(section, Mapping):
        raise SandboxError(f"{department.id}: must be an object")
    lists = sections_of(department)
    allowed = set(lists) | ({"answer_after_seconds"} if department.id == _ASYNCHRONOUS_SECTION else set())
    extra = sorted(set(section) - allowed)
    if extra:
        raise SandboxError(f"{department.id}.{extra[0]}: unknown key")
    found: list[DepartmentRecord] = []
    for key, record_type in lists.items():
        items = section.get(key, [])
        if not isinstance(items, list):
            raise SandboxError(f"{department.id}.{key}: must be a list")
        found.extend(
            _parse_item(record_type, item, f"{department.id}.{key}[{index}]") for index, item in enumerate(items)
        )
    ids = [r.record_id for r in found]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SandboxError(f"{department.id}: duplicate record_id {duplicates[0]}")
    return tuple(found)


def _parse_item(record_type: type[DepartmentRecord], item: object, path: str) -> DepartmentRecord:
    """One record of a list; a person without ``record_id`` gets ``HUKOU:ID`` (interfaces.md)."""
    if record_type is PersonRecord and isinstance(item, Mapping) and "record_id" not in item:
        item = {**item, "record_id": f"{item.get('hukou_id')}:{item.get('id_number')}"}
    try:
        return parse_record(record_type, item, path)
    except RecordError as exc:
        raise SandboxError(str(exc)) from None


def _answer_delay(department: str, delay: object) -> float:
    """``answer_after_seconds``: a finite number of seconds from 0 to :data:`MAX_ANSWER_DELAY_SECONDS`."""
    number = isinstance(delay, int | float) and not isinstance(delay, bool)
    if number and math.isfinite(delay) and 0 <= delay <= MAX_ANSWER_DELAY_SECONDS:  # type: ignore[arg-type,operator]
        return float(delay)  # type: ignore[arg-type]
    raise SandboxError(f"{department}.answer_after_seconds: must be a number from 0 to {MAX_ANSWER_DELAY_SECONDS}")


def _parse_faults(raw: object, departments: DepartmentCatalogue) -> dict[str, Fault]:
    """``faults``: per declared department, a mode and its number (``delay_ms``, ``fail_first``)."""
    if not isinstance(raw, Mapping):
        raise SandboxError("faults: must be an object")
    faults: dict[str, Fault] = {}
    for department, spec in raw.items():
        path = f"faults.{department}"
        if department not in departments:
            raise SandboxError(f"{path}: unknown department")
        if not isinstance(spec, Mapping):
            raise SandboxError(f"{path}: must be an object")
        mode = spec.get("mode")
        if mode not in _FAULT_MODES:
            raise SandboxError(f"{path}.mode: must be one of {', '.join(_FAULT_MODES)}")
        allowed = {"mode", {"slow": "delay_ms", "flaky": "fail_first"}.get(str(mode), "mode")}
        extra = sorted(set(spec) - allowed)
        if extra:
            raise SandboxError(f"{path}.{extra[0]}: unknown key for mode {mode}")
        number_key = {"slow": "delay_ms", "flaky": "fail_first"}.get(str(mode))
        number = 0
        if number_key is not None:
            value = spec.get(number_key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SandboxError(f"{path}.{number_key}: must be an integer >= 0")
            number = value
        faults[department] = Fault(
            mode=str(mode),
            delay_ms=number if mode == "slow" else 0,
            fail_first=number if mode == "flaky" else 0,
        )
    return faults


class SandboxConnector:
    """One department of the sandbox. Answers from the dataset, with its faults.

    Asynchronous answers (``banks.answer_after_seconds``) come as tickets that hold the question
    itself (identity numbers and ready time): the sandbox keeps no state, so a ticket still works
    after hedui, or a connector server in front of the sandbox, restarts. Anyone could write such a
    ticket, and ``poll`` answers whoever holds one, so tickets are sealed (AES-256-GCM under a key derived
    from the ticket key): opaque (review S7: no identity number readable in it) and a ticket that fails to
    open is an unknown ticket (:class:`DepartmentRefused`).

    ``ticket_key`` is the sealing key (at least :data:`MIN_TICKET_KEY_BYTES` bytes). Without one, the
    key is derived from the dataset's canonical content (:func:`dataset_ticket_key`): every process
    that loads the same data signs and accepts the same tickets — hedui and the reference server
    after a restart, hedui's test fixtures — with no key file to share. That key is no secret from
    whoever has the dataset, but whoever has the dataset can read every record in it anyway: what a
    ticket opens is exactly what the key derives from (for the built-in demo data: public data).
    ``hedui connector serve`` signs with a random key kept beside its self-signed certificate, or
    with ``--ticket-key FILE``.

    The sandbox keeps the departments' rule (:attr:`DepartmentQuery.idempotency_key`): an identity
    number is looked up at most once per key; a repeated (key, identity number) is answered from an
    :class:`~connectors.idempotency.AnswerStore` — in memory, bounded to ``max_pairs`` pairs (and as
    many tickets), the oldest forgotten first, all of it forgotten when the process ends. A ticket
    holds its key too, so that its answer is kept under that key when it is ready; a repeated key
    gets the same ticket, or its answer once ready. :attr:`looked_up` counts the identity numbers
    looked up in the dataset, and ``query_log`` (if given) gets a line for each. A malformed key is
    refused (:class:`DepartmentRefused` naming ``idempotency_key``).

    Faults: ``unavailable`` and ``flaky`` fail a call before anyone is looked up; ``slow`` looks the
    people up (and keeps the answer) at once and answers ``delay_ms`` later — a department that is
    slow to answer, not slow to start, so that a caller who gives up or dies meanwhile has been
    looked up, and asking again with the key gets the kept answer.
    """

    def __init__(
        self,
        department: str,
        dataset: SandboxDataset,
        *,
        ticket_key: bytes | None = None,
        max_pairs: int = DEFAULT_MAX_PAIRS,
        query_log: QueryLog | None = None,
    ) -> None:
        if department not in dataset.catalogue:
            raise ValueError(f"unknown department {department!r}")
        if ticket_key is not None and len(ticket_key) < MIN_TICKET_KEY_BYTES:
            raise ValueError(f"the ticket key must be at least {MIN_TICKET_KEY_BYTES} bytes")
        self.department = department
        self._declaration = dataset.catalogue[department]
        self._records = dataset.records.get(department, ())
        self._fault = dataset.faults.get(department)
        self._delay = dataset.answer_after_seconds.get(department, 0.0)
        self._calls = 0
        self._dataset = dataset
        self._given_ticket_key = ticket_key
        self._store = AnswerStore(self._declaration, max_pairs)
        self._order = {r.record_id: index for index, r in enumerate(self._records)}
        self._query_log = query_log
        self.looked_up = 0
        """Identity numbers looked up in the dataset (not those answered from the key store)."""

    @functools.cached_property
    def _ticket_key(self) -> bytes:
        # Derived on first use: only asynchronous departments sign tickets.
        return self._given_ticket_key or dataset_ticket_key(self._dataset)

    @functools.cached_property
    def _description(self) -> ConnectorDescription:
        # Made once: the callers (the resilience layer) read it before and after every call.
        return ConnectorDescription(
            department=self.department,
            data_categories=tuple(sections_of(self._declaration)),
            max_batch_size=MAX_BATCH_SIZE,
            max_queries_per_second=50,
            asynchronous=self._delay > 0,
            shared_batches=self._delay == 0,
        )

    def describe(self) -> ConnectorDescription:
        """The department's record kinds as data categories; asynchronous when its answers are delayed."""
        return self._description

    def _fail_if_faulty(self) -> None:
        """The ``unavailable`` and ``flaky`` faults: fail the call before anyone is looked up."""
        self._calls += 1
        fault = self._fault
        if fault is None:
            return
        if fault.mode == "unavailable":
            raise DepartmentUnavailable(self.department, "department unavailable (sandbox fault)")
        if fault.mode == "flaky" and self._calls <= fault.fail_first:
            raise DepartmentUnavailable(
                self.department, f"transient failure {self._calls} of {fault.fail_first} (sandbox fault)"
            )

    async def _slow(self) -> None:
        """The ``slow`` fault: the answer, already looked up, comes ``delay_ms`` later."""
        if self._fault is not None and self._fault.mode == "slow":
            await asyncio.sleep(self._fault.delay_ms / 1000)

    def _keys(self, idempotency_key: str) -> tuple[str, ...]:
        try:
            return idempotency_keys(idempotency_key, MAX_BATCH_SIZE)
        except ValueError as exc:
            raise DepartmentRefused(self.department, f"idempotency_key: {exc}") from None

    def _answer(self, key: str, id_numbers: tuple[str, ...]) -> DepartmentAnswer:
        """The answer under ``key`` (checked): kept answers for whoever was looked up under it, else the dataset.

        Police: a household-register lookup returns the whole register (户) of each person asked
        about. A ticket of an older sandbox holds no key (``key`` empty): everyone is looked up.
        """
        keys = idempotency_keys(key) if key else ()
        fresh = self._store.missing(keys, id_numbers)
        now = dt.datetime.now(dt.UTC)
        for number in fresh:
            self.looked_up += 1
            if self._query_log is not None:
                self._query_log.looked_up(self.department, key, number, now)
        found = records_about(self._declaration, self._records, fresh) if fresh else ()
        answer = self._store.settle(self.department, keys, id_numbers, found, now)
        ordered = tuple(sorted(answer.records, key=lambda r: self._order.get(r.record_id, len(self._order))))
        return DepartmentAnswer(self.department, ordered, answer.answered_at)

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        """Answer from the dataset or the key store (after its faults), or a signed ticket when answers are delayed."""
        if not query.authorization_reference:
            raise DepartmentRefused(self.department, "no authorization reference")
        self._keys(query.idempotency_key)
        self._fail_if_faulty()
        result = self._ticket(query) if self._delay > 0 else self._answer(query.idempotency_key, query.id_numbers)
        await self._slow()
        return result

    def _ticket(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        """A new signed ticket; for a repeated key, the same ticket (or its answer once ready, or the kept answer)."""
        known = self._store.ticket_for(query.idempotency_key, query.id_numbers)
        if known is not None:
            return self._resolve(known.ticket_id)
        if not self._store.missing(idempotency_keys(query.idempotency_key), query.id_numbers):
            return self._answer(query.idempotency_key, query.id_numbers)  # all answered under the key already
        ready = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self._delay)
        ticket = Ticket(self.department, self._encode_ticket(query.id_numbers, ready, query.idempotency_key), ready)
        self._store.keep_ticket(query.idempotency_key, query.id_numbers, ticket)
        return ticket

    def _resolve(self, ticket_id: str) -> DepartmentAnswer | Ticket:
        id_numbers, ready, key = self._decode_ticket(ticket_id)
        if dt.datetime.now(dt.UTC) < ready:
            return Ticket(self.department, ticket_id, ready)
        return self._answer(key, id_numbers)

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        """A ticket's answer once it is ready (looked up once, then kept under its key); the same ticket until then."""
        self._fail_if_faulty()
        result = self._resolve(ticket.ticket_id)
        await self._slow()
        return result

    def _seal(self) -> AESGCM:
        """The AEAD that seals this sandbox's tickets (its key derived from the ticket key)."""
        return AESGCM(hmac.digest(self._ticket_key, _TICKET_SEAL_LABEL, "sha256"))

    def _encode_ticket(self, id_numbers: tuple[str, ...], ready: dt.datetime, key: str) -> str:
        """``t2.`` and base64url(nonce ‖ AES-256-GCM of the question: department, identity numbers, ready time,
        key), the department as associated data: opaque to whoever holds it, and unforgeable."""
        plain = {"department": self.department, "ids": list(id_numbers), "ready": ready.isoformat(), "key": key}
        nonce = os.urandom(12)
        sealed = self._seal().encrypt(
            nonce, json.dumps(plain, separators=(",", ":")).encode(), self.department.encode()
        )
        return _TICKET_PREFIX + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()

    def _decode_ticket(self, ticket_id: str) -> tuple[tuple[str, ...], dt.datetime, str]:
        """The question of a ticket this department sealed; anything else is an unknown ticket."""
        unknown = DepartmentRefused(self.department, "unknown ticket")
        if not ticket_id.startswith(_TICKET_PREFIX):
            raise unknown
        try:
            raw = _b64decode(ticket_id.removeprefix(_TICKET_PREFIX).encode("ascii"))
            opened = self._seal().decrypt(raw[:12], raw[12:], self.department.encode())
            plain: dict[str, Any] = json.loads(opened)
            ids, ready = plain["ids"], dt.datetime.fromisoformat(plain["ready"])
            key = plain.get("key", "")  # a ticket of an older sandbox holds no key
            if key:
                idempotency_keys(key)
        except (ValueError, KeyError, TypeError, binascii.Error, InvalidTag):
            raise unknown from None
        if plain.get("department") != self.department or not isinstance(ids, list) or ready.tzinfo is None:
            raise unknown
        return tuple(str(n) for n in ids), ready, key


def _b64decode(text: bytes) -> bytes:
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


def _record_id(entry: Mapping[str, Any]) -> str:
    return str(entry["record"]["record_id"])


def dataset_ticket_key(dataset: SandboxDataset) -> bytes:
    """The default ticket key of a sandbox: SHA-256 of the dataset's records in canonical JSON.

    Canonical: departments and records sorted, keys sorted, no whitespace — the same records give
    the same key whatever the file's layout, order, faults or answer delays.
    """
    content = {
        department: sorted(({"type": r.kind, "record": record_to_plain(r)} for r in records), key=_record_id)
        for department, records in dataset.records.items()
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(_TICKET_KEY_LABEL + canonical).digest()


def sandbox_connectors(dataset: SandboxDataset) -> dict[str, SandboxConnector]:
    """One sandbox connector per department of the dataset's catalogue."""
    return {department: SandboxConnector(department, dataset) for department in dataset.catalogue}


def connector_factory(
    department: str, options: Mapping[str, Any], *, catalogue: DepartmentCatalogue | None = None
) -> SandboxConnector:
    """Entry point ``sandbox`` (group ``hedui.connectors``): one department of a sandbox dataset.

    Options: ``dataset`` (a :class:`SandboxDataset`), or ``sandbox`` (a dataset file, read for the
    departments of ``catalogue``, default the six), or neither for the built-in demo data;
    ``ticket_key`` (text or bytes, at least 16 bytes) signs tickets instead of the key derived from
    the dataset. :func:`connectors.registry.make_connector` passes ``catalogue``.
    """
    dataset = options.get("dataset")
    if not isinstance(dataset, SandboxDataset):
        path = options.get("sandbox")
        declared = tuple((catalogue or DepartmentCatalogue()).values())
        dataset = _load_cached(str(path), declared) if path else SandboxDataset.demo()
    key = options.get("ticket_key")
    if key is not None and not isinstance(key, str | bytes):
        raise ValueError("sandbox connector: option 'ticket_key' must be text")
    return SandboxConnector(department, dataset, ticket_key=key.encode() if isinstance(key, str) else key)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, departments: tuple[Department, ...]) -> SandboxDataset:
    """A dataset file read once per process (every sandbox department reads the same file)."""
    return SandboxDataset.load(Path(path), DepartmentCatalogue(departments))
