from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_ELIGIBLE: _ClassVar[Decision]
    DECISION_NOT_ELIGIBLE: _ClassVar[Decision]
    DECISION_NEEDS_REVIEW: _ClassVar[Decision]

class Category(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CATEGORY_UNSPECIFIED: _ClassVar[Category]
    CATEGORY_GENERAL: _ClassVar[Category]
    CATEGORY_SC: _ClassVar[Category]
    CATEGORY_ST: _ClassVar[Category]
    CATEGORY_OBC: _ClassVar[Category]
DECISION_UNSPECIFIED: Decision
DECISION_ELIGIBLE: Decision
DECISION_NOT_ELIGIBLE: Decision
DECISION_NEEDS_REVIEW: Decision
CATEGORY_UNSPECIFIED: Category
CATEGORY_GENERAL: Category
CATEGORY_SC: Category
CATEGORY_ST: Category
CATEGORY_OBC: Category

class RuleDocument(_message.Message):
    __slots__ = ("scheme_name", "version", "document_json")
    SCHEME_NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    scheme_name: str
    version: int
    document_json: str
    def __init__(self, scheme_name: _Optional[str] = ..., version: _Optional[int] = ..., document_json: _Optional[str] = ...) -> None: ...

class CitizenProfile(_message.Message):
    __slots__ = ("citizen_id", "name", "age", "income", "category", "household_size", "has_disability")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    AGE_FIELD_NUMBER: _ClassVar[int]
    INCOME_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    HOUSEHOLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    HAS_DISABILITY_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    name: str
    age: int
    income: float
    category: Category
    household_size: int
    has_disability: bool
    def __init__(self, citizen_id: _Optional[str] = ..., name: _Optional[str] = ..., age: _Optional[int] = ..., income: _Optional[float] = ..., category: _Optional[_Union[Category, str]] = ..., household_size: _Optional[int] = ..., has_disability: _Optional[bool] = ...) -> None: ...

class CriterionResult(_message.Message):
    __slots__ = ("criterion", "passed", "detail", "kind", "values_json")
    CRITERION_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VALUES_JSON_FIELD_NUMBER: _ClassVar[int]
    criterion: str
    passed: bool
    detail: str
    kind: str
    values_json: str
    def __init__(self, criterion: _Optional[str] = ..., passed: _Optional[bool] = ..., detail: _Optional[str] = ..., kind: _Optional[str] = ..., values_json: _Optional[str] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("citizen", "document")
    CITIZEN_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    citizen: CitizenProfile
    document: RuleDocument
    def __init__(self, citizen: _Optional[_Union[CitizenProfile, _Mapping]] = ..., document: _Optional[_Union[RuleDocument, _Mapping]] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ("decision", "reasons", "rule_hash")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    RULE_HASH_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    reasons: _containers.RepeatedCompositeFieldContainer[CriterionResult]
    rule_hash: str
    def __init__(self, decision: _Optional[_Union[Decision, str]] = ..., reasons: _Optional[_Iterable[_Union[CriterionResult, _Mapping]]] = ..., rule_hash: _Optional[str] = ...) -> None: ...

class EvaluateStreamRequest(_message.Message):
    __slots__ = ("batch_id", "ages", "incomes", "first_position", "documents", "size", "categories", "household_sizes", "disabilities")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    AGES_FIELD_NUMBER: _ClassVar[int]
    INCOMES_FIELD_NUMBER: _ClassVar[int]
    FIRST_POSITION_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    HOUSEHOLD_SIZES_FIELD_NUMBER: _ClassVar[int]
    DISABILITIES_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    ages: _containers.RepeatedScalarFieldContainer[int]
    incomes: _containers.RepeatedScalarFieldContainer[float]
    first_position: int
    documents: _containers.RepeatedCompositeFieldContainer[RuleDocument]
    size: int
    categories: _containers.RepeatedScalarFieldContainer[Category]
    household_sizes: _containers.RepeatedScalarFieldContainer[int]
    disabilities: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, batch_id: _Optional[int] = ..., ages: _Optional[_Iterable[int]] = ..., incomes: _Optional[_Iterable[float]] = ..., first_position: _Optional[int] = ..., documents: _Optional[_Iterable[_Union[RuleDocument, _Mapping]]] = ..., size: _Optional[int] = ..., categories: _Optional[_Iterable[_Union[Category, str]]] = ..., household_sizes: _Optional[_Iterable[int]] = ..., disabilities: _Optional[_Iterable[bool]] = ...) -> None: ...

class DecisionColumn(_message.Message):
    __slots__ = ("decisions",)
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedScalarFieldContainer[Decision]
    def __init__(self, decisions: _Optional[_Iterable[_Union[Decision, str]]] = ...) -> None: ...

class EvaluateStreamResponse(_message.Message):
    __slots__ = ("batch_id", "columns", "errors")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    columns: _containers.RepeatedCompositeFieldContainer[DecisionColumn]
    errors: _containers.RepeatedCompositeFieldContainer[ItemError]
    def __init__(self, batch_id: _Optional[int] = ..., columns: _Optional[_Iterable[_Union[DecisionColumn, _Mapping]]] = ..., errors: _Optional[_Iterable[_Union[ItemError, _Mapping]]] = ...) -> None: ...

class ItemError(_message.Message):
    __slots__ = ("index", "error")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    index: int
    error: str
    def __init__(self, index: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...
