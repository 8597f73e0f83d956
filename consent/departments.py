"""What a department id looks like, for authorizations and department declarations alike.

consent is the lowest of hedui's packages (connectors and audit import it, it imports neither), so the grammar of a
department id lives here and connectors.departments uses it. Which departments exist is configuration
(connectors.departments.DepartmentCatalogue): an authorization may name any well-formed id, and the service checks
at registration that it declares them (consent.authorization.unknown_departments).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["ALL_DEPARTMENTS", "DEPARTMENT_ID", "is_department_id"]

# A department id: lower-case ASCII, digits and underscores, as config table keys and audit entries use it.
DEPARTMENT_ID: Final = re.compile(r"[a-z][a-z0-9_]{1,39}")
# An authorization naming "*" covers every department the service declares.
ALL_DEPARTMENTS: Final = "*"


def is_department_id(value: object) -> bool:
    """Whether ``value`` is a well-formed department id (``*``, all departments, is not one)."""
    return isinstance(value, str) and DEPARTMENT_ID.fullmatch(value) is not None
