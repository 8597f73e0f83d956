"""The operator's HTTP port (``metrics_listen``): ``/metrics`` for Prometheus, ``/healthz`` and ``/readyz``.

A small HTTP/1.1 server on the service's own event loop (asyncio streams): it answers GET and HEAD on those
three paths, 404 on any other, 405 to other methods, and closes each connection after its answer.
``/healthz`` is 200 while the process runs its loop; ``/readyz`` is 200 or 503 with the latest readiness
checks, one per line; ``/metrics`` reads the scraped series first, then exposes the process's registry in the
format the scraper asks for (Prometheus text or OpenMetrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder

from verifier.observability._health import Check, Readiness

__all__ = ["OperatorEndpoint", "TilesEndpoint"]

log = logging.getLogger("hedui.http")
_MAX_HEAD: Final = 8192
_REASONS: Final = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Unavailable"}


def _line(check: Check) -> str:
    """``name: ok``, ``name: ok; note`` or ``name: why not``."""
    if not check.ok:
        return f"{check.name}: {check.detail}"
    return f"{check.name}: ok" + (f"; {check.detail}" if check.detail else "")


Reply = tuple[int, str, bytes, bool] | tuple[int, str, bytes, bool, tuple[str, ...]]
"""Status, content type, body, whether only the head is sent, and (optionally) more header lines."""


class _Endpoint:
    """One small HTTP/1.1 server on the event loop: one request per connection, answered by :meth:`_respond`.

    It runs in the service's own process, beside gRPC and the database: at most :attr:`max_connections` at
    once (more are closed at once), each given :attr:`read_seconds` to send its request head."""

    max_connections = 128
    read_seconds = 2.0
    write_seconds = 10.0

    def __init__(self) -> None:
        """Not listening until :meth:`start`."""
        self._server: asyncio.Server | None = None
        self._open = 0

    async def start(self, address: str) -> int:
        """Listen on ``HOST:PORT`` (port 0: any free one); returns the port."""
        host, _, port = address.rpartition(":")
        self._server = await asyncio.start_server(self._answer, host or "127.0.0.1", int(port))
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One request, one answer, then the connection is closed (at once when too many are open)."""
        if self._open >= self.max_connections:
            writer.transport.abort()
            return
        self._open += 1
        try:
            async with asyncio.timeout(self.read_seconds):
                head = await reader.readuntil(b"\r\n\r\n")
            status, content_type, body, only_head, *more = await self._respond(head)
            lines = [
                f"HTTP/1.1 {status} {_REASONS[status]}",
                f"Content-Type: {content_type}",
                f"Content-Length: {len(body)}",
                *(more[0] if more else ()),
                "Connection: close",
                "",
                "",
            ]
            writer.write("\r\n".join(lines).encode("latin-1") + (b"" if only_head else body))
            async with asyncio.timeout(self.write_seconds):  # a client that does not read is dropped too
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            self._open -= 1
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _respond(self, head: bytes) -> Reply:
        """The answer to one request head."""
        raise NotImplementedError


class OperatorEndpoint(_Endpoint):
    """``/metrics``, ``/healthz`` and ``/readyz`` (503 also while the audit log's writes are stopped) on one address."""

    def __init__(self, readiness: Readiness, refresh: Callable[[], Awaitable[None]]) -> None:
        """Answer readiness from ``readiness``; ``refresh`` brings the scraped series up to date."""
        super().__init__()
        self._readiness = readiness
        self._refresh = refresh

    async def _respond(self, head: bytes) -> Reply:
        """Status, content type, body and whether only the head is sent, for one request head."""
        if len(head) > _MAX_HEAD:
            return 400, "text/plain", b"request head too long\n", False
        request, *header_lines = head.decode("latin-1").split("\r\n")
        parts = request.split(" ")
        if len(parts) != 3:
            return 400, "text/plain", b"bad request line\n", False
        method, target, _ = parts
        headers = dict(line.partition(":")[::2] for line in header_lines if line)
        accept = next((v.strip() for k, v in headers.items() if k.strip().lower() == "accept"), "")
        only_head = method == "HEAD"
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"GET or HEAD only\n", False
        path = target.split("?", 1)[0]
        if path == "/metrics":
            await self._refresh()
            encoder, content_type = choose_encoder(accept)
            return 200, content_type, encoder(REGISTRY), only_head
        if path == "/healthz":
            return 200, "text/plain", b"ok\n", only_head
        if path == "/readyz":
            # Not ready either while the audit log's writes are stopped: a balancer must not send writes here.
            report, stopped = self._readiness.latest, self._readiness.writes_stopped()
            body = "".join(f"{_line(check)}\n" for check in report.checks)
            if stopped is not None:
                body += f"audit_writes: stopped: {stopped}\n"
            ready = report.ready and stopped is None
            return (200 if ready else 503), "text/plain; charset=utf-8", body.encode(), only_head
        return 404, "text/plain", b"not found: /metrics, /healthz, /readyz\n", only_head


_NO_STORE: Final = ("Cache-Control: no-store",)


class TilesEndpoint(_Endpoint):
    """The audit log read-only as C2SP tlog-tiles on ``tiles_listen`` (issue 12): ``/checkpoint``, ``/tile/…``.

    The same small server as the operator's, with the tiles' caching headers, on an address of its own: the tiles
    are for supervisors, the operator's port is not (docs/audit.md, "Tiles")."""

    def __init__(self, tiles: Any) -> None:
        """Answer from ``tiles`` (:class:`audit.tiles.Tiles`)."""
        super().__init__()
        self._tiles = tiles

    async def _respond(self, head: bytes) -> Reply:
        """A GET or HEAD of the checkpoint or a tile; 405 for any other method."""
        if len(head) > _MAX_HEAD:
            return 400, "text/plain", b"request head too long\n", False, _NO_STORE
        parts = head.decode("latin-1").split("\r\n", 1)[0].split(" ")
        if len(parts) != 3:
            return 400, "text/plain", b"bad request line\n", False, _NO_STORE
        method, target, _ = parts
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"GET or HEAD only\n", False, _NO_STORE
        try:
            answer = await self._tiles.answer(target.split("?", 1)[0].removeprefix("/"))
        except Exception as exc:  # the database out of reach: say so, never a traceback or SQL
            log.warning("tiles: %s answering %s", type(exc).__name__, target[:200])
            return 503, "text/plain", b"the log cannot be read now\n", False, _NO_STORE
        return (
            answer.status,
            answer.content_type,
            answer.body,
            method == "HEAD",
            (f"Cache-Control: {answer.cache_control}",),
        )
