"""Errors the service reports to callers: a gRPC-style code, a reason, field violations."""

from __future__ import annotations

from dataclasses import dataclass, field

from verifier.request import FieldViolation

__all__ = ["ServiceError"]


@dataclass(slots=True)
class ServiceError(Exception):
    """A refused call. ``code`` is a gRPC status code name; ``reason`` an UPPER_SNAKE_CASE ErrorInfo reason."""

    code: str
    reason: str
    message: str
    violations: list[FieldViolation] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message

    @classmethod
    def invalid(cls, violations: list[FieldViolation], reason: str = "INVALID_REQUEST") -> ServiceError:
        first = violations[0]
        return cls("INVALID_ARGUMENT", reason, f"{first.field}: {first.description}", violations)

    @classmethod
    def precondition(cls, field_name: str, description: str, reason: str) -> ServiceError:
        return cls(
            "FAILED_PRECONDITION", reason, f"{field_name}: {description}", [FieldViolation(field_name, description)]
        )

    @classmethod
    def not_found(cls, name: str) -> ServiceError:
        return cls("NOT_FOUND", "NOT_FOUND", f"{name} not found")
