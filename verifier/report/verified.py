"""Reports this process knows to be as issued, so that serving one again need not prove it again.

``GetReport`` serves a stored report only as its ``REPORT_CREATED`` entry recorded it (:mod:`verifier.report.bound`):
one statement for the entry, its MAC, and the canonical digest of the JSON read. Most reports are read by the
process that published them, moments later, and that process wrote the row's text and its entry in one
transaction. :class:`VerifiedReports` remembers, per report id, the SHA-256 of the exact stored text that was
written or checked and the report's message in protobuf's wire form: a row read back whose text hashes the same
is, byte for byte, what was proven, and is served from the remembered message without the entry's statement,
the canonical digest or a JSON-to-message conversion. Any other text — one edited behind the service's back, a
report another replica published, a process just started — takes the full check (and is remembered once it
passes). The report id is a fresh UUID per version, so a row that never committed can never match.

Bounded: the newest :data:`CAPACITY` reports (a case system reads a report soon after it is ready).
"""

from __future__ import annotations

import collections
import hashlib
import json
from typing import Any

from hedui.v1 import report_pb2
from verifier.report.build import report_from_plain

__all__ = ["CAPACITY", "CheckedReport", "VerifiedReports", "text_digest"]

CAPACITY = 2048
"""Reports remembered per process (each a few kilobytes)."""


def text_digest(body_json: str) -> bytes:
    """SHA-256 of a stored report's text exactly as stored (not the canonical digest ``REPORT_CREATED`` holds)."""
    return hashlib.sha256(body_json.encode("utf-8")).digest()


class CheckedReport:
    """A stored report that passed the check: its text, and its JSON value and message, each made at most once."""

    __slots__ = ("_body", "_cache", "_message", "_report_id", "_text", "body_json")

    def __init__(
        self,
        body_json: str,
        *,
        body: dict[str, Any] | None = None,
        message: bytes | None = None,
        remember: tuple[VerifiedReports, str, bytes] | None = None,
    ) -> None:
        """``body``: the JSON value if already parsed; ``message``: the report in wire form if known;
        ``remember``: where to keep the message once it is made (cache, report id, text digest)."""
        self.body_json = body_json
        self._body = body
        self._message = message
        self._cache = remember

    @property
    def body(self) -> dict[str, Any]:
        """The report's JSON value (parsed on first use)."""
        if self._body is None:
            self._body = json.loads(self.body_json)
        return self._body

    def message(self) -> report_pb2.Report:
        """A new ``hedui.v1.Report`` message of this report (the caller may change it)."""
        if self._message is None:
            made = report_from_plain(self.body)
            self._message = made.SerializeToString()
            if self._cache is not None:
                cache, report_id, digest = self._cache
                cache.remember(report_id, digest, self._message)
            return made
        return report_pb2.Report.FromString(self._message)


class VerifiedReports:
    """Per report id: the digest of the stored text proven to be as issued, and the report's wire form."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        """Remember at most ``capacity`` reports (the least recently used leave first)."""
        self._capacity = capacity
        self._known: collections.OrderedDict[str, tuple[bytes, bytes | None]] = collections.OrderedDict()

    def __len__(self) -> int:
        """How many reports are remembered."""
        return len(self._known)

    def issued(self, report_id: str, body_json: str, report: report_pb2.Report) -> None:
        """This process stores ``report`` as ``body_json`` with its ``REPORT_CREATED`` entry, in one transaction."""
        self.remember(report_id, text_digest(body_json), report.SerializeToString())

    def remember(self, report_id: str, digest: bytes, message: bytes | None) -> None:
        """The text of digest ``digest`` is report ``report_id`` as issued (``message``: its wire form)."""
        self._known[report_id] = (digest, message)
        self._known.move_to_end(report_id)
        while len(self._known) > self._capacity:
            self._known.popitem(last=False)

    def known(self, report_id: str, body_json: str) -> CheckedReport | None:
        """The report, if ``body_json`` is exactly the text remembered for ``report_id``; else ``None``."""
        entry = self._known.get(report_id)
        if entry is None:
            return None
        digest = text_digest(body_json)
        if entry[0] != digest:
            return None
        self._known.move_to_end(report_id)
        return CheckedReport(body_json, message=entry[1], remember=(self, report_id, digest))
