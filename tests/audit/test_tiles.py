"""The audit log as C2SP tlog-tiles over HTTP (audit/tiles.py on verifier.observability.TilesEndpoint), read by a
small reader written here from the spec and RFC 9162 (tests/support/rfc9162.py), sharing no code with audit/."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import rfc9162

from audit import AuditEvent
from audit.checkpoint import open_checkpoint
from audit.tiles import Tiles, parse_tile_path, tile_path
from verifier.config import Settings
from verifier.observability import TilesEndpoint
from verifier.service import HeduiService
from verifier.storage.db import Database


def leaf(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1, from the definition."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(index: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1, from the definition."""
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if index < k:
        return [*path(index, leaves[:k]), mth(leaves[k:])]
    return [*path(index - k, leaves[k:]), mth(leaves[:k])]


def encoded(index: int) -> str:
    """The spec's example: 1234067 is x001/x234/067."""
    digits = f"{index:09d}" if index >= 1000 else f"{index:03d}"
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    while len(groups) > 1 and groups[0] == "000":
        groups.pop(0)
    return "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_tile_paths_are_written_as_the_spec_writes_them() -> None:
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067" == f"tile/0/{encoded(1234067)}"
    assert tile_path(2, 5, 17) == "tile/2/005.p/17"
    assert tile_path(None, 0, 112) == "tile/entries/000.p/112"
    for good in ("tile/0/x001/x234/067", "tile/entries/000", "tile/63/000.p/255"):
        assert parse_tile_path(good) is not None and tile_path(*_fields(good)) == good
    huge = "tile/0/" + "/".join(["x999"] * 1500 + ["999"])  # 4503 digits: int() alone refuses it (ValueError)
    assert parse_tile_path(huge) is None
    assert parse_tile_path("tile/0/x009/x223/x372/x036/x854/x775/808") is None  # 2**63: no tree is that big
    assert parse_tile_path("tile/0/x009/x223/x372/x036/x854/x775/807") is not None
    for bad in ("tile/64/000", "tile/0/1234", "tile/0/x000/001", "tile/0/000.p/256", "tile/0/000.p/0", "tile/00/001"):
        assert parse_tile_path(bad) is None, bad


def _fields(path_: str) -> tuple[int | None, int, int]:
    request = parse_tile_path(path_)
    assert request is not None
    return request.level, request.index, request.width


async def test_a_reader_that_is_not_hedui_checks_the_log_from_its_tiles(db_url: str) -> None:
    settings = Settings(database_url=db_url, audit_subject_key=b"k" * 32, audit_log_key=bytes(range(32)))
    service = HeduiService(Database(db_url), {}, settings)
    await service.start()
    endpoint = TilesEndpoint(Tiles(service.log, service.db.sessions, entries=True))
    port = await endpoint.start("127.0.0.1:0")
    base = f"http://127.0.0.1:{port}"
    try:
        for count in (300, 300):  # two signed heads: 300, then 600 (2 full level-0 tiles and one of width 88)
            async with service.db.write() as session:
                await service.audit.append_many(
                    session, [(AuditEvent(kind="REPORT_READ", verification=f"v{i}"), ()) for i in range(count)]
                )
            await service.log.integrate(service.db.write)
        status, headers, body = await asyncio.to_thread(fetch, base + "/checkpoint")
        assert status == 200 and headers["Content-Type"] == "text/plain; charset=utf-8"
        assert "no-cache" in headers["Cache-Control"]
        checkpoint = open_checkpoint(body, service.log.verifier)  # the log's key, from its vkey
        size, root = checkpoint.size, checkpoint.root_hash
        assert size == 600
        leaves: list[bytes] = []
        for n in range(size // 256 + 1):
            width = min(256, size - 256 * n)
            suffix = "" if width == 256 else f".p/{width}"
            status, headers, tile = await asyncio.to_thread(fetch, f"{base}/tile/0/{encoded(n)}{suffix}")
            assert status == 200 and len(tile) == 32 * width
            assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
            hashes = [tile[i : i + 32] for i in range(0, len(tile), 32)]
            status, _, bundle = await asyncio.to_thread(fetch, f"{base}/tile/entries/{encoded(n)}{suffix}")
            entries, at = [], 0
            while at < len(bundle):
                (length,) = struct.unpack_from(">H", bundle, at)
                entries.append(bundle[at + 2 : at + 2 + length])
                at += 2 + length
            assert [leaf(e) for e in entries] == hashes  # each entry hashes to its leaf in the tile
            leaves += hashes
        assert mth(leaves) == root  # the root the log signed, recomputed from the tiles alone
        status, _, level1 = await asyncio.to_thread(fetch, f"{base}/tile/1/000.p/2")
        assert status == 200
        assert level1 == mth(leaves[:256]) + mth(leaves[256:512])  # level 1: the roots of full level-0 tiles
        for index in (0, 255, 256, 599):  # inclusion proofs built from the tiles' hashes
            assert rfc9162.verify_inclusion(leaves[index], index, size, path(index, leaves), root)
        assert not rfc9162.verify_inclusion(leaves[1], 0, size, path(0, leaves), root)
        # Nothing beyond the newest signed head: a full third tile, a wider partial one, a level-2 tile.
        for beyond in ("tile/0/002", "tile/0/002.p/89", "tile/entries/002.p/89", "tile/1/000", "tile/2/000.p/1"):
            assert (await asyncio.to_thread(fetch, f"{base}/{beyond}"))[0] == 404, beyond
        assert (await asyncio.to_thread(fetch, f"{base}/tile/0/1"))[0] == 404
        # An older head's partial tile is still served (its width fixes its content).
        status, _, older = await asyncio.to_thread(fetch, f"{base}/tile/0/001.p/44")
        assert status == 200 and older == b"".join(leaves[256:300])
        assert base64.b64encode(root).decode() in body.decode()
    finally:
        await endpoint.close()
        await service.close()


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_only_get_and_head_are_answered(method: str) -> None:
    class NoTiles:
        async def answer(self, path: str) -> object:
            raise AssertionError("not asked")

    endpoint = TilesEndpoint(NoTiles())
    port = await endpoint.start("127.0.0.1:0")
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/checkpoint", method=method, data=b"")
        with pytest.raises(urllib.error.HTTPError) as refused:
            await asyncio.to_thread(urllib.request.urlopen, request, timeout=30)
        assert refused.value.code == 405
        assert refused.value.headers["Cache-Control"] == "no-store"  # a refusal is never cached
    finally:
        await endpoint.close()


async def test_idle_connections_are_capped_and_dropped() -> None:
    class OneTile:
        async def answer(self, path: str) -> object:
            from audit.tiles import TileAnswer

            return TileAnswer(200, "text/plain", b"ok\n")

    endpoint = TilesEndpoint(OneTile())
    endpoint.max_connections = 8
    port = await endpoint.start("127.0.0.1:0")
    idle: list[asyncio.StreamWriter] = []
    try:
        readers = []
        for _ in range(8):  # each holds a slot without a request
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            readers.append(reader)
            idle.append(writer)
        await asyncio.sleep(0.1)  # let the server take them (not a wait for the result below)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        idle.append(writer)
        async with asyncio.timeout(10):  # the ninth is closed at once, unanswered
            assert await reader.read() == b""
        started = asyncio.get_running_loop().time()
        async with asyncio.timeout(15):  # the idle ones are dropped after the read deadline (2 s)
            for held in readers:
                assert await held.read() == b""
        assert asyncio.get_running_loop().time() - started < 15
        status, _, body = await asyncio.to_thread(fetch, f"http://127.0.0.1:{port}/checkpoint")
        assert (status, body) == (200, b"ok\n")  # the slots came free
    finally:
        for writer in idle:
            writer.close()
        await endpoint.close()


async def test_entry_bundles_are_served_only_when_asked_for(tmp_path: Path) -> None:
    """Issue 13: the checkpoint and the hash tiles are public, the entries are not (``tiles_entries`` is off)."""
    url = f"sqlite:///{tmp_path}/hedui.db"
    settings = Settings(database_url=url, audit_subject_key=b"k" * 32, audit_log_key=bytes(range(32)))
    service = HeduiService(Database(url), {}, settings)
    await service.start()
    endpoint = TilesEndpoint(Tiles(service.log, service.db.sessions))
    port = await endpoint.start("127.0.0.1:0")
    base = f"http://127.0.0.1:{port}"
    try:
        async with service.db.write() as session:
            await service.audit.append_many(session, [(AuditEvent(kind="REPORT_READ", verification="v"), ())] * 3)
        await service.log.integrate(service.db.write)
        assert (await asyncio.to_thread(fetch, base + "/checkpoint"))[0] == 200
        status, _, tile = await asyncio.to_thread(fetch, base + "/tile/0/000.p/3")
        assert status == 200 and len(tile) == 3 * 32
        status, _, body = await asyncio.to_thread(fetch, base + "/tile/entries/000.p/3")
        assert status == 404 and b"tiles_entries" in body and b"REPORT_READ" not in body
    finally:
        await endpoint.close()
        await service.close()
