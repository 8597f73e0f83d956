"""The audit log: what happened, recorded append-only, searchable by supervisors."""

from audit.events import EVENT_KINDS, AuditEvent, canonical_entry, subject_hash
from audit.log import AuditLog, StoredEntry

__all__ = ["EVENT_KINDS", "AuditEvent", "AuditLog", "StoredEntry", "canonical_entry", "subject_hash"]
