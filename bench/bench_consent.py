"""Benchmark of authorization checks, against the floor of one bare signature verification.

Not a test: it prints figures, each beside its floor measured in the same run.

- floor: one bare ``cryptography`` verification of a DSSE PAE (Ed25519, and ECDSA P-256), nothing else;
- full consent check: what RegisterAuthorization runs before it stores anything
  (``consent.check.check_authorization``: payload type, trust-store look-up, key validity at the signing
  time, the signature, the payload's JSON, every identity number's check character, the window) and the
  consent decision for a 3-member household at 6 departments (``consent.decide``) — for an
  organisation-signed envelope, and for one a member signed with a certified key (two verifications:
  the certificate's and the member's);
- the re-check at send time: loading a stored authorization (its signatures checked again against the
  trust store, cached while nothing changed) and deciding, as the fan-out does before every query and poll;
- registrations through the service (``HeduiService.register_authorization``: the check, the database
  transaction with its audit event) on SQLite in a temporary directory, or ``--db``.

    .venv/bin/python bench/bench_consent.py [--seconds 2] [--db postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from connectors.departments import DepartmentCatalogue
from consent import (
    AUTHORIZATION_PAYLOAD_TYPE,
    MEMBER_KEY_PAYLOAD_TYPE,
    AuthorizedMember,
    Envelope,
    RegisteredAuthorization,
    SigningKey,
    TrustedKey,
    authorization_payload,
    check_authorization,
    china_today,
    decide,
    member_key_certificate,
    registered_authorization,
    sign_envelope,
)
from consent.envelope import pae

SIX = tuple(DepartmentCatalogue())  # the departments hedui ships

ORG = "533401-civil-affairs"
MEMBERS = [
    AuthorizedMember("533401197803120118", "张建国"),
    AuthorizedMember("53340119800605022X", "李秀英"),
    AuthorizedMember("533401200809110310", "张小明"),
]
DEPARTMENTS = ("police", "housing", "tax", "vehicles", "banks", "social_security")


def rates(works: dict[str, Callable[[], object]], seconds: float, rounds: int = 5) -> dict[str, float]:
    """Calls per second of each work: the best of ``rounds`` short runs, interleaved so that every figure
    and its floor see the same machine (other load drifts; interleaving keeps ratios honest)."""
    best = dict.fromkeys(works, 0.0)
    slot = seconds / rounds
    for _ in range(rounds):
        for name, work in works.items():
            calls, started = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - started) < slot:
                for _ in range(25):
                    work()
                calls += 25
            best[name] = max(best[name], calls / elapsed)
    return best


def payload(today: dt.date, serial: int = 0) -> bytes:
    return authorization_payload(
        commissioned_by=ORG,
        purpose="ASSESSMENT",
        members=MEMBERS,
        valid_from=today,
        valid_until=today + dt.timedelta(days=90),
        evidence={"kind": "paper_form", "sha256": f"{serial:064x}"},
    )


def bare(key: SigningKey, message: bytes) -> Callable[[], object]:
    public, sig = key.public_key, key.sign(message)
    if isinstance(public, ed25519.Ed25519PublicKey):
        return lambda: public.verify(sig, message)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return lambda: public.verify(sig, message, ec.ECDSA(hashes.SHA256()))


def each(works: list[Callable[[], object]]) -> Callable[[], object]:
    return lambda: [work() for work in works]


def full_check(
    envelope: Envelope, certificates: tuple[Envelope, ...], trust: dict[str, TrustedKey], today: dt.date
) -> Callable[[], object]:
    """The check RegisterAuthorization runs, then the first consent decision over it."""
    members = [m.id_number for m in MEMBERS]

    def work() -> object:
        at = dt.datetime.now(dt.UTC)
        checked = check_authorization(envelope, certificates, trust, at, today, declared=SIX)
        signed_by = tuple(s.keyid for s in checked.signers)
        auth = RegisteredAuthorization("a", checked.payload, signed_by, at, signers=checked.signers)
        return decide(members, DEPARTMENTS, [auth], ORG, today, "ASSESSMENT")

    return work


def recheck(
    envelope: Envelope, certificates: tuple[Envelope, ...], trust: dict[str, TrustedKey], today: dt.date
) -> Callable[[], object]:
    """What the fan-out does before each query and poll: load the stored authorization (signatures checked
    again against the trust store; cached while neither changed) and decide."""
    members = [m.id_number for m in MEMBERS]
    registered_at = dt.datetime.now(dt.UTC)

    def work() -> object:
        stored = registered_authorization("a", envelope, certificates, trust, registered_at)
        return decide(members, DEPARTMENTS, [stored], ORG, today, "ASSESSMENT")

    return work


async def registrations(url: str, count: int, key: SigningKey) -> float:
    from verifier.config import Settings
    from verifier.service import HeduiService
    from verifier.storage.db import Database

    service = HeduiService(Database(url), {}, Settings(database_url=url))
    await service.start()
    try:
        await service.trust_store.add(ORG, key.public_pem(), not_before=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
        today = china_today()
        envelopes = [sign_envelope(payload(today, i + 1), AUTHORIZATION_PAYLOAD_TYPE, (key,)) for i in range(count)]
        started = time.perf_counter()
        for envelope in envelopes:
            await service.authorizations.register(envelope)
        return count / (time.perf_counter() - started)
    finally:
        await service.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per figure")
    parser.add_argument("--registrations", type=int, default=1000)
    parser.add_argument("--db", help="database for the registrations (default: SQLite in a temporary directory)")
    parser.add_argument("--cpu", type=int, help="pin to this core")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    ed_floor = 0.0
    print(f"hedui consent benchmark · Python {platform.python_version()} · {os.cpu_count()} cores · {sys.platform}")

    today = china_today()
    now = dt.datetime.now(dt.UTC)
    ed, p256, phone = SigningKey.generate_ed25519(), SigningKey.generate_p256(), SigningKey.generate_p256()
    trust = {k.keyid: TrustedKey(k.keyid, ORG, k.public_pem(), now - dt.timedelta(days=1)) for k in (ed, p256)}
    body = payload(today)
    message = pae(AUTHORIZATION_PAYLOAD_TYPE, body)
    certificate = sign_envelope(
        member_key_certificate(
            organisation=ORG,
            id_number=MEMBERS[0].id_number,
            name=MEMBERS[0].name,
            public_key_pem=phone.public_pem(),
            not_before=now - dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=300),
        ),
        MEMBER_KEY_PAYLOAD_TYPE,
        (ed,),
    )

    print(
        f"\n[authorization checks · {len(body)}-byte payload, {len(MEMBERS)} members, {len(DEPARTMENTS)} departments]"
    )
    for name, key, certificates, floor_keys in (
        ("organisation, Ed25519", ed, (), (ed,)),
        ("organisation, ECDSA P-256", p256, (), (p256,)),
        ("member key (P-256) certified by Ed25519", phone, (certificate,), (ed, phone)),
    ):
        envelope = sign_envelope(body, AUTHORIZATION_PAYLOAD_TYPE, (key,))
        floors = [bare(k, message) for k in floor_keys]
        measured = rates(
            {
                "floor": each(floors),
                "check": full_check(envelope, certificates, trust, today),
                "recheck": recheck(envelope, certificates, trust, today),
            },
            args.seconds * 3,
        )
        floor, checks = measured["floor"], measured["check"]
        plural = "s (the certificate's, the member's)" if len(floor_keys) > 1 else ""
        print(f"  {name}:")
        print(f"    floor, bare cryptography verification{plural}: {floor:,.0f}/s")
        print(f"    full consent check (check + decide): {checks:,.0f}/s — {floor / checks:.2f}× the floor's time")
        print(f"    re-check at send time (cached signatures + decide): {measured['recheck']:,.0f}/s")
        if key is ed:
            ed_floor = floor

    print(f"\n[registrations through the service · {args.registrations} envelopes, one at a time]")
    with tempfile.TemporaryDirectory(prefix="hedui-bench-") as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'hedui.db'}"
        per_second = asyncio.run(registrations(url, args.registrations, ed))
    name = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(
        f"  RegisterAuthorization in-process ({name}): {per_second:,.0f}/s — "
        f"{ed_floor / per_second:.1f}× the time of one bare Ed25519 verification"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
