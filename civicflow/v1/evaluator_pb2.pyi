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

class EligibilityRules(_message.Message):
    __slots__ = ("scheme_name", "min_age", "max_age", "max_income")
    SCHEME_NAME_FIELD_NUMBER: _ClassVar[int]
    MIN_AGE_FIELD_NUMBER: _ClassVar[int]
    MAX_AGE_FIELD_NUMBER: _ClassVar[int]
    MAX_INCOME_FIELD_NUMBER: _ClassVar[int]
    scheme_name: str
    min_age: int
    max_age: int
    max_income: float
    def __init__(self, scheme_name: _Optional[str] = ..., min_age: _Optional[int] = ..., max_age: _Optional[int] = ..., max_income: _Optional[float] = ...) -> None: ...

class CitizenProfile(_message.Message):
    __slots__ = ("citizen_id", "name", "age", "income", "category")
    CITIZEN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    AGE_FIELD_NUMBER: _ClassVar[int]
    INCOME_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    citizen_id: str
    name: str
    age: int
    income: float
    category: Category
    def __init__(self, citizen_id: _Optional[str] = ..., name: _Optional[str] = ..., age: _Optional[int] = ..., income: _Optional[float] = ..., category: _Optional[_Union[Category, str]] = ...) -> None: ...

class CriterionResult(_message.Message):
    __slots__ = ("criterion", "passed", "detail")
    CRITERION_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    criterion: str
    passed: bool
    detail: str
    def __init__(self, criterion: _Optional[str] = ..., passed: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("citizen", "rules")
    CITIZEN_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    citizen: CitizenProfile
    rules: EligibilityRules
    def __init__(self, citizen: _Optional[_Union[CitizenProfile, _Mapping]] = ..., rules: _Optional[_Union[EligibilityRules, _Mapping]] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ("decision", "reasons")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    reasons: _containers.RepeatedCompositeFieldContainer[CriterionResult]
    def __init__(self, decision: _Optional[_Union[Decision, str]] = ..., reasons: _Optional[_Iterable[_Union[CriterionResult, _Mapping]]] = ...) -> None: ...

class EvaluateStreamRequest(_message.Message):
    __slots__ = ("batch_id", "rule_sets", "ages", "incomes", "first_position")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_SETS_FIELD_NUMBER: _ClassVar[int]
    AGES_FIELD_NUMBER: _ClassVar[int]
    INCOMES_FIELD_NUMBER: _ClassVar[int]
    FIRST_POSITION_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    rule_sets: _containers.RepeatedCompositeFieldContainer[EligibilityRules]
    ages: _containers.RepeatedScalarFieldContainer[int]
    incomes: _containers.RepeatedScalarFieldContainer[float]
    first_position: int
    def __init__(self, batch_id: _Optional[int] = ..., rule_sets: _Optional[_Iterable[_Union[EligibilityRules, _Mapping]]] = ..., ages: _Optional[_Iterable[int]] = ..., incomes: _Optional[_Iterable[float]] = ..., first_position: _Optional[int] = ...) -> None: ...

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
