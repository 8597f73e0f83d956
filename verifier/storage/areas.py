"""The organisations a caller may read as a condition of a query (issue 13): pages and their tokens then only
ever name rows the caller may read."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import ColumnElement, and_, false, func, or_

from verifier.organisations import Scope

__all__ = ["readable"]

_DIGITS: Final = tuple("0123456789")
_CODE_LENGTH: Final = 6


def readable(column: Any, scope: Scope) -> ColumnElement[bool]:
    """``column`` (an organisation id) is in ``scope``: one of its organisations, or an id whose six-digit code
    (followed by ``-`` or nothing, as :func:`verifier.organisations.area_of` reads it) starts with its prefix."""
    conditions: list[ColumnElement[bool]] = []
    if scope.organisations:
        conditions.append(column.in_(sorted(scope.organisations)))
    prefix = scope.area_prefix
    if prefix is not None:
        digits = [func.substr(column, i, 1).in_(_DIGITS) for i in range(len(prefix) + 1, _CODE_LENGTH + 1)]
        ends = or_(func.length(column) == _CODE_LENGTH, func.substr(column, _CODE_LENGTH + 1, 1) == "-")
        conditions.append(and_(column.like(f"{prefix}%"), *digits, ends))
    return or_(*conditions) if conditions else false()
