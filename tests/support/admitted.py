"""A servicer called directly in a unit test runs as a client the access interceptor admitted (issue 13, review
S9: without one the servicers refuse, INTERNAL CLIENT_NOT_IDENTIFIED, and read nothing)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

from verifier.access import Client, Role
from verifier.access._interceptor import _client

__all__ = ["admitted_client"]

FAR: dt.datetime = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


@contextlib.contextmanager
def admitted_client(organisation: str = "533401-civil-affairs") -> Iterator[Client]:
    """Run the block as an admitted client of ``organisation`` with every role (what the interceptor sets)."""
    client = Client("0" * 64, "unit-test", organisation, frozenset(Role), FAR, FAR)
    token = _client.set(client)
    try:
        yield client
    finally:
        _client.reset(token)
