"""What hedui knows of departments: the connector interface, records, the sandbox departments."""

from connectors.base import (
    Connector,
    ConnectorDescription,
    DepartmentAnswer,
    DepartmentQuery,
    DepartmentRefused,
    DepartmentUnavailable,
    Ticket,
)
from connectors.records import DEPARTMENTS, DepartmentRecord, RecordError
from connectors.sandbox import SandboxConnector, SandboxDataset, SandboxError, sandbox_connectors

__all__ = [
    "DEPARTMENTS",
    "Connector",
    "ConnectorDescription",
    "DepartmentAnswer",
    "DepartmentQuery",
    "DepartmentRecord",
    "DepartmentRefused",
    "DepartmentUnavailable",
    "RecordError",
    "SandboxConnector",
    "SandboxDataset",
    "SandboxError",
    "Ticket",
    "sandbox_connectors",
]
