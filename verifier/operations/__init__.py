"""hedui's operations, one class per resource: what the gRPC servicers and the commands call, and nothing else."""

from verifier.operations._names import Caller, count_scope_refusals
from verifier.operations.audit_queries import AuditQueries
from verifier.operations.authorizations import Authorizations, AuthorizationState
from verifier.operations.reports import Reports
from verifier.operations.trust_store import KeyEntry, TrustStore
from verifier.operations.verifications import DepartmentProgress, Verifications, VerificationView

__all__ = [
    "AuditQueries",
    "AuthorizationState",
    "Authorizations",
    "Caller",
    "DepartmentProgress",
    "KeyEntry",
    "Reports",
    "TrustStore",
    "VerificationView",
    "Verifications",
    "count_scope_refusals",
]
