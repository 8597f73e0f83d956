"""A minimal HTTP/1.1 client on asyncio streams, for talking to witnesses: one deadline for the whole exchange.

urllib's timeout bounds each read, so a peer that drips a byte now and then holds a call (and its thread) for
hours. Here one ``asyncio.timeout`` covers connecting, sending, the answer's head and its body; when it expires
(or the caller is cancelled) the socket is aborted at once. Proxies from the environment are never used: a
witness is reached directly. Bodies are read up to a bound (larger: :class:`HttpError`, never buffered whole).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

__all__ = ["HttpAnswer", "HttpError", "exchange"]

_MAX_HEAD: Final = 16 * 1024
_MAX_LINE: Final = 8 * 1024


class HttpError(Exception):
    """The exchange failed: no connection, a malformed or oversized answer, or the deadline passed."""


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """The status, the headers (names lower-cased) and the body of an answer."""

    status: int
    headers: dict[str, str]
    body: bytes


async def exchange(
    url: str, *, method: str = "GET", body: bytes | None = None, deadline: float, max_body: int = 1 << 20
) -> HttpAnswer:
    """One request to ``url`` and its answer, all within ``deadline`` seconds (the socket closed when it passes)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpError(f"not an http(s) URL: {url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(deadline):
            context = ssl.create_default_context() if parts.scheme == "https" else None
            reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=context, limit=_MAX_LINE)
            head = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
            if body is not None:
                head += ["Content-Type: text/plain", f"Content-Length: {len(body)}"]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b""))
            await writer.drain()
            return await _answer(reader, max_body)
    except TimeoutError:
        raise HttpError(f"no whole answer within {deadline:g} s") from None
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, UnicodeError) as exc:
        raise HttpError(f"{type(exc).__name__}: {exc}") from None
    finally:
        if writer is not None:
            writer.transport.abort()  # at once: never wait on a peer that may not read


async def _answer(reader: asyncio.StreamReader, max_body: int) -> HttpAnswer:
    """Read the status line, headers and body (by Content-Length, chunked, or up to the end)."""
    status_line = (await reader.readuntil(b"\r\n")).decode("latin-1").rstrip("\r\n")
    version, _, rest = status_line.partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not (code.isdigit() and len(code) == 3):
        raise HttpError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    size = len(status_line)
    while (line := (await reader.readuntil(b"\r\n")).decode("latin-1").rstrip("\r\n")) != "":
        size += len(line)
        if size > _MAX_HEAD:
            raise HttpError("the answer's head is too long")
        name, colon, value = line.partition(":")
        if not colon:
            raise HttpError("a malformed header line")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        data = await _chunked(reader, max_body)
    elif "content-length" in headers:
        length = headers["content-length"]
        if not length.isdigit() or int(length) > max_body:
            raise HttpError(f"Content-Length {length[:20]!r} is not a number up to {max_body}")
        data = await reader.readexactly(int(length))
    else:
        data = await reader.read(max_body + 1)
        while len(data) <= max_body and (more := await reader.read(max_body + 1 - len(data))):
            data += more
        if len(data) > max_body:
            raise HttpError(f"the answer's body is over {max_body} bytes")
    return HttpAnswer(int(code), headers, data)


async def _chunked(reader: asyncio.StreamReader, max_body: int) -> bytes:
    """A chunked body, at most ``max_body`` bytes."""
    data = b""
    while True:
        size_text = (await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip()
        size = int(size_text, 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return data
        if len(data) + size > max_body:
            raise HttpError(f"the answer's body is over {max_body} bytes")
        data += await reader.readexactly(size)
        await reader.readexactly(2)
