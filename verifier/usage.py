"""The one error every ``hedui`` command raises for invalid input: exit 2 with its message as one line."""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(Exception):
    """Invalid input to a command: ``hedui`` exits 2 with this one line and has written nothing."""
