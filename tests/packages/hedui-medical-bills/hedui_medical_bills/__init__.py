"""A medical insurance bureau's connector that answers with ``medical_bill`` records, a kind hedui does not know.

A test package of hedui's suite: loading it must be refused, naming the department and the kind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from connectors.base import ConnectorDescription, DepartmentAnswer, DepartmentQuery, DepartmentRefused, Ticket


class MedicalBillsConnector:
    """Describes itself as answering ``medical_bill`` records; never gets as far as a query."""

    def __init__(self, department: str) -> None:
        self.department = department

    def describe(self) -> ConnectorDescription:
        """The department it was built for, answering ``medical_bill`` records."""
        return ConnectorDescription(department=self.department, data_categories=("medical_bill",))

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        """An empty answer (hedui refuses this connector before it would ask)."""
        if not query.authorization_reference:
            raise DepartmentRefused(self.department, "no authorization reference")
        return DepartmentAnswer(self.department, (), dt.datetime.now(dt.UTC))

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        """No tickets."""
        raise DepartmentRefused(self.department, "unknown ticket")


def factory(department: str, options: Mapping[str, Any]) -> MedicalBillsConnector:
    """Entry point ``medical-bills``: any department, no options."""
    return MedicalBillsConnector(department)
