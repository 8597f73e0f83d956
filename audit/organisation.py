"""Whose an audit entry is (issue 13): the organisation a supervisor's view of the log is scoped by.

The log names the calling client of every entry a call appended as ``name@organisation`` (a client's name
never holds ``@``), and the pipeline's entries inherit their verification's. An entry no client made (a
command on the database, hedui's own process) is of the organisation its details name, when they name one (a
key or a client added or revoked for it); any other (a refusal of a certificate no client holds, the log's
own housekeeping) is of none, ``""``. The value is stored beside the entry, indexed, and checked against the
signed entry wherever the entry is read (:func:`audit.log.column_disagreement`).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["entry_organisation"]


def entry_organisation(client: str, details: Mapping[str, object]) -> str:
    """The organisation of an entry of ``client`` with ``details``; ``""`` when it is of none."""
    _, at, organisation = client.partition("@")
    if at:
        return organisation
    named = details.get("organisation")
    return named if isinstance(named, str) else ""
