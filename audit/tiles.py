"""The audit log read-only over HTTP as a C2SP tlog-tiles log, so tools that are not hedui's can check it.

https://c2sp.org/tlog-tiles: under the URL prefix

* ``checkpoint``: the checkpoint a supervisor should trust as the latest — the one ``GetSignedTreeHead``
  serves (the newest signed head the witness policy allows, with its cosignatures), its note verified first;
  ``text/plain; charset=utf-8``, ``Cache-Control: no-cache``;
* ``tile/<L>/<N>[.p/<W>]``: the ``N``-th tile of level ``L``: the 256 (or, partial, ``W``) hashes
  MTH(D[(N·256 + i)·256^L : (N·256 + i + 1)·256^L]), i.e. leaf hashes at level 0 and the roots of full tiles of
  the level below above it, concatenated (``application/octet-stream``);
* ``tile/entries/<N>[.p/<W>]``: the entry bundle: the entries of the level-0 tile ``N``, each as a big-endian
  uint16 length and the entry's bytes — only with ``entries`` (``tiles_entries = true``): the entries are not
  public (issue 13), while the checkpoint and the hashes are.

``N`` is written in 3-digit groups, all but the last prefixed ``x`` (1234067 → ``x001/x234/067``). Tiles and
bundles are computed from the log's proven tree and stored entries (each entry must hash to its leaf) and only
within the newest signed head: a tile reaching past it is 404, so nothing unsigned is served. A full tile, and
a partial one (its width fixes its content), never changes: ``Cache-Control: public, max-age=31536000,
immutable``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select

from audit.log import audit_entries, audit_leaves
from audit.merkle import leaf_hash
from audit.tree import LogDamaged, TransparencyLog, synced_tree
from audit.witnessing import policy_head, witnessing_of

__all__ = ["IMMUTABLE", "TILE_WIDTH", "TileAnswer", "TileRequest", "Tiles", "parse_tile_path", "tile_path"]

TILE_WIDTH: Final = 256
IMMUTABLE: Final = "public, max-age=31536000, immutable"
_MUTABLE: Final = "no-cache"
_INDEX = r"(?:x\d{3}/)*\d{3}"
_TILE = re.compile(rf"tile/(?P<level>entries|0|[1-9]\d?)/(?P<index>{_INDEX})(?:\.p/(?P<width>[1-9]\d{{0,2}}))?")


@dataclass(frozen=True, slots=True)
class TileRequest:
    """A tile (``level`` 0..63) or an entry bundle (``level`` ``None``), its index and width (256: full)."""

    level: int | None
    index: int
    width: int


@dataclass(frozen=True, slots=True)
class TileAnswer:
    """What to answer: HTTP status, content type, body and caching."""

    status: int
    content_type: str
    body: bytes
    cache_control: str = _MUTABLE


def tile_path(level: int | None, index: int, width: int = TILE_WIDTH) -> str:
    """The path of a tile (``level`` None: the entry bundle), as the spec writes it."""
    digits = f"{index:d}"
    groups = [digits[max(i - 3, 0) : i] for i in range(len(digits), 0, -3)][::-1]
    groups[0] = groups[0].zfill(3)
    encoded = "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{'entries' if level is None else level}/{encoded}{suffix}"


def parse_tile_path(path: str) -> TileRequest | None:
    """The tile a path names, or ``None`` if it names none (a bad level, index encoding or width)."""
    found = _TILE.fullmatch(path)
    if found is None:
        return None
    level_text, width_text = found.group("level"), found.group("width")
    width = int(width_text) if width_text else TILE_WIDTH
    level = None if level_text == "entries" else int(level_text)
    if (width_text and width >= TILE_WIDTH) or (level is not None and level > 63):
        return None
    digits = found.group("index").replace("x", "").replace("/", "")
    if len(digits) > 21 or (index := int(digits)) >= 1 << 63:  # no tree is that big (int() of 4300+ digits fails)
        return None
    if tile_path(level, index, width) != path:  # one spelling per tile (no extra leading zeros)
        return None
    return TileRequest(level, index, width)


def _text(status: int, message: str) -> TileAnswer:
    return TileAnswer(status, "text/plain; charset=utf-8", message.encode() + b"\n")


class Tiles:
    """Answers tlog-tiles GETs from a :class:`~audit.tree.TransparencyLog` and its database (read-only)."""

    def __init__(self, log: TransparencyLog, sessions: Callable[[], Any], *, entries: bool = False) -> None:
        """Read ``log``'s heads and proven tree; open read sessions with ``sessions`` (``Database.sessions``).
        ``entries``: serve the entry bundles too (they are the entries themselves: off unless the operator asks,
        ``tiles_entries``; the checkpoint and the hash tiles reveal nothing of any entry)."""
        self._log = log
        self._sessions = sessions
        self._entries = entries

    async def answer(self, path: str) -> TileAnswer:
        """The answer to ``GET <prefix>/<path>`` (``path`` without the prefix's slash)."""
        if self._log.damage is not None:  # the log stopped signing: nothing is served from it as genuine
            return _text(503, f"the audit log stopped: {self._log.damage}")
        try:
            if path == "checkpoint":
                return await self._checkpoint()
            request = parse_tile_path(path)
            if request is None:
                return _text(404, "not found: checkpoint, tile/<L>/<N>[.p/<W>], tile/entries/<N>[.p/<W>]")
            if request.level is None and not self._entries:
                return _text(
                    404,
                    "entry bundles are not served here (tiles_entries): supervisors read the entries "
                    "through the API (ExportAuditLog)",
                )
            return await self._tile(request)
        except LogDamaged as exc:
            return _text(503, f"the stored log does not match what the log signed: {exc}")

    async def _checkpoint(self) -> TileAnswer:
        async with self._sessions() as session:
            head = await self._log.latest_head(session)
            if head is not None:
                head = self._log.checked(head)
                witnessing = witnessing_of(self._log)
                if witnessing is not None:
                    head = await policy_head(session, witnessing.policy, head, self._log.head_at, self._log.checked)
        if head is None:
            return _text(404, "no checkpoint yet")
        return TileAnswer(200, "text/plain; charset=utf-8", head.checkpoint.encode())

    async def _tile(self, request: TileRequest) -> TileAnswer:
        """A tile or bundle wholly within the newest signed head, from the proven tree (404 beyond it)."""
        level = request.level or 0
        start = request.index * TILE_WIDTH
        async with self._sessions() as session:
            head = await self._log.latest_head(session)
            if head is None or (start + request.width) << (8 * level) > head.tree_size:
                return _text(404, "that tile reaches beyond the newest signed tree head")
            tree = await synced_tree(self._log, session, self._log.checked(head))
            if request.level is None:
                return await self._bundle(session, tree, start, request.width)
        body = b"".join(tree.node(8 * level, start + i) for i in range(request.width))
        return TileAnswer(200, "application/octet-stream", body, IMMUTABLE)

    async def _bundle(self, session: Any, tree: Any, start: int, width: int) -> TileAnswer:
        """The entries ``start .. start + width - 1``, each checked against its leaf in the proven tree."""
        rows = (
            await session.execute(
                select(audit_leaves.c.leaf_index, audit_entries.c.entry)
                .join(audit_entries, audit_entries.c.seq == audit_leaves.c.entry_seq)
                .where(audit_leaves.c.leaf_index >= start, audit_leaves.c.leaf_index < start + width)
                .order_by(audit_leaves.c.leaf_index)
            )
        ).all()
        if [row.leaf_index for row in rows] != list(range(start, start + width)):
            raise LogDamaged(f"entries {start}..{start + width - 1}: some are missing")
        parts = []
        for row in rows:
            entry = bytes(row.entry)
            if leaf_hash(entry) != tree.leaf(row.leaf_index):
                raise LogDamaged(f"entry {row.leaf_index}: not the leaf the log signed (tampered)")
            if len(entry) > 0xFFFF:
                raise LogDamaged(f"entry {row.leaf_index}: longer than an entry bundle can hold (65535 bytes)")
            parts.append(struct.pack(">H", len(entry)) + entry)
        return TileAnswer(200, "application/octet-stream", b"".join(parts), IMMUTABLE)
