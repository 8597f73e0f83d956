"""A market regulation bureau's connector (市场监督管理部门): who holds a role in a registered enterprise.

A test package of hedui's suite, installed for real (pip) by tests/connectors/test_department_packages.py:
it adds the department ``market_regulation``, which hedui does not ship, through the entry point
``market-regulation`` and the centre's config alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from connectors.base import (
    ConnectorDescription,
    DepartmentAnswer,
    DepartmentQuery,
    DepartmentRefused,
    Ticket,
    idempotency_keys,
)
from connectors.idempotency import AnswerStore
from connectors.records import EnterpriseRecord, parse_record

DEPARTMENT = "market_regulation"

# The register as the bureau keeps it (one row per role), with the bureau's own record ids.
REGISTER = [
    {
        "record_id": "SCJG-533401-0001",
        "id_number": "533401197803120118",
        "enterprise": "凤庆县张记茶叶经营部",
        "role": "legal_representative",
        "registered": "2019-04-02",
    },
    {
        "record_id": "SCJG-533401-0002",
        "id_number": "533401197803120118",
        "enterprise": "凤庆县滇红合作社",
        "role": "shareholder",
        "registered": None,
    },
]


class MarketRegulationConnector:
    """Answers from the register at once; refuses a query without an authorization reference.

    Looks a person up at most once per idempotency key: a repeated key is answered from the first answer.
    """

    def __init__(self, register: list[dict[str, Any]], batch_size: int) -> None:
        self._records = tuple(
            parse_record(EnterpriseRecord, row, f"{DEPARTMENT}.enterprises[{i}]") for i, row in enumerate(register)
        )
        self._batch_size = batch_size
        self._answers = AnswerStore(("enterprise",))

    def describe(self) -> ConnectorDescription:
        """Enterprise records, synchronous, in batches of ``batch_size``."""
        return ConnectorDescription(
            department=DEPARTMENT,
            data_categories=("enterprise",),
            max_batch_size=self._batch_size,
            max_queries_per_second=20,
        )

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        """The enterprise roles of the people asked about."""
        if not query.authorization_reference:
            raise DepartmentRefused(DEPARTMENT, "no authorization reference")
        try:
            keys = idempotency_keys(query.idempotency_key)
        except ValueError as exc:
            raise DepartmentRefused(DEPARTMENT, f"idempotency_key: {exc}") from None
        asked = set(self._answers.missing(keys, query.id_numbers))  # only who is not yet answered under the key
        records = tuple(r for r in self._records if r.id_number in asked)
        return self._answers.settle(DEPARTMENT, keys, query.id_numbers, records, dt.datetime.now(dt.UTC))

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        """No tickets: every answer comes at once."""
        raise DepartmentRefused(DEPARTMENT, "unknown ticket")


def factory(department: str, options: Mapping[str, Any]) -> MarketRegulationConnector:
    """Entry point ``market-regulation``; option ``batch_size`` (default 50) from its ``[departments.*]`` table."""
    if department != DEPARTMENT:
        raise ValueError(f"this package serves {DEPARTMENT} only")
    unknown = sorted(set(options) - {"batch_size"})
    if unknown:
        raise ValueError(f"unknown option {unknown[0]!r}")
    batch_size = options.get("batch_size", 50)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError("option 'batch_size' must be a whole number of at least 1")
    return MarketRegulationConnector(REGISTER, batch_size)
