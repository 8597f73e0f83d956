"""Benchmark of the audit log: appends with group commit, proofs at 10^6 entries, export verification.

Not a test: it prints figures, each beside a floor or a comparison measured in the same run.

1. Appends with group commit, per database: many concurrent callers append standalone audit
   events through ``audit.group.GroupCommit`` while the log integrates them every 200 ms under
   signed heads; appends/s until the last one is under a signed head. Floors: the same rows
   inserted by bare ``executemany`` in batches of the same size (the database's own insert rate),
   and one transaction per event (what group commit saves). Each timed phase starts with the
   database's log written back, and the events, like the floor's rows, are made beforehand.
2. The Merkle tree at 10^6 entries: build, inclusion and consistency proofs (time and size), each
   beside the Python library ``pymerkle`` doing the same appends and proofs, as a ratio.
3. Offline verification of a 10^6-entry export (``hedui audit verify --export``), against the
   floor of hashing the same leaves and nothing else.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/bench_audit.py [--db postgresql://...] [--appends 50000] [--entries 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, insert
from sqlalchemy.exc import DBAPIError

from audit.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from audit.events import AuditEvent, canonical_entry
from audit.group import GroupCommit
from audit.log import AuditLog
from audit.merkle import MerkleTree, leaf_hash, verify_consistency, verify_inclusion
from audit.state import FileState
from audit.tree import TransparencyLog
from audit.verify import check_export, export_entry_line, export_head_line, export_header_line
from verifier.storage.db import Database

ORIGIN = "bench.hedui.local/audit"


def _event(i: int) -> AuditEvent:
    return AuditEvent(
        kind="REPORT_READ",
        operator=f"worker-{i % 40:02d}",
        client=f"ipv4:10.0.{i % 7}.{i % 250}",
        verification=f"v{i // 7:010d}",
        details={"report_id": f"r{i // 7:010d}", "version": 1},
    )


# --- 1. appends --------------------------------------------------------------------------------------


async def _group_phase(
    db: Database, log: AuditLog, tree: TransparencyLog, events: list[AuditEvent], callers: int
) -> tuple[float, float, int, float]:
    """``events`` from ``callers`` concurrent callers through group commit, integrated every 200 ms: seconds until
    all are appended, until all are under a signed head, how many commits it took, and this process's CPU seconds.
    The events are made beforehand, as the floor's rows are: what is timed starts at the append."""
    count = len(events)
    group = GroupCommit(log, db.write)
    stop = asyncio.Event()
    async with db.sessions() as session:
        head = await tree.latest_head(session)
    target = (head.tree_size if head else 0) + count

    async def integrate_every(seconds: float) -> None:
        # Every 200 ms as the service does (audit_integrate_seconds), and at once when the last caller is done:
        # the phase ended wherever the tick was, and waiting out its sleep added 0-200 ms of idle to the figure.
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), seconds)
            await tree.integrate(db.write)

    async def caller(offset: int) -> None:
        for event in events[offset::callers]:
            await group.append(event, ())

    await _settle(db)
    integrator = asyncio.create_task(integrate_every(0.2))
    cpu, start = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller(c) for c in range(callers)))
    appended = time.perf_counter() - start
    stop.set()
    await integrator
    while await tree.integrate(db.write) is not None:
        pass
    async with db.sessions() as session:
        head = await tree.latest_head(session)
    under_head, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert head is not None and head.tree_size == target, head
    return appended, under_head, group.commits, cpu


async def _settle(db: Database) -> None:
    """Start a timed phase with the database's log written back (SQLite: the WAL checkpointed and emptied;
    PostgreSQL: a checkpoint, where the role may), so that no phase pays for the one before it: unsettled, the
    floor checkpointed most of the group phase's pages, and a round's checkpoints fell wherever the WAL crossed
    its bound."""
    async with db.engine.connect() as connection:
        if db.engine.dialect.name == "sqlite":
            await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            return
        with contextlib.suppress(DBAPIError):  # not a superuser nor pg_checkpoint: the server checkpoints at will
            await connection.exec_driver_sql("CHECKPOINT")


async def appends(url: str, count: int, callers: int, state_dir: str, repeat: int = 3) -> dict[str, Any]:
    """Group commit against its floors, each measured ``repeat`` times in turn (best of each: the machine may be
    shared, and the best run is the one least disturbed)."""
    db = Database(url)
    await db.migrate()
    log = AuditLog(b"k" * 32)
    # As the service runs it: the integrator checks every queued entry's MAC and columns (entry_mac) and keeps the
    # signer's state in a file beside its key, written before each head's transaction commits.
    state = FileState(Path(tempfile.mkdtemp(dir=state_dir)) / "signer.state")  # one per database
    tree = TransparencyLog(ORIGIN, NoteSigner.generate(ORIGIN), state=state, entry_mac=log.entry_mac)
    floor_table = Table(
        "bench_floor",
        MetaData(),
        Column("seq", Integer, primary_key=True),
        Column("kind", String(64)),
        Column("entry", LargeBinary),
    )
    async with db.engine.begin() as connection:
        await connection.run_sync(floor_table.metadata.create_all)
    now = dt.datetime.now(dt.UTC)
    events = [_event(i) for i in range(count)]
    rows = [{"kind": "REPORT_READ", "entry": canonical_entry(event, now)} for event in events]
    appended = under_head = floor = cpu = floor_cpu = float("inf")
    commits = 0
    ratios: list[float] = []
    for _ in range(repeat):
        took = await _group_phase(db, log, tree, events, callers)
        if took[1] < under_head:
            appended, under_head, commits, _ = took
        cpu = min(cpu, took[3])
        # Floor 1: the same rows by bare executemany, in batches of the size group commit reached.
        batch = max(1, count // max(1, took[2]))
        await _settle(db)
        used, start = time.process_time(), time.perf_counter()
        for b in range(0, count, batch):
            async with db.write() as session:
                await session.execute(insert(floor_table), rows[b : b + batch])
        took_floor = time.perf_counter() - start
        floor, floor_cpu = min(floor, took_floor), min(floor_cpu, time.process_time() - used)
        ratios.append(took_floor / took[1])

    # Floor 2: one transaction per event, as without group commit (a sample, extrapolated).
    sample = min(2000, count)
    start = time.perf_counter()
    for i in range(sample):
        async with db.write() as session:
            await log.append(session, _event(i))
    single = (time.perf_counter() - start) / sample
    await db.close()
    return {
        "appends_per_s": count / under_head,
        "appended_per_s": count / appended,
        "commits": commits,
        "batch": max(1, count // max(1, commits)),
        "floor_insert_per_s": count / floor,
        "single_tx_per_s": 1 / single,
        "cpu_us": cpu / count * 1e6,
        "floor_cpu_us": floor_cpu / count * 1e6,
        "ratios": ratios,
    }


# --- 2. the tree at 10^6 -----------------------------------------------------------------------------


def _timed(work: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    start = time.perf_counter()
    result = None
    for _ in range(repeat):
        result = work()
    return (time.perf_counter() - start) / repeat, result


def tree_figures(entries: list[bytes], proofs: int) -> dict[str, float]:
    n = len(entries)
    rng = random.Random(7)
    indices = [rng.randrange(n) for _ in range(proofs)]
    firsts = [rng.randrange(1, n) for _ in range(proofs)]

    tree = MerkleTree()
    build, _ = _timed(lambda: tree.extend(leaf_hash(e) for e in entries))
    root = tree.root()
    start = time.perf_counter()
    inclusion = [tree.inclusion_proof(i, n) for i in indices]
    t_inclusion = (time.perf_counter() - start) / proofs
    start = time.perf_counter()
    consistency = [tree.consistency_proof(m, n) for m in firsts]
    t_consistency = (time.perf_counter() - start) / proofs
    start = time.perf_counter()
    for i, proof in zip(indices, inclusion, strict=True):
        verify_inclusion(tree.leaf(i), i, n, proof, root)
    t_verify = (time.perf_counter() - start) / proofs
    for m, proof in zip(firsts[:50], consistency[:50], strict=True):
        verify_consistency(m, n, tree.root(m), root, proof)
    figures = {
        "build_s": build,
        "inclusion_ms": t_inclusion * 1e3,
        "inclusion_bytes": statistics.mean(32 * len(p) for p in inclusion),
        "consistency_ms": t_consistency * 1e3,
        "consistency_bytes": statistics.mean(32 * len(p) for p in consistency),
        "verify_inclusion_ms": t_verify * 1e3,
    }
    try:
        import pymerkle
    except ImportError:
        print("pymerkle not installed (pip install -e '.[bench]'): no side-by-side figures", file=sys.stderr)
        return figures
    other = pymerkle.InmemoryTree(algorithm="sha256")
    start = time.perf_counter()
    for e in entries:
        other.append_entry(e)
    figures["pymerkle_build_s"] = time.perf_counter() - start
    some = indices[: max(1, proofs // 10)]
    start = time.perf_counter()
    pm_inclusion = [other.prove_inclusion(i + 1) for i in some]  # pymerkle counts leaves from 1
    figures["pymerkle_inclusion_ms"] = (time.perf_counter() - start) / len(some) * 1e3
    figures["pymerkle_inclusion_bytes"] = statistics.mean(32 * len(p.serialize()["path"]) for p in pm_inclusion)
    start = time.perf_counter()
    pm_consistency = [other.prove_consistency(m, n) for m in firsts[: len(some)]]
    figures["pymerkle_consistency_ms"] = (time.perf_counter() - start) / len(some) * 1e3
    figures["pymerkle_consistency_bytes"] = statistics.mean(32 * len(p.serialize()["path"]) for p in pm_consistency)
    return figures


# --- 3. export verification ---------------------------------------------------------------------------


def export_figures(entries: list[bytes], head_every: int, repeat: int = 3) -> dict[str, float]:
    """The export check against its floor, measured ``repeat`` times in turn (best of each, as for appends: on a
    shared machine one run of either may be slowed several times by others)."""
    signer = NoteSigner.generate(ORIGIN)
    tree = MerkleTree()
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as handle:
        path = Path(handle.name)
        handle.write(export_header_line(ORIGIN, signer.verifier_key(), len(entries)))
        for i, entry in enumerate(entries):
            handle.write(export_entry_line(i, entry))
            tree.append(leaf_hash(entry))
            if (i + 1) % head_every == 0 or i + 1 == len(entries):
                note = sign_checkpoint(Checkpoint(ORIGIN, tree.size, tree.root()), signer)
                handle.write(export_head_line(tree.size, note))
    verify = floor = cpu = float("inf")
    try:
        size = path.stat().st_size
        for _ in range(repeat):
            before, start = _cpu(), time.perf_counter()
            with path.open("rb") as lines:
                result = check_export(lines, signer.verifier())
            verify = min(verify, time.perf_counter() - start)
            cpu = min(cpu, _cpu() - before)
            assert result.intact and result.entries == len(entries), result
            start = time.perf_counter()
            for entry in entries:
                hashlib.sha256(b"\x00" + entry).digest()
            floor = min(floor, time.perf_counter() - start)
    finally:
        os.unlink(path)
    return {"verify_s": verify, "verify_cpu_s": cpu, "hash_floor_s": floor, "bytes": size, "heads": result.heads}


def _cpu() -> float:
    """CPU seconds of this process and of its children waited for (the export check's scanning processes)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", action="append", help="database URL (repeatable; default: SQLite in a temp dir)")
    parser.add_argument("--appends", type=int, default=50_000)
    parser.add_argument("--callers", type=int, default=1_000)
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of appends and of export checks (best of each, floors alike)"
    )
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=1_000)
    parser.add_argument("--skip-appends", action="store_true", help="the same as --part tree --part export")
    parser.add_argument(
        "--part",
        action="append",
        choices=("appends", "tree", "export"),
        help="run only this part (repeatable; default: all three)",
    )
    args = parser.parse_args()
    print(
        f"hedui audit bench · {platform.processor() or platform.machine()} · {os.cpu_count()} cores · "
        f"Python {platform.python_version()} · {dt.date.today()}"
    )

    default = ("tree", "export") if args.skip_appends else ("appends", "tree", "export")
    parts = set(args.part or default)
    if "appends" in parts:
        with tempfile.TemporaryDirectory() as tmp:
            for url in args.db or [f"sqlite:///{tmp}/bench.db"]:
                f = asyncio.run(appends(url, args.appends, args.callers, tmp, args.repeat))
                name = url.split(":", 1)[0]
                print(
                    f"\n[appends · {name}] {args.appends} events from {args.callers} concurrent callers "
                    f"(best of {args.repeat} rounds, the floor too)"
                )
                print(
                    f"  group commit, until under a signed head: {f['appends_per_s']:>9,.0f} appends/s "
                    f"({f['commits']:.0f} commits, ≈{f['batch']:.0f} events each)"
                )
                print(
                    f"  floor: bare executemany of the same rows:  {f['floor_insert_per_s']:>9,.0f} rows/s "
                    f"→ ratio {f['appends_per_s'] / f['floor_insert_per_s']:.2f}"
                )
                print(
                    f"  each round's ratio (its floor right after it): "
                    f"{' '.join(f'{r:.2f}' for r in f['ratios'])}; CPU of this process {f['cpu_us']:.1f} µs an "
                    f"append, {f['floor_cpu_us']:.1f} µs a floor row (least of the rounds)"
                )
                print(
                    f"  one transaction per event:                {f['single_tx_per_s']:>9,.0f} appends/s "
                    f"→ group commit is ×{f['appends_per_s'] / f['single_tx_per_s']:.1f}"
                )

    if not parts & {"tree", "export"}:
        return 0
    entries = [canonical_entry(_event(i), dt.datetime(2026, 11, 23, tzinfo=dt.UTC)) for i in range(args.entries)]
    if "tree" in parts:
        _print_tree(args.entries, tree_figures(entries, args.proofs))
    if "export" in parts:
        _print_export(args.entries, export_figures(entries, head_every=1000, repeat=args.repeat))
    return 0


def _print_tree(count: int, t: dict[str, float]) -> None:
    print(f"\n[tree · {count:,} entries]")
    print(f"  build: {t['build_s']:.2f} s")
    print(
        f"  inclusion proof: {t['inclusion_ms']:.3f} ms, {t['inclusion_bytes']:.0f} B; "
        f"verify {t['verify_inclusion_ms']:.3f} ms"
    )
    print(f"  consistency proof: {t['consistency_ms']:.3f} ms, {t['consistency_bytes']:.0f} B")
    if "pymerkle_build_s" in t:
        print(
            f"  pymerkle build: {t['pymerkle_build_s']:.2f} s "
            f"→ hedui ÷ pymerkle {t['build_s'] / t['pymerkle_build_s']:.2f}"
        )
        print(
            f"  pymerkle inclusion: {t['pymerkle_inclusion_ms']:.3f} ms, {t['pymerkle_inclusion_bytes']:.0f} B "
            f"→ ratio {t['inclusion_ms'] / t['pymerkle_inclusion_ms']:.2f}"
        )
        print(
            f"  pymerkle consistency: {t['pymerkle_consistency_ms']:.3f} ms, {t['pymerkle_consistency_bytes']:.0f} B "
            f"→ ratio {t['consistency_ms'] / t['pymerkle_consistency_ms']:.2f}"
        )


def _print_export(count: int, e: dict[str, float]) -> None:
    print(f"\n[export verification · {count:,} entries, {e['heads']:.0f} signed heads, {e['bytes'] / 1e6:.0f} MB]")
    print(
        f"  hedui audit verify --export: {e['verify_s']:.1f} s (aim < 30 s), "
        f"CPU {e['verify_cpu_s'] / count * 1e6:.2f} µs an entry (all processes)"
    )
    print(
        f"  floor: hashing the leaves alone: {e['hash_floor_s']:.2f} s → ratio {e['verify_s'] / e['hash_floor_s']:.1f}"
    )


if __name__ == "__main__":
    sys.exit(main())
