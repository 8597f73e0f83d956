from hedui.v1 import report_pb2 as _report_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReportView(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPORT_VIEW_UNSPECIFIED: _ClassVar[ReportView]
    STRUCTURED: _ClassVar[ReportView]
    HTML: _ClassVar[ReportView]
    PDF: _ClassVar[ReportView]
REPORT_VIEW_UNSPECIFIED: ReportView
STRUCTURED: ReportView
HTML: ReportView
PDF: ReportView

class Member(_message.Message):
    __slots__ = ("id_number", "name", "relation", "declared_annual_income_fen", "employment_category", "signed")
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    DECLARED_ANNUAL_INCOME_FEN_FIELD_NUMBER: _ClassVar[int]
    EMPLOYMENT_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SIGNED_FIELD_NUMBER: _ClassVar[int]
    id_number: str
    name: str
    relation: str
    declared_annual_income_fen: int
    employment_category: str
    signed: bool
    def __init__(self, id_number: _Optional[str] = ..., name: _Optional[str] = ..., relation: _Optional[str] = ..., declared_annual_income_fen: _Optional[int] = ..., employment_category: _Optional[str] = ..., signed: _Optional[bool] = ...) -> None: ...

class DeclaredDeduction(_message.Message):
    __slots__ = ("id_number", "kind", "amount_fen", "evidence")
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    id_number: str
    kind: str
    amount_fen: int
    evidence: str
    def __init__(self, id_number: _Optional[str] = ..., kind: _Optional[str] = ..., amount_fen: _Optional[int] = ..., evidence: _Optional[str] = ...) -> None: ...

class VerificationRequest(_message.Message):
    __slots__ = ("application_date", "area", "purpose", "previous_report_id", "commissioned_by", "members", "deductions", "policy", "household_address", "case_number")
    APPLICATION_DATE_FIELD_NUMBER: _ClassVar[int]
    AREA_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    COMMISSIONED_BY_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    DEDUCTIONS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    HOUSEHOLD_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    application_date: str
    area: str
    purpose: str
    previous_report_id: str
    commissioned_by: str
    members: _containers.RepeatedCompositeFieldContainer[Member]
    deductions: _containers.RepeatedCompositeFieldContainer[DeclaredDeduction]
    policy: str
    household_address: str
    case_number: str
    def __init__(self, application_date: _Optional[str] = ..., area: _Optional[str] = ..., purpose: _Optional[str] = ..., previous_report_id: _Optional[str] = ..., commissioned_by: _Optional[str] = ..., members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ..., deductions: _Optional[_Iterable[_Union[DeclaredDeduction, _Mapping]]] = ..., policy: _Optional[str] = ..., household_address: _Optional[str] = ..., case_number: _Optional[str] = ...) -> None: ...

class CreateVerificationRequest(_message.Message):
    __slots__ = ("request", "authorizations", "request_id")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZATIONS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request: VerificationRequest
    authorizations: _containers.RepeatedScalarFieldContainer[str]
    request_id: str
    def __init__(self, request: _Optional[_Union[VerificationRequest, _Mapping]] = ..., authorizations: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class DepartmentProgress(_message.Message):
    __slots__ = ("department", "status", "records", "detail", "updated_at", "health")
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    department: str
    status: str
    records: int
    detail: str
    updated_at: str
    health: str
    def __init__(self, department: _Optional[str] = ..., status: _Optional[str] = ..., records: _Optional[int] = ..., detail: _Optional[str] = ..., updated_at: _Optional[str] = ..., health: _Optional[str] = ...) -> None: ...

class Verification(_message.Message):
    __slots__ = ("name", "state", "request", "authorizations", "create_time", "update_time", "departments", "latest_report", "operator")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Verification.State]
        RUNNING: _ClassVar[Verification.State]
        AWAITING_ANSWERS: _ClassVar[Verification.State]
        COMPLETED: _ClassVar[Verification.State]
        FAILED: _ClassVar[Verification.State]
    STATE_UNSPECIFIED: Verification.State
    RUNNING: Verification.State
    AWAITING_ANSWERS: Verification.State
    COMPLETED: Verification.State
    FAILED: Verification.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZATIONS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENTS_FIELD_NUMBER: _ClassVar[int]
    LATEST_REPORT_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: Verification.State
    request: VerificationRequest
    authorizations: _containers.RepeatedScalarFieldContainer[str]
    create_time: str
    update_time: str
    departments: _containers.RepeatedCompositeFieldContainer[DepartmentProgress]
    latest_report: str
    operator: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[Verification.State, str]] = ..., request: _Optional[_Union[VerificationRequest, _Mapping]] = ..., authorizations: _Optional[_Iterable[str]] = ..., create_time: _Optional[str] = ..., update_time: _Optional[str] = ..., departments: _Optional[_Iterable[_Union[DepartmentProgress, _Mapping]]] = ..., latest_report: _Optional[str] = ..., operator: _Optional[str] = ...) -> None: ...

class GetVerificationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class WatchVerificationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class VerificationEvent(_message.Message):
    __slots__ = ("verification",)
    VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    verification: Verification
    def __init__(self, verification: _Optional[_Union[Verification, _Mapping]] = ...) -> None: ...

class GetReportRequest(_message.Message):
    __slots__ = ("name", "view")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    name: str
    view: ReportView
    def __init__(self, name: _Optional[str] = ..., view: _Optional[_Union[ReportView, str]] = ...) -> None: ...

class ListVerificationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "commissioned_by")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    COMMISSIONED_BY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    commissioned_by: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., commissioned_by: _Optional[str] = ...) -> None: ...

class ListVerificationsResponse(_message.Message):
    __slots__ = ("verifications", "next_page_token")
    VERIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    verifications: _containers.RepeatedCompositeFieldContainer[Verification]
    next_page_token: str
    def __init__(self, verifications: _Optional[_Iterable[_Union[Verification, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateRecheckBatchRequest(_message.Message):
    __slots__ = ("rechecks",)
    RECHECKS_FIELD_NUMBER: _ClassVar[int]
    rechecks: _containers.RepeatedCompositeFieldContainer[CreateVerificationRequest]
    def __init__(self, rechecks: _Optional[_Iterable[_Union[CreateVerificationRequest, _Mapping]]] = ...) -> None: ...

class CreateRecheckBatchResponse(_message.Message):
    __slots__ = ("verifications",)
    VERIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    verifications: _containers.RepeatedCompositeFieldContainer[Verification]
    def __init__(self, verifications: _Optional[_Iterable[_Union[Verification, _Mapping]]] = ...) -> None: ...
