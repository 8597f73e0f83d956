"""Benchmark of batching and rate limits: many concurrent verifications against one strict department.

Not a test: it prints figures. 2,000 verifications at once each ask one department about their
household (3 identity numbers) through hedui's department layer — ``SharedBatches`` over
``ResilientConnector``, exactly as the service wraps every connector. The department says it takes
100 numbers a call, 50 calls a second and 500 identity numbers a second, and records when each call
arrives. Figures: the time to answer everybody against the floor the limit allows (numbers ÷ 500/s),
and the most identity numbers the department saw in any one-second window (must not exceed 500).
A second run without shared batches shows what batching buys.

This measures the layer that sends department queries, not the whole service (whose own throughput,
≈60 verifications/s, is measured by bench_spine.py and would hide the department's limit).

    .venv/bin/python bench/bench_connectors.py [--verifications 2000] [--limit 500]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import datetime as dt
import sys
import time

from connectors.base import ConnectorDescription, DepartmentAnswer, DepartmentQuery, Ticket
from connectors.departments import DepartmentCatalogue
from connectors.records import TaxIncomeRecord
from connectors.resilience import ResilientConnector, SharedBatches

HOUSEHOLD = 3


class StrictDepartment:
    """Answers in 20 ms; counts identity numbers by arrival time."""

    def __init__(self, limit: int, shared: bool) -> None:
        self.limit = limit
        self.shared = shared
        self.arrivals: list[tuple[float, int]] = []

    def describe(self) -> ConnectorDescription:
        return ConnectorDescription(
            "tax",
            ("income",),
            max_batch_size=100,
            max_queries_per_second=50,
            max_identities_per_second=self.limit,
            max_concurrent_queries=16,
            shared_batches=self.shared,
        )

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        self.arrivals.append((time.monotonic(), len(query.id_numbers)))
        await asyncio.sleep(0.02)
        records = tuple(
            TaxIncomeRecord(record_id=f"T{n}", id_number=n, period="2026-01", category="wages", amount_fen=100)
            for n in query.id_numbers
        )
        return DepartmentAnswer("tax", records, dt.datetime.now(dt.UTC))

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        raise NotImplementedError

    def busiest_second(self) -> int:
        times = [t for t, _ in self.arrivals]
        counts = [n for _, n in self.arrivals]
        most = 0
        for i, start in enumerate(times):
            end = bisect.bisect_left(times, start + 1.0)
            most = max(most, sum(counts[i:end]))
        return most


def _id(i: int) -> str:
    base = f"5334011980{i:07d}"[:17]
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return base + "10X98765432"[sum(int(c) * w for c, w in zip(base, weights, strict=True)) % 11]


async def run(verifications: int, limit: int, shared: bool) -> tuple[float, int, int, StrictDepartment]:
    department = StrictDepartment(limit, shared)
    layer = SharedBatches(ResilientConnector(department), DepartmentCatalogue()["tax"])

    async def verification(v: int) -> None:
        ids = tuple(_id(v * HOUSEHOLD + k) for k in range(HOUSEHOLD))
        answer = await layer.query(DepartmentQuery(f"q{v}", ids, f"authorizations/a{v}", "ASSESSMENT", f"v{v}.tax.1"))
        assert isinstance(answer, DepartmentAnswer) and {r.subject for r in answer.records} == set(ids)

    started = time.monotonic()
    await asyncio.gather(*(verification(v) for v in range(verifications)))
    return time.monotonic() - started, len(department.arrivals), department.busiest_second(), department


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verifications", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=500, help="identity numbers per second the department takes")
    args = parser.parse_args()
    numbers = args.verifications * HOUSEHOLD
    floor = numbers / args.limit
    print(
        f"{args.verifications} concurrent verifications × {HOUSEHOLD} identity numbers = {numbers} numbers; "
        f"department: {args.limit} numbers/s, 50 calls/s, 100 numbers a call"
    )
    for shared in (True, False):
        elapsed, calls, busiest, _ = asyncio.run(run(args.verifications, args.limit, shared))
        label = "shared batches" if shared else "one call per verification"
        print(f"\n[{label}]")
        print(f"  all answered in {elapsed:.2f} s; floor the limit allows {floor:.2f} s → ratio {elapsed / floor:.3f}")
        print(f"  department calls: {calls}; most identity numbers in any one second: {busiest} (limit {args.limit})")
        if busiest > args.limit:
            print("  LIMIT EXCEEDED", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
