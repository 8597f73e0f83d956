"""Crash drill by hand (not a test): issue 11's scenario with larger numbers, printing the counts.

``hedui serve`` replicas on one database, the six departments as ``hedui connector serve`` processes slowed
by ``--delay`` seconds and writing query logs; ``--count`` verifications (each of its own household) are
created through the replicas, the first replica is SIGKILLed as soon as a department has looked someone
up, and (``--restart``) started again or (by default, with two or more replicas) left dead. The drill then
waits for every verification and prints what tests/verifier/test_durable.py asserts: verifications lost,
duplicate look-ups by (key, subject) in the departments' query logs, ``DEPARTMENT_QUERY_SENT`` per key,
reports per verification, and ``hedui audit verify``. The machinery is tests/support/replicas.py.

    .venv/bin/python bench/crash_drill.py [--count 1000] [--replicas 2] [--db postgresql://...] [--restart]
        [--delay 1.0] [--lease 3] [--wait 300] [--without-query-log] [--without-work-settings]

Without ``--db``, a new SQLite database in a temporary directory (then one replica, killed and restarted,
is the meaningful drill). For a hedui without issue 11's options: ``--without-query-log`` (the
departments keep no query log; the audit log's counts only) and ``--without-work-settings`` (no
``work_*`` keys in the config). Exit 0 when no problem was found, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))

from replicas import CrashDrill, Replica, department_servers  # noqa: E402


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="verifications to create (default 1000)")
    parser.add_argument("--replicas", type=int, default=2, help="hedui serve processes (default 2)")
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    parser.add_argument("--restart", action="store_true", help="start the killed replica again")
    parser.add_argument("--delay", type=float, default=1.0, help="seconds each department takes (default 1.0)")
    parser.add_argument("--lease", type=float, default=3.0, help="work_lease_seconds (default 3)")
    parser.add_argument("--claim", type=float, default=0.2, help="work_claim_interval_seconds (default 0.2)")
    parser.add_argument("--wait", type=float, default=300.0, help="seconds to wait for every verification")
    parser.add_argument("--concurrency", type=int, default=48, help="calls in flight while submitting")
    parser.add_argument("--without-query-log", action="store_true", help="departments without --query-log")
    parser.add_argument("--without-work-settings", action="store_true", help="no work_* keys in the config")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (printed)")
    return parser.parse_args()


async def _drill(args: argparse.Namespace, directory: Path) -> int:
    started = time.monotonic()

    def say(what: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {what}", flush=True)

    settings: dict[str, object] = (
        {}
        if args.without_work_settings
        else {"work_lease_seconds": args.lease, "work_claim_interval_seconds": args.claim}
    )
    url = args.db or f"sqlite:///{directory / 'hedui.db'}"
    with department_servers(
        directory / "departments",
        delay_seconds=args.delay,
        households=args.count,
        query_logs=not args.without_query_log,
    ) as d:
        say(f"six departments serving, each answering after {args.delay} s")
        async with CrashDrill(directory / "drill", url, d, settings) as drill:
            replicas: list[Replica] = [await drill.start(f"replica-{i}") for i in range(max(1, args.replicas))]
            say(f"{len(replicas)} hedui serve on {url.split('@')[-1]}")
            await drill.submit(args.count, via=replicas, concurrency=args.concurrency)
            say(f"{args.count} verifications created")
            unfinished = await drill.kill_when_in_flight(replicas[0])
            say(f"SIGKILL {replicas[0].name}: {unfinished} verifications unfinished")
            if args.restart or len(replicas) == 1:
                replicas.append(await drill.start("restarted"))
                say("restarted")
            took = await drill.wait_until_done(args.wait)
            say(f"waited {took:.1f} s for the verifications")
            findings = await drill.findings(replicas[-1])
    say("done")
    print(findings.summary())
    return 1 if findings.problems() else 0


def main() -> int:
    """Run the drill once; the exit code says whether a problem was found."""
    args = _arguments()
    directory = Path(tempfile.mkdtemp(prefix="hedui-crash-drill-"))
    try:
        return asyncio.run(_drill(args, directory))
    finally:
        if args.keep:
            print(f"kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
