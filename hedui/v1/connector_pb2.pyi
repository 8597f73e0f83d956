from hedui.v1 import records_pb2 as _records_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ConnectorDescription(_message.Message):
    __slots__ = ("department", "data_categories", "max_batch_size", "max_queries_per_second", "asynchronous", "max_identities_per_second", "max_concurrent_queries", "shared_batches")
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    DATA_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_QUERIES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    ASYNCHRONOUS_FIELD_NUMBER: _ClassVar[int]
    MAX_IDENTITIES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_QUERIES_FIELD_NUMBER: _ClassVar[int]
    SHARED_BATCHES_FIELD_NUMBER: _ClassVar[int]
    department: str
    data_categories: _containers.RepeatedScalarFieldContainer[str]
    max_batch_size: int
    max_queries_per_second: int
    asynchronous: bool
    max_identities_per_second: int
    max_concurrent_queries: int
    shared_batches: bool
    def __init__(self, department: _Optional[str] = ..., data_categories: _Optional[_Iterable[str]] = ..., max_batch_size: _Optional[int] = ..., max_queries_per_second: _Optional[int] = ..., asynchronous: _Optional[bool] = ..., max_identities_per_second: _Optional[int] = ..., max_concurrent_queries: _Optional[int] = ..., shared_batches: _Optional[bool] = ...) -> None: ...

class QueryRequest(_message.Message):
    __slots__ = ("id_numbers", "authorization_reference", "purpose", "query_id", "idempotency_key")
    ID_NUMBERS_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZATION_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    id_numbers: _containers.RepeatedScalarFieldContainer[str]
    authorization_reference: str
    purpose: str
    query_id: str
    idempotency_key: str
    def __init__(self, id_numbers: _Optional[_Iterable[str]] = ..., authorization_reference: _Optional[str] = ..., purpose: _Optional[str] = ..., query_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class Answer(_message.Message):
    __slots__ = ("records", "answered_at")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_AT_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[_records_pb2.DepartmentRecord]
    answered_at: str
    def __init__(self, records: _Optional[_Iterable[_Union[_records_pb2.DepartmentRecord, _Mapping]]] = ..., answered_at: _Optional[str] = ...) -> None: ...

class Ticket(_message.Message):
    __slots__ = ("ticket_id", "ready_after")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    READY_AFTER_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    ready_after: str
    def __init__(self, ticket_id: _Optional[str] = ..., ready_after: _Optional[str] = ...) -> None: ...

class QueryResponse(_message.Message):
    __slots__ = ("answer", "ticket")
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    TICKET_FIELD_NUMBER: _ClassVar[int]
    answer: Answer
    ticket: Ticket
    def __init__(self, answer: _Optional[_Union[Answer, _Mapping]] = ..., ticket: _Optional[_Union[Ticket, _Mapping]] = ...) -> None: ...

class PollRequest(_message.Message):
    __slots__ = ("ticket_id",)
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    def __init__(self, ticket_id: _Optional[str] = ...) -> None: ...
