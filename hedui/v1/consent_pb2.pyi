from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Envelope(_message.Message):
    __slots__ = ("payload", "payload_type", "signatures")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    payload_type: str
    signatures: _containers.RepeatedCompositeFieldContainer[EnvelopeSignature]
    def __init__(self, payload: _Optional[bytes] = ..., payload_type: _Optional[str] = ..., signatures: _Optional[_Iterable[_Union[EnvelopeSignature, _Mapping]]] = ...) -> None: ...

class EnvelopeSignature(_message.Message):
    __slots__ = ("keyid", "sig")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    SIG_FIELD_NUMBER: _ClassVar[int]
    keyid: str
    sig: bytes
    def __init__(self, keyid: _Optional[str] = ..., sig: _Optional[bytes] = ...) -> None: ...

class AuthorizedMember(_message.Message):
    __slots__ = ("id_number", "name", "signed")
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIGNED_FIELD_NUMBER: _ClassVar[int]
    id_number: str
    name: str
    signed: bool
    def __init__(self, id_number: _Optional[str] = ..., name: _Optional[str] = ..., signed: _Optional[bool] = ...) -> None: ...

class Signer(_message.Message):
    __slots__ = ("keyid", "kind", "organisation", "member_id_number", "certified_by")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CERTIFIED_BY_FIELD_NUMBER: _ClassVar[int]
    keyid: str
    kind: str
    organisation: str
    member_id_number: str
    certified_by: str
    def __init__(self, keyid: _Optional[str] = ..., kind: _Optional[str] = ..., organisation: _Optional[str] = ..., member_id_number: _Optional[str] = ..., certified_by: _Optional[str] = ...) -> None: ...

class Authorization(_message.Message):
    __slots__ = ("name", "state", "commissioned_by", "purpose", "members", "departments", "valid_from", "valid_until", "create_time", "revoke_time", "revoke_reason", "signed_by", "envelope", "member_key_certificates", "signers", "signature_problem")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Authorization.State]
        ACTIVE: _ClassVar[Authorization.State]
        REVOKED: _ClassVar[Authorization.State]
        EXPIRED: _ClassVar[Authorization.State]
    STATE_UNSPECIFIED: Authorization.State
    ACTIVE: Authorization.State
    REVOKED: Authorization.State
    EXPIRED: Authorization.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    COMMISSIONED_BY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENTS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_REASON_FIELD_NUMBER: _ClassVar[int]
    SIGNED_BY_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_KEY_CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    SIGNERS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_PROBLEM_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: Authorization.State
    commissioned_by: str
    purpose: str
    members: _containers.RepeatedCompositeFieldContainer[AuthorizedMember]
    departments: _containers.RepeatedScalarFieldContainer[str]
    valid_from: str
    valid_until: str
    create_time: str
    revoke_time: str
    revoke_reason: str
    signed_by: _containers.RepeatedScalarFieldContainer[str]
    envelope: Envelope
    member_key_certificates: _containers.RepeatedCompositeFieldContainer[Envelope]
    signers: _containers.RepeatedCompositeFieldContainer[Signer]
    signature_problem: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[Authorization.State, str]] = ..., commissioned_by: _Optional[str] = ..., purpose: _Optional[str] = ..., members: _Optional[_Iterable[_Union[AuthorizedMember, _Mapping]]] = ..., departments: _Optional[_Iterable[str]] = ..., valid_from: _Optional[str] = ..., valid_until: _Optional[str] = ..., create_time: _Optional[str] = ..., revoke_time: _Optional[str] = ..., revoke_reason: _Optional[str] = ..., signed_by: _Optional[_Iterable[str]] = ..., envelope: _Optional[_Union[Envelope, _Mapping]] = ..., member_key_certificates: _Optional[_Iterable[_Union[Envelope, _Mapping]]] = ..., signers: _Optional[_Iterable[_Union[Signer, _Mapping]]] = ..., signature_problem: _Optional[str] = ...) -> None: ...

class RegisterAuthorizationRequest(_message.Message):
    __slots__ = ("envelope", "request_id", "member_key_certificates")
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_KEY_CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    envelope: Envelope
    request_id: str
    member_key_certificates: _containers.RepeatedCompositeFieldContainer[Envelope]
    def __init__(self, envelope: _Optional[_Union[Envelope, _Mapping]] = ..., request_id: _Optional[str] = ..., member_key_certificates: _Optional[_Iterable[_Union[Envelope, _Mapping]]] = ...) -> None: ...

class GetAuthorizationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RevokeAuthorizationRequest(_message.Message):
    __slots__ = ("name", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ListAuthorizationsRequest(_message.Message):
    __slots__ = ("member_id_number", "page_size", "page_token")
    MEMBER_ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    member_id_number: str
    page_size: int
    page_token: str
    def __init__(self, member_id_number: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAuthorizationsResponse(_message.Message):
    __slots__ = ("authorizations", "next_page_token")
    AUTHORIZATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    authorizations: _containers.RepeatedCompositeFieldContainer[Authorization]
    next_page_token: str
    def __init__(self, authorizations: _Optional[_Iterable[_Union[Authorization, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
