from hedui.v1 import records_pb2 as _records_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Report(_message.Message):
    __slots__ = ("name", "report_id", "verification_id", "version", "generated_at", "policy", "members", "sources", "assessment", "flags", "hearing_required", "filing_for_review_required", "changes", "next_recheck_date", "gradual_exit_until", "application_date", "area", "purpose", "commissioned_by", "authorizations", "previous_version", "previous_report_id", "audit_reference", "policy_version", "policy_sha256", "household_address", "case_number", "pdf", "html")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    ASSESSMENT_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    HEARING_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    FILING_FOR_REVIEW_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_RECHECK_DATE_FIELD_NUMBER: _ClassVar[int]
    GRADUAL_EXIT_UNTIL_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_DATE_FIELD_NUMBER: _ClassVar[int]
    AREA_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    COMMISSIONED_BY_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZATIONS_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VERSION_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    AUDIT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    POLICY_SHA256_FIELD_NUMBER: _ClassVar[int]
    HOUSEHOLD_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PDF_FIELD_NUMBER: _ClassVar[int]
    HTML_FIELD_NUMBER: _ClassVar[int]
    name: str
    report_id: str
    verification_id: str
    version: int
    generated_at: str
    policy: ReportPolicy
    members: _containers.RepeatedCompositeFieldContainer[MemberReport]
    sources: _containers.RepeatedCompositeFieldContainer[Source]
    assessment: Assessment
    flags: _containers.RepeatedCompositeFieldContainer[WarningFlag]
    hearing_required: bool
    filing_for_review_required: bool
    changes: ReportChanges
    next_recheck_date: str
    gradual_exit_until: str
    application_date: str
    area: str
    purpose: str
    commissioned_by: str
    authorizations: _containers.RepeatedScalarFieldContainer[str]
    previous_version: str
    previous_report_id: str
    audit_reference: str
    policy_version: str
    policy_sha256: str
    household_address: str
    case_number: str
    pdf: bytes
    html: str
    def __init__(self, name: _Optional[str] = ..., report_id: _Optional[str] = ..., verification_id: _Optional[str] = ..., version: _Optional[int] = ..., generated_at: _Optional[str] = ..., policy: _Optional[_Union[ReportPolicy, _Mapping]] = ..., members: _Optional[_Iterable[_Union[MemberReport, _Mapping]]] = ..., sources: _Optional[_Iterable[_Union[Source, _Mapping]]] = ..., assessment: _Optional[_Union[Assessment, _Mapping]] = ..., flags: _Optional[_Iterable[_Union[WarningFlag, _Mapping]]] = ..., hearing_required: _Optional[bool] = ..., filing_for_review_required: _Optional[bool] = ..., changes: _Optional[_Union[ReportChanges, _Mapping]] = ..., next_recheck_date: _Optional[str] = ..., gradual_exit_until: _Optional[str] = ..., application_date: _Optional[str] = ..., area: _Optional[str] = ..., purpose: _Optional[str] = ..., commissioned_by: _Optional[str] = ..., authorizations: _Optional[_Iterable[str]] = ..., previous_version: _Optional[str] = ..., previous_report_id: _Optional[str] = ..., audit_reference: _Optional[str] = ..., policy_version: _Optional[str] = ..., policy_sha256: _Optional[str] = ..., household_address: _Optional[str] = ..., case_number: _Optional[str] = ..., pdf: _Optional[bytes] = ..., html: _Optional[str] = ...) -> None: ...

class ReportPolicy(_message.Message):
    __slots__ = ("locality", "effective_from")
    LOCALITY_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_FROM_FIELD_NUMBER: _ClassVar[int]
    locality: str
    effective_from: str
    def __init__(self, locality: _Optional[str] = ..., effective_from: _Optional[str] = ...) -> None: ...

class MemberReport(_message.Message):
    __slots__ = ("id_number", "name", "relation", "status", "counted_in_household", "declared_annual_income_fen", "verified_annual_income_fen", "counted_annual_income_fen", "income_by_category", "records")
    class IncomeByCategoryEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COUNTED_IN_HOUSEHOLD_FIELD_NUMBER: _ClassVar[int]
    DECLARED_ANNUAL_INCOME_FEN_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_ANNUAL_INCOME_FEN_FIELD_NUMBER: _ClassVar[int]
    COUNTED_ANNUAL_INCOME_FEN_FIELD_NUMBER: _ClassVar[int]
    INCOME_BY_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    id_number: str
    name: str
    relation: str
    status: str
    counted_in_household: bool
    declared_annual_income_fen: int
    verified_annual_income_fen: int
    counted_annual_income_fen: int
    income_by_category: _containers.ScalarMap[str, int]
    records: _containers.RepeatedCompositeFieldContainer[_records_pb2.DepartmentRecord]
    def __init__(self, id_number: _Optional[str] = ..., name: _Optional[str] = ..., relation: _Optional[str] = ..., status: _Optional[str] = ..., counted_in_household: _Optional[bool] = ..., declared_annual_income_fen: _Optional[int] = ..., verified_annual_income_fen: _Optional[int] = ..., counted_annual_income_fen: _Optional[int] = ..., income_by_category: _Optional[_Mapping[str, int]] = ..., records: _Optional[_Iterable[_Union[_records_pb2.DepartmentRecord, _Mapping]]] = ...) -> None: ...

class Source(_message.Message):
    __slots__ = ("department", "status", "records", "answered_at", "detail", "not_queried", "data_cutoff")
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_AT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    NOT_QUERIED_FIELD_NUMBER: _ClassVar[int]
    DATA_CUTOFF_FIELD_NUMBER: _ClassVar[int]
    department: str
    status: str
    records: int
    answered_at: str
    detail: str
    not_queried: _containers.RepeatedScalarFieldContainer[str]
    data_cutoff: str
    def __init__(self, department: _Optional[str] = ..., status: _Optional[str] = ..., records: _Optional[int] = ..., answered_at: _Optional[str] = ..., detail: _Optional[str] = ..., not_queried: _Optional[_Iterable[str]] = ..., data_cutoff: _Optional[str] = ...) -> None: ...

class Deduction(_message.Message):
    __slots__ = ("id_number", "kind", "declared_fen", "allowed_fen", "evidence", "note", "note_code", "note_zh")
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DECLARED_FEN_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_FEN_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    NOTE_CODE_FIELD_NUMBER: _ClassVar[int]
    NOTE_ZH_FIELD_NUMBER: _ClassVar[int]
    id_number: str
    kind: str
    declared_fen: int
    allowed_fen: int
    evidence: str
    note: str
    note_code: str
    note_zh: str
    def __init__(self, id_number: _Optional[str] = ..., kind: _Optional[str] = ..., declared_fen: _Optional[int] = ..., allowed_fen: _Optional[int] = ..., evidence: _Optional[str] = ..., note: _Optional[str] = ..., note_code: _Optional[str] = ..., note_zh: _Optional[str] = ...) -> None: ...

class Assessment(_message.Message):
    __slots__ = ("classification", "household_size", "annual_income_fen", "income_by_category", "deductions_fen", "per_capita_monthly_income_before_fen", "per_capita_monthly_income_fen", "standard_fen", "financial_assets_fen", "deductions", "window_start", "window_end", "financial_assets_limit_fen", "residential_properties", "marginal_standard_fen", "classification_reasons", "derivations")
    class IncomeByCategoryEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    CLASSIFICATION_FIELD_NUMBER: _ClassVar[int]
    HOUSEHOLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    ANNUAL_INCOME_FEN_FIELD_NUMBER: _ClassVar[int]
    INCOME_BY_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    DEDUCTIONS_FEN_FIELD_NUMBER: _ClassVar[int]
    PER_CAPITA_MONTHLY_INCOME_BEFORE_FEN_FIELD_NUMBER: _ClassVar[int]
    PER_CAPITA_MONTHLY_INCOME_FEN_FIELD_NUMBER: _ClassVar[int]
    STANDARD_FEN_FIELD_NUMBER: _ClassVar[int]
    FINANCIAL_ASSETS_FEN_FIELD_NUMBER: _ClassVar[int]
    DEDUCTIONS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    FINANCIAL_ASSETS_LIMIT_FEN_FIELD_NUMBER: _ClassVar[int]
    RESIDENTIAL_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    MARGINAL_STANDARD_FEN_FIELD_NUMBER: _ClassVar[int]
    CLASSIFICATION_REASONS_FIELD_NUMBER: _ClassVar[int]
    DERIVATIONS_FIELD_NUMBER: _ClassVar[int]
    classification: str
    household_size: int
    annual_income_fen: int
    income_by_category: _containers.ScalarMap[str, int]
    deductions_fen: int
    per_capita_monthly_income_before_fen: int
    per_capita_monthly_income_fen: int
    standard_fen: int
    financial_assets_fen: int
    deductions: _containers.RepeatedCompositeFieldContainer[Deduction]
    window_start: str
    window_end: str
    financial_assets_limit_fen: int
    residential_properties: int
    marginal_standard_fen: int
    classification_reasons: _containers.RepeatedCompositeFieldContainer[ClassificationReason]
    derivations: _containers.RepeatedCompositeFieldContainer[Derivation]
    def __init__(self, classification: _Optional[str] = ..., household_size: _Optional[int] = ..., annual_income_fen: _Optional[int] = ..., income_by_category: _Optional[_Mapping[str, int]] = ..., deductions_fen: _Optional[int] = ..., per_capita_monthly_income_before_fen: _Optional[int] = ..., per_capita_monthly_income_fen: _Optional[int] = ..., standard_fen: _Optional[int] = ..., financial_assets_fen: _Optional[int] = ..., deductions: _Optional[_Iterable[_Union[Deduction, _Mapping]]] = ..., window_start: _Optional[str] = ..., window_end: _Optional[str] = ..., financial_assets_limit_fen: _Optional[int] = ..., residential_properties: _Optional[int] = ..., marginal_standard_fen: _Optional[int] = ..., classification_reasons: _Optional[_Iterable[_Union[ClassificationReason, _Mapping]]] = ..., derivations: _Optional[_Iterable[_Union[Derivation, _Mapping]]] = ...) -> None: ...

class Derivation(_message.Message):
    __slots__ = ("figure", "value", "rule", "policy_version", "operation", "terms", "parameters", "arithmetic")
    FIGURE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    ARITHMETIC_FIELD_NUMBER: _ClassVar[int]
    figure: str
    value: int
    rule: str
    policy_version: str
    operation: str
    terms: _containers.RepeatedCompositeFieldContainer[DerivationTerm]
    parameters: _containers.RepeatedCompositeFieldContainer[PolicyParameter]
    arithmetic: str
    def __init__(self, figure: _Optional[str] = ..., value: _Optional[int] = ..., rule: _Optional[str] = ..., policy_version: _Optional[str] = ..., operation: _Optional[str] = ..., terms: _Optional[_Iterable[_Union[DerivationTerm, _Mapping]]] = ..., parameters: _Optional[_Iterable[_Union[PolicyParameter, _Mapping]]] = ..., arithmetic: _Optional[str] = ...) -> None: ...

class DerivationTerm(_message.Message):
    __slots__ = ("name", "value", "id_number", "figure", "records")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    FIGURE_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: int
    id_number: str
    figure: str
    records: _containers.RepeatedCompositeFieldContainer[RecordUse]
    def __init__(self, name: _Optional[str] = ..., value: _Optional[int] = ..., id_number: _Optional[str] = ..., figure: _Optional[str] = ..., records: _Optional[_Iterable[_Union[RecordUse, _Mapping]]] = ...) -> None: ...

class RecordUse(_message.Message):
    __slots__ = ("department", "record_id", "as_of")
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    department: str
    record_id: str
    as_of: str
    def __init__(self, department: _Optional[str] = ..., record_id: _Optional[str] = ..., as_of: _Optional[str] = ...) -> None: ...

class PolicyParameter(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class ClassificationReason(_message.Message):
    __slots__ = ("code", "message_zh", "message_en")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ZH_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_EN_FIELD_NUMBER: _ClassVar[int]
    code: str
    message_zh: str
    message_en: str
    def __init__(self, code: _Optional[str] = ..., message_zh: _Optional[str] = ..., message_en: _Optional[str] = ...) -> None: ...

class Evidence(_message.Message):
    __slots__ = ("department", "record_id", "field", "value")
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    department: str
    record_id: str
    field: str
    value: str
    def __init__(self, department: _Optional[str] = ..., record_id: _Optional[str] = ..., field: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class WarningFlag(_message.Message):
    __slots__ = ("code", "severity", "id_number", "department", "evidence", "message_zh", "message_en")
    CODE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ZH_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_EN_FIELD_NUMBER: _ClassVar[int]
    code: str
    severity: str
    id_number: str
    department: str
    evidence: _containers.RepeatedCompositeFieldContainer[Evidence]
    message_zh: str
    message_en: str
    def __init__(self, code: _Optional[str] = ..., severity: _Optional[str] = ..., id_number: _Optional[str] = ..., department: _Optional[str] = ..., evidence: _Optional[_Iterable[_Union[Evidence, _Mapping]]] = ..., message_zh: _Optional[str] = ..., message_en: _Optional[str] = ...) -> None: ...

class ReportChanges(_message.Message):
    __slots__ = ("previous_report_id", "members_added", "members_removed", "income_by_category_before", "income_by_category_after", "financial_assets_before_fen", "financial_assets_after_fen", "warnings_appeared", "warnings_cleared", "classification_before", "classification_after", "previous_verification_id", "previous_version", "previous_application_date", "household_size_before", "household_size_after", "annual_income_before_fen", "annual_income_after_fen", "deductions_before_fen", "deductions_after_fen", "per_capita_monthly_income_before_fen", "per_capita_monthly_income_after_fen", "residential_properties_before", "residential_properties_after", "member_changes", "warning_changes")
    class IncomeByCategoryBeforeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class IncomeByCategoryAfterEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    PREVIOUS_REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_ADDED_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    INCOME_BY_CATEGORY_BEFORE_FIELD_NUMBER: _ClassVar[int]
    INCOME_BY_CATEGORY_AFTER_FIELD_NUMBER: _ClassVar[int]
    FINANCIAL_ASSETS_BEFORE_FEN_FIELD_NUMBER: _ClassVar[int]
    FINANCIAL_ASSETS_AFTER_FEN_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_APPEARED_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_CLEARED_FIELD_NUMBER: _ClassVar[int]
    CLASSIFICATION_BEFORE_FIELD_NUMBER: _ClassVar[int]
    CLASSIFICATION_AFTER_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VERIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VERSION_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_APPLICATION_DATE_FIELD_NUMBER: _ClassVar[int]
    HOUSEHOLD_SIZE_BEFORE_FIELD_NUMBER: _ClassVar[int]
    HOUSEHOLD_SIZE_AFTER_FIELD_NUMBER: _ClassVar[int]
    ANNUAL_INCOME_BEFORE_FEN_FIELD_NUMBER: _ClassVar[int]
    ANNUAL_INCOME_AFTER_FEN_FIELD_NUMBER: _ClassVar[int]
    DEDUCTIONS_BEFORE_FEN_FIELD_NUMBER: _ClassVar[int]
    DEDUCTIONS_AFTER_FEN_FIELD_NUMBER: _ClassVar[int]
    PER_CAPITA_MONTHLY_INCOME_BEFORE_FEN_FIELD_NUMBER: _ClassVar[int]
    PER_CAPITA_MONTHLY_INCOME_AFTER_FEN_FIELD_NUMBER: _ClassVar[int]
    RESIDENTIAL_PROPERTIES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    RESIDENTIAL_PROPERTIES_AFTER_FIELD_NUMBER: _ClassVar[int]
    MEMBER_CHANGES_FIELD_NUMBER: _ClassVar[int]
    WARNING_CHANGES_FIELD_NUMBER: _ClassVar[int]
    previous_report_id: str
    members_added: _containers.RepeatedScalarFieldContainer[str]
    members_removed: _containers.RepeatedScalarFieldContainer[str]
    income_by_category_before: _containers.ScalarMap[str, int]
    income_by_category_after: _containers.ScalarMap[str, int]
    financial_assets_before_fen: int
    financial_assets_after_fen: int
    warnings_appeared: _containers.RepeatedScalarFieldContainer[str]
    warnings_cleared: _containers.RepeatedScalarFieldContainer[str]
    classification_before: str
    classification_after: str
    previous_verification_id: str
    previous_version: int
    previous_application_date: str
    household_size_before: int
    household_size_after: int
    annual_income_before_fen: int
    annual_income_after_fen: int
    deductions_before_fen: int
    deductions_after_fen: int
    per_capita_monthly_income_before_fen: int
    per_capita_monthly_income_after_fen: int
    residential_properties_before: int
    residential_properties_after: int
    member_changes: _containers.RepeatedCompositeFieldContainer[MemberChange]
    warning_changes: _containers.RepeatedCompositeFieldContainer[WarningChange]
    def __init__(self, previous_report_id: _Optional[str] = ..., members_added: _Optional[_Iterable[str]] = ..., members_removed: _Optional[_Iterable[str]] = ..., income_by_category_before: _Optional[_Mapping[str, int]] = ..., income_by_category_after: _Optional[_Mapping[str, int]] = ..., financial_assets_before_fen: _Optional[int] = ..., financial_assets_after_fen: _Optional[int] = ..., warnings_appeared: _Optional[_Iterable[str]] = ..., warnings_cleared: _Optional[_Iterable[str]] = ..., classification_before: _Optional[str] = ..., classification_after: _Optional[str] = ..., previous_verification_id: _Optional[str] = ..., previous_version: _Optional[int] = ..., previous_application_date: _Optional[str] = ..., household_size_before: _Optional[int] = ..., household_size_after: _Optional[int] = ..., annual_income_before_fen: _Optional[int] = ..., annual_income_after_fen: _Optional[int] = ..., deductions_before_fen: _Optional[int] = ..., deductions_after_fen: _Optional[int] = ..., per_capita_monthly_income_before_fen: _Optional[int] = ..., per_capita_monthly_income_after_fen: _Optional[int] = ..., residential_properties_before: _Optional[int] = ..., residential_properties_after: _Optional[int] = ..., member_changes: _Optional[_Iterable[_Union[MemberChange, _Mapping]]] = ..., warning_changes: _Optional[_Iterable[_Union[WarningChange, _Mapping]]] = ...) -> None: ...

class MemberChange(_message.Message):
    __slots__ = ("id_number", "name", "change", "counted_before", "counted_after", "counted_annual_income_before_fen", "counted_annual_income_after_fen", "wages_before_fen", "wages_after_fen")
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    COUNTED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    COUNTED_AFTER_FIELD_NUMBER: _ClassVar[int]
    COUNTED_ANNUAL_INCOME_BEFORE_FEN_FIELD_NUMBER: _ClassVar[int]
    COUNTED_ANNUAL_INCOME_AFTER_FEN_FIELD_NUMBER: _ClassVar[int]
    WAGES_BEFORE_FEN_FIELD_NUMBER: _ClassVar[int]
    WAGES_AFTER_FEN_FIELD_NUMBER: _ClassVar[int]
    id_number: str
    name: str
    change: str
    counted_before: bool
    counted_after: bool
    counted_annual_income_before_fen: int
    counted_annual_income_after_fen: int
    wages_before_fen: int
    wages_after_fen: int
    def __init__(self, id_number: _Optional[str] = ..., name: _Optional[str] = ..., change: _Optional[str] = ..., counted_before: _Optional[bool] = ..., counted_after: _Optional[bool] = ..., counted_annual_income_before_fen: _Optional[int] = ..., counted_annual_income_after_fen: _Optional[int] = ..., wages_before_fen: _Optional[int] = ..., wages_after_fen: _Optional[int] = ...) -> None: ...

class WarningChange(_message.Message):
    __slots__ = ("code", "severity", "id_number", "department", "change", "message_zh")
    CODE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ZH_FIELD_NUMBER: _ClassVar[int]
    code: str
    severity: str
    id_number: str
    department: str
    change: str
    message_zh: str
    def __init__(self, code: _Optional[str] = ..., severity: _Optional[str] = ..., id_number: _Optional[str] = ..., department: _Optional[str] = ..., change: _Optional[str] = ..., message_zh: _Optional[str] = ...) -> None: ...
