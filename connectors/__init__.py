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
from connectors.departments import DEFAULT_DEPARTMENTS, Department, DepartmentCatalogue, RecordKind
from connectors.records import DepartmentRecord, RecordError
from connectors.sandbox import SandboxConnector, SandboxDataset, SandboxError, sandbox_connectors

__all__ = [
    "DEFAULT_DEPARTMENTS",
    "Connector",
    "ConnectorDescription",
    "Department",
    "DepartmentAnswer",
    "DepartmentCatalogue",
    "DepartmentQuery",
    "DepartmentRecord",
    "DepartmentRefused",
    "DepartmentUnavailable",
    "RecordError",
    "RecordKind",
    "SandboxConnector",
    "SandboxDataset",
    "SandboxError",
    "Ticket",
    "sandbox_connectors",
]
