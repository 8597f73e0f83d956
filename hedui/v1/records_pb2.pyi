from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PersonRecord(_message.Message):
    __slots__ = ("record_id", "id_number", "name", "hukou_id", "relation_to_head", "status", "status_date")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    HUKOU_ID_FIELD_NUMBER: _ClassVar[int]
    RELATION_TO_HEAD_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_DATE_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    id_number: str
    name: str
    hukou_id: str
    relation_to_head: str
    status: str
    status_date: str
    def __init__(self, record_id: _Optional[str] = ..., id_number: _Optional[str] = ..., name: _Optional[str] = ..., hukou_id: _Optional[str] = ..., relation_to_head: _Optional[str] = ..., status: _Optional[str] = ..., status_date: _Optional[str] = ...) -> None: ...

class PropertyRecord(_message.Message):
    __slots__ = ("record_id", "owner_id", "usage", "area_m2", "value_fen", "acquired", "disposed")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    AREA_M2_FIELD_NUMBER: _ClassVar[int]
    VALUE_FEN_FIELD_NUMBER: _ClassVar[int]
    ACQUIRED_FIELD_NUMBER: _ClassVar[int]
    DISPOSED_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    owner_id: str
    usage: str
    area_m2: float
    value_fen: int
    acquired: str
    disposed: str
    def __init__(self, record_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., usage: _Optional[str] = ..., area_m2: _Optional[float] = ..., value_fen: _Optional[int] = ..., acquired: _Optional[str] = ..., disposed: _Optional[str] = ...) -> None: ...

class ProvidentFundRecord(_message.Message):
    __slots__ = ("record_id", "id_number", "period", "employer", "employer_part_fen", "personal_part_fen")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    EMPLOYER_FIELD_NUMBER: _ClassVar[int]
    EMPLOYER_PART_FEN_FIELD_NUMBER: _ClassVar[int]
    PERSONAL_PART_FEN_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    id_number: str
    period: str
    employer: str
    employer_part_fen: int
    personal_part_fen: int
    def __init__(self, record_id: _Optional[str] = ..., id_number: _Optional[str] = ..., period: _Optional[str] = ..., employer: _Optional[str] = ..., employer_part_fen: _Optional[int] = ..., personal_part_fen: _Optional[int] = ...) -> None: ...

class RentalRecord(_message.Message):
    __slots__ = ("record_id", "owner_id", "period", "rent_fen")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    RENT_FEN_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    owner_id: str
    period: str
    rent_fen: int
    def __init__(self, record_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., period: _Optional[str] = ..., rent_fen: _Optional[int] = ...) -> None: ...

class TaxIncomeRecord(_message.Message):
    __slots__ = ("record_id", "id_number", "period", "category", "amount_fen")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    id_number: str
    period: str
    category: str
    amount_fen: int
    def __init__(self, record_id: _Optional[str] = ..., id_number: _Optional[str] = ..., period: _Optional[str] = ..., category: _Optional[str] = ..., amount_fen: _Optional[int] = ...) -> None: ...

class EnterpriseRecord(_message.Message):
    __slots__ = ("record_id", "id_number", "enterprise", "role", "registered")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ENTERPRISE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    id_number: str
    enterprise: str
    role: str
    registered: str
    def __init__(self, record_id: _Optional[str] = ..., id_number: _Optional[str] = ..., enterprise: _Optional[str] = ..., role: _Optional[str] = ..., registered: _Optional[str] = ...) -> None: ...

class VehicleRecord(_message.Message):
    __slots__ = ("record_id", "owner_id", "plate", "type", "use", "value_fen", "registered")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    PLATE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    USE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FEN_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    owner_id: str
    plate: str
    type: str
    use: str
    value_fen: int
    registered: str
    def __init__(self, record_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., plate: _Optional[str] = ..., type: _Optional[str] = ..., use: _Optional[str] = ..., value_fen: _Optional[int] = ..., registered: _Optional[str] = ...) -> None: ...

class AccountRecord(_message.Message):
    __slots__ = ("record_id", "id_number", "institution", "kind", "balance_fen", "as_of")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    INSTITUTION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FEN_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    id_number: str
    institution: str
    kind: str
    balance_fen: int
    as_of: str
    def __init__(self, record_id: _Optional[str] = ..., id_number: _Optional[str] = ..., institution: _Optional[str] = ..., kind: _Optional[str] = ..., balance_fen: _Optional[int] = ..., as_of: _Optional[str] = ...) -> None: ...

class InsurancePremiumRecord(_message.Message):
    __slots__ = ("record_id", "id_number", "insurer", "period", "amount_fen")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    INSURER_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    id_number: str
    insurer: str
    period: str
    amount_fen: int
    def __init__(self, record_id: _Optional[str] = ..., id_number: _Optional[str] = ..., insurer: _Optional[str] = ..., period: _Optional[str] = ..., amount_fen: _Optional[int] = ...) -> None: ...

class ContributionRecord(_message.Message):
    __slots__ = ("record_id", "id_number", "period", "scheme", "employer", "base_fen", "employer_part_fen", "personal_part_fen")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    EMPLOYER_FIELD_NUMBER: _ClassVar[int]
    BASE_FEN_FIELD_NUMBER: _ClassVar[int]
    EMPLOYER_PART_FEN_FIELD_NUMBER: _ClassVar[int]
    PERSONAL_PART_FEN_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    id_number: str
    period: str
    scheme: str
    employer: str
    base_fen: int
    employer_part_fen: int
    personal_part_fen: int
    def __init__(self, record_id: _Optional[str] = ..., id_number: _Optional[str] = ..., period: _Optional[str] = ..., scheme: _Optional[str] = ..., employer: _Optional[str] = ..., base_fen: _Optional[int] = ..., employer_part_fen: _Optional[int] = ..., personal_part_fen: _Optional[int] = ...) -> None: ...

class PensionRecord(_message.Message):
    __slots__ = ("record_id", "id_number", "period", "amount_fen")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    id_number: str
    period: str
    amount_fen: int
    def __init__(self, record_id: _Optional[str] = ..., id_number: _Optional[str] = ..., period: _Optional[str] = ..., amount_fen: _Optional[int] = ...) -> None: ...

class BenefitRecord(_message.Message):
    __slots__ = ("record_id", "id_number", "period", "kind", "amount_fen")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    id_number: str
    period: str
    kind: str
    amount_fen: int
    def __init__(self, record_id: _Optional[str] = ..., id_number: _Optional[str] = ..., period: _Optional[str] = ..., kind: _Optional[str] = ..., amount_fen: _Optional[int] = ...) -> None: ...

class DepartmentRecord(_message.Message):
    __slots__ = ("department", "person", "property", "provident_fund", "rental", "tax_income", "enterprise", "vehicle", "account", "insurance_premium", "contribution", "pension", "benefit")
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    PERSON_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_FIELD_NUMBER: _ClassVar[int]
    PROVIDENT_FUND_FIELD_NUMBER: _ClassVar[int]
    RENTAL_FIELD_NUMBER: _ClassVar[int]
    TAX_INCOME_FIELD_NUMBER: _ClassVar[int]
    ENTERPRISE_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    INSURANCE_PREMIUM_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    PENSION_FIELD_NUMBER: _ClassVar[int]
    BENEFIT_FIELD_NUMBER: _ClassVar[int]
    department: str
    person: PersonRecord
    property: PropertyRecord
    provident_fund: ProvidentFundRecord
    rental: RentalRecord
    tax_income: TaxIncomeRecord
    enterprise: EnterpriseRecord
    vehicle: VehicleRecord
    account: AccountRecord
    insurance_premium: InsurancePremiumRecord
    contribution: ContributionRecord
    pension: PensionRecord
    benefit: BenefitRecord
    def __init__(self, department: _Optional[str] = ..., person: _Optional[_Union[PersonRecord, _Mapping]] = ..., property: _Optional[_Union[PropertyRecord, _Mapping]] = ..., provident_fund: _Optional[_Union[ProvidentFundRecord, _Mapping]] = ..., rental: _Optional[_Union[RentalRecord, _Mapping]] = ..., tax_income: _Optional[_Union[TaxIncomeRecord, _Mapping]] = ..., enterprise: _Optional[_Union[EnterpriseRecord, _Mapping]] = ..., vehicle: _Optional[_Union[VehicleRecord, _Mapping]] = ..., account: _Optional[_Union[AccountRecord, _Mapping]] = ..., insurance_premium: _Optional[_Union[InsurancePremiumRecord, _Mapping]] = ..., contribution: _Optional[_Union[ContributionRecord, _Mapping]] = ..., pension: _Optional[_Union[PensionRecord, _Mapping]] = ..., benefit: _Optional[_Union[BenefitRecord, _Mapping]] = ...) -> None: ...
