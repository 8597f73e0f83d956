"""The operator's port: /metrics after a verification, /healthz, /readyz and gRPC health following the database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from harness import PG_BIN, Harness, example_request, running_service
from harness import example_sandbox as sandbox
from own_cluster import OwnCluster, own_cluster
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from hedui.v1 import verification_pb2
from verifier.observability import OperatorEndpoint, refresh_scraped
from verifier.observability._health import revisions
from verifier.request import parse_request

pytestmark = pytest.mark.integration
Series = dict[tuple[str, frozenset[tuple[str, str]]], float]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _get(url: str, method: str = "GET") -> tuple[int, str, str]:
    """Status, content type and body of one HTTP request (an error status is an answer too)."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


async def get(port: int, path: str, method: str = "GET") -> tuple[int, str, str]:
    """:func:`_get` off the event loop."""
    return await asyncio.to_thread(_get, f"http://127.0.0.1:{port}{path}", method)


async def scrape(port: int) -> Series:
    """Every sample of /metrics: (name, labels) → value."""
    status, _, body = await get(port, "/metrics")
    assert status == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(series: Series, name: str, **labels: str) -> float:
    """One sample's value (0 when absent)."""
    return series.get((name, frozenset(labels.items())), 0.0)


@contextlib.asynccontextmanager
async def endpoint(h: Harness) -> AsyncIterator[int]:
    """The service's operator endpoint on a free port."""
    served = OperatorEndpoint(h.service.readiness, lambda: refresh_scraped(h.service.db, h.service.log))
    port = await served.start("127.0.0.1:0")
    try:
        yield port
    finally:
        await served.close()


def rpc(service: str, method: str, code: str = "") -> dict[str, str]:
    """The go-grpc-prometheus labels of a unary method (and a code)."""
    labels = {"grpc_type": "unary", "grpc_service": service, "grpc_method": method}
    return {**labels, "grpc_code": code} if code else labels


VERIFY = "hedui.v1.VerificationService"


async def test_metrics_after_a_verification(harness: Harness) -> None:
    async with endpoint(harness) as port:
        request = example_request()
        authorization = await harness.register(harness.envelope(parse_request(request)))
        before = await scrape(port)
        harness.metadata = (*harness.metadata, ("x-request-id", "case-7f3a"))
        created = await harness.create(request, [authorization.name])
        await harness.settle(created.name)
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await harness.verifications.GetVerification(
                verification_pb2.GetVerificationRequest(name="verifications/none"), metadata=harness.metadata
            )
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        assert ("x-request-id", "case-7f3a") in tuple(missing.value.trailing_metadata() or ())
        async with asyncio.timeout(30):  # the integrator puts every entry under a signed head
            while value(after := await scrape(port), "hedui_audit_integration_lag_entries") != 0:  # noqa: ASYNC110
                await asyncio.sleep(0.1)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    create = rpc(VERIFY, "CreateVerification")
    assert grew("grpc_server_started_total", **create) == 1
    assert grew("grpc_server_handled_total", **rpc(VERIFY, "CreateVerification", "OK")) == 1
    assert grew("grpc_server_handling_seconds_count", **create) == 1
    assert grew("grpc_server_handled_total", **rpc(VERIFY, "GetVerification", "NOT_FOUND")) == 1
    assert ("grpc_server_handled_total", frozenset(rpc(VERIFY, "GetReport", "INTERNAL").items())) in after  # at 0
    watch = {"grpc_type": "server_stream", "grpc_service": VERIFY, "grpc_method": "WatchVerification"}
    assert grew("grpc_server_handled_total", **watch, grpc_code="OK") == 1
    # This database holds this test's verification alone, finished.
    assert value(after, "hedui_verifications", state="COMPLETED") == 1
    assert value(after, "hedui_verifications", state="RUNNING") == 0
    # VERIFICATION_CREATED, 6 CONSENT_DECISION, 6 DEPARTMENT_QUERY_SENT, 6 DEPARTMENT_ANSWER_RECEIVED, REPORT_CREATED.
    assert grew("hedui_audit_log_entries") == 20
    assert value(after, "hedui_audit_tree_size") == value(after, "hedui_audit_log_entries")
    assert value(after, "hedui_audit_integration_lag_seconds") == 0
    for stage in ("record", "store", "publish"):
        assert grew("hedui_verification_stage_seconds_count", stage=stage) >= 1, stage
    assert grew("hedui_department_queries_total", department="tax") == 1
    assert value(after, "hedui_database_pool_limit_connections") in (30, 0)  # 10 + 20; in-memory SQLite: none
    assert ("hedui_database_pool_connections", frozenset({("state", "in_use")})) in after
    assert value(after, "hedui_scrape_database_up") == 1
    assert value(after, "hedui_ready") == 1
    # The tax department's health (Sahamati's rule): exactly one of the three statuses holds.
    statuses = [value(after, "hedui_department_health", department="tax", status=s) for s in ("GOOD", "BAD", "UNKNOWN")]
    assert sorted(statuses) == [0, 0, 1]


async def test_health_paths_and_nothing_else(harness: Harness) -> None:
    async with endpoint(harness) as port:
        assert (await get(port, "/healthz"))[0] == 200
        status, _, body = await get(port, "/readyz")
        assert (status, body) == (200, "database: ok\nmigrations: ok\naudit_log: ok\n")
        assert (await get(port, "/"))[0] == 404
        assert (await get(port, "/metrics/extra"))[0] == 404
        assert (await get(port, "/metrics", "POST"))[0] == 405
        status, content_type, _ = await get(port, "/metrics", "HEAD")
        assert status == 200 and content_type.startswith("text/plain")


async def health(h: Harness) -> Any:
    """gRPC health of the whole server."""
    reply = await health_pb2_grpc.HealthStub(h.channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    return reply.status


async def until(h: Harness, port: int, ready: bool, deadline: float = 60) -> str:
    """Wait until /readyz and gRPC health both say ``ready``; returns /readyz's body."""
    async with asyncio.timeout(deadline):
        while True:
            status, _, body = await get(port, "/readyz")
            if (status == 200) == ready and (await health(h) == SERVING) == ready:
                return body
            await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_sqlite_locked_by_another_process_is_unready_then_ready(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/hedui.db"
    async with running_service(url, sandbox()) as h, endpoint(h) as port:
        h.service.readiness.interval = 0.2
        await until(h, port, ready=True)
        other = sqlite3.connect(tmp_path / "hedui.db", isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock: nothing can be appended
        try:
            body = await until(h, port, ready=False)
            assert "database" in body or "audit_log" in body
        finally:
            other.execute("ROLLBACK")
            other.close()
        await until(h, port, ready=True)


async def test_a_schema_behind_the_code_is_unready_and_one_ahead_is_not(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/hedui.db"
    async with running_service(url, sandbox()) as h, endpoint(h) as port:
        h.service.readiness.interval = 0.1
        await until(h, port, ready=True)

        async def stored(revision: str) -> None:
            async with h.service.db.write() as session:
                await session.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})

        head, known = revisions()
        assert "0003" in known and head != "0003"
        await stored("0003")  # a migration of this code not applied: behind
        try:
            body = await until(h, port, ready=False)
            assert f"migrations: schema at 0003, this code needs {head}: hedui db migrate" in body
            await stored("9999")  # the next version's migration ran first (an upgrade under way): still ready
            assert "migrations: ok" in await until(h, port, ready=True)
        finally:
            await stored(head)
        await until(h, port, ready=True)


@pytest.mark.postgres
@pytest.mark.slow
async def test_postgresql_stopped_or_read_only_is_unready_then_ready() -> None:
    with own_cluster() as cluster:
        url = cluster.cluster.create_database()
        async with running_service(url, sandbox()) as h, endpoint(h) as port:
            h.service.readiness.interval = 0.2
            await until(h, port, ready=True)
            cluster.stop()
            try:
                assert "database: " in await until(h, port, ready=False)
            finally:
                cluster.start()
            await until(h, port, ready=True)
            psql(cluster, "ALTER SYSTEM SET default_transaction_read_only = on")  # every transaction read-only
            try:
                assert "audit_log: the database is read-only" in await until(h, port, ready=False)
            finally:
                psql(cluster, "ALTER SYSTEM RESET default_transaction_read_only")
            await until(h, port, ready=True)


def psql(cluster: OwnCluster, statement: str) -> None:
    """Run one statement as the cluster's superuser (in read-write mode whatever the default), then reload."""
    for sql in (statement, "SELECT pg_reload_conf()"):
        subprocess.run(
            [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "-c", sql],
            env={**os.environ, "PGOPTIONS": "-c default_transaction_read_only=off"},
            check=True,
            capture_output=True,
        )


async def test_readyz_is_unready_while_the_audit_logs_writes_are_stopped(tmp_path: Path) -> None:
    """A replica whose audit log stopped writes refuses every write: /readyz says so (503, the reason) and the
    hedui_ready gauge is 0, so a balancer sends writes elsewhere; both recover when the log does."""
    url = f"sqlite:///{tmp_path}/hedui.db"
    async with running_service(url, sandbox()) as h, endpoint(h) as port:
        h.service.readiness.interval = 0.1
        await until(h, port, ready=True)
        h.service.audit.gate.close("the stored log disagrees with the signer's state")
        try:
            status, _, body = await get(port, "/readyz")
            assert status == 503
            assert "audit_writes: stopped: the stored log disagrees with the signer's state" in body
            await h.service.readiness.probe()
            assert REGISTRY.get_sample_value("hedui_ready") == 0
        finally:
            h.service.audit.gate.reopen()
        # Ready again once a probe finds the database writable (on a loaded machine one may time out first).
        body = await until(h, port, ready=True)
        assert "audit_writes" not in body
        for _ in range(100):
            if (await h.service.readiness.probe()).ready:
                break
        assert REGISTRY.get_sample_value("hedui_ready") == 1
