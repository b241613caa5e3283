"""Argilla's search filters, sorts and text queries as SQL conditions over its own tables.

The server hands the search engine `argilla_server.search_engine.base` values (`AndFilter`,
`TermsFilter`, `RangeFilter` over record, metadata, suggestion and response scopes; `Order`;
`TextQuery`). `RecordConditions` turns each into a SQLAlchemy expression on `records`, with the
semantics of the Elasticsearch engine it replaces: a list value matches when any element does,
"pending" means "no response" (by the scope's user, or by anyone), missing values sort last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from argilla_server.enums import MetadataPropertyType, QuestionType, ResponseStatusFilter, SortOrder
from argilla_server.errors.future import UnprocessableEntityError
from argilla_server.models import Field, MetadataProperty, Question, Record, Response, Suggestion
from argilla_server.search_engine.base import (
    AndFilter,
    Filter,
    FilterScope,
    MetadataFilterScope,
    Order,
    RangeFilter,
    RecordFilterScope,
    ResponseFilterScope,
    SuggestionFilterScope,
    TermsFilter,
    TextQuery,
)
from sqlalchemy import String, and_, cast, exists, false, func, not_, null, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from argilla_local.sql_json import JsonDialect, JsonElements

RECORD_COLUMNS = {
    "id": Record.id,
    "external_id": Record.external_id,
    "status": cast(Record.status, String),
    "inserted_at": Record.inserted_at,
    "updated_at": Record.updated_at,
}
DATE_PROPERTIES = {"inserted_at", "updated_at"}
NUMERIC_METADATA = {MetadataPropertyType.integer, MetadataPropertyType.float}
# simple_query_string, reduced: "a phrase", -excluded, word; other operators are dropped.
QUERY_TERM = re.compile(r'(-?)"([^"]*)"|(-?)(\S+)')
QUERY_OPERATORS = re.compile(r"[+|()~*]")


class UnsupportedSearch(UnprocessableEntityError):
    """A filter or sort the SQL engine cannot express; the API answers 422 with this message."""

    def __init__(self, message: str):
        super().__init__(message)


@dataclass(frozen=True)
class DatasetSchema:
    """The names the conditions need: questions (id, type), metadata types, searchable fields."""

    questions: dict[str, tuple[UUID, str]]
    metadata_types: dict[str, str]
    text_fields: list[str]

    @classmethod
    async def load(cls, db: AsyncSession, dataset_id: UUID) -> DatasetSchema:
        questions = await db.execute(
            select(Question.name, Question.id, Question.settings).where(Question.dataset_id == dataset_id)
        )
        metadata = await db.execute(
            select(MetadataProperty.name, MetadataProperty.settings).where(
                MetadataProperty.dataset_id == dataset_id
            )
        )
        fields = await db.execute(select(Field.name, Field.settings).where(Field.dataset_id == dataset_id))
        return cls(
            questions={name: (qid, settings.get("type")) for name, qid, settings in questions},
            metadata_types={name: settings.get("type") for name, settings in metadata},
            text_fields=[name for name, settings in fields if settings.get("type") != "image"],
        )


class RecordConditions:
    """SQL conditions and sort keys on `records` for one dataset."""

    def __init__(self, schema: DatasetSchema, json: JsonDialect):
        self.schema = schema
        self.json = json

    # -- filters ---------------------------------------------------------------------------------

    def filter(self, filter: Filter) -> ColumnElement[bool]:
        """The condition for `filter`; raises UnsupportedSearch for a scope it cannot express."""
        if isinstance(filter, AndFilter):
            return and_(true(), *(self.filter(part) for part in filter.filters))
        scope = filter.scope
        if isinstance(scope, RecordFilterScope):
            return self._record_filter(filter, scope)
        if isinstance(scope, MetadataFilterScope):
            return self._metadata_filter(filter, scope)
        if isinstance(scope, SuggestionFilterScope):
            return self._suggestion_filter(filter, scope)
        if isinstance(scope, ResponseFilterScope):
            return self._response_filter(filter, scope)
        raise UnsupportedSearch(f"cannot filter on scope {scope!r}")

    def _record_filter(self, filter: Filter, scope: RecordFilterScope) -> ColumnElement[bool]:
        prop = str(scope.property)
        if prop not in RECORD_COLUMNS:
            raise UnsupportedSearch(f"cannot filter records by {prop!r}; use one of {sorted(RECORD_COLUMNS)}")
        column = RECORD_COLUMNS[prop]
        convert = _as_datetime if prop in DATE_PROPERTIES else (lambda value: value)
        if isinstance(filter, TermsFilter):
            values = [convert(value) for value in filter.values]
            if prop == "id":
                values = [uuid for uuid in map(_as_uuid, filter.values) if uuid is not None]
            return column.in_(values) if values else false()
        return _in_range(column, filter, convert)

    def _metadata_filter(self, filter: Filter, scope: MetadataFilterScope) -> ColumnElement[bool]:
        kind = self.schema.metadata_types.get(scope.metadata_property)
        if kind is None:  # no such property: Elasticsearch has no mapping for it and matches nothing
            return false()
        keys = (scope.metadata_property,)
        return self.json.any_element(
            Record.metadata_, keys, _element_predicate(filter, kind in NUMERIC_METADATA)
        )

    def _suggestion_filter(self, filter: Filter, scope: SuggestionFilterScope) -> ColumnElement[bool]:
        question = self.schema.questions.get(scope.question)
        if question is None:
            return false()
        prop = scope.property or "value"
        if prop in ("agent", "type"):
            column = Suggestion.agent if prop == "agent" else cast(Suggestion.type, String)
            matches = (
                column.in_(filter.values) if isinstance(filter, TermsFilter) else _in_range(column, filter)
            )
        elif prop in ("value", "score"):
            numeric = prop == "score" or question[1] == QuestionType.rating
            column = Suggestion.value if prop == "value" else Suggestion.score
            matches = self.json.any_element(column, (), _element_predicate(filter, numeric))
        else:
            raise UnsupportedSearch(f"cannot filter suggestions by {prop!r}; use value, score, agent or type")
        return exists(
            select(Suggestion.id).where(
                Suggestion.record_id == Record.id, Suggestion.question_id == question[0], matches
            )
        )

    def _response_filter(self, filter: Filter, scope: ResponseFilterScope) -> ColumnElement[bool]:
        def responses(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
            where = [Response.record_id == Record.id, *conditions]
            if scope.user is not None:
                where.append(Response.user_id == scope.user.id)
            return exists(select(Response.id).where(*where))

        if scope.question:
            question = self.schema.questions.get(scope.question)
            if question is None:
                return false()
            numeric = isinstance(filter, RangeFilter)
            keys = (scope.question, "value")
            return responses(
                self.json.any_element(Response.values, keys, _element_predicate(filter, numeric))
            )
        if scope.property == "status" and isinstance(filter, TermsFilter):
            statuses = [str(value) for value in filter.values if value != ResponseStatusFilter.pending]
            parts = []
            if ResponseStatusFilter.pending in filter.values:
                parts.append(not_(responses()))
            if statuses:
                parts.append(responses(cast(Response.status, String).in_(statuses)))
            return or_(false(), *parts)
        raise UnsupportedSearch(
            f"cannot filter responses by {scope!r}; use a question or the status property"
        )

    # -- text queries --------------------------------------------------------------------------

    def text(self, query: TextQuery | str) -> ColumnElement[bool]:
        """Every term of `query` (case-insensitive, substring) in the field, or in any text field."""
        if isinstance(query, str):
            query = TextQuery(q=query)
        names = [query.field] if query.field else self.schema.text_fields
        if not names:
            return false()
        conditions = []
        for negated, term in _query_terms(query.q):
            pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            found = or_(
                *(self.json.scalar_text(Record.fields, name).ilike(pattern, escape="\\") for name in names)
            )
            conditions.append(not_(func.coalesce(found, False)) if negated else found)
        return and_(true(), *conditions)

    # -- sorting --------------------------------------------------------------------------------

    def order_by(self, sort: list[Order]) -> list[ColumnElement]:
        """ORDER BY clauses for `sort`; records without the value come last either way."""
        clauses = []
        for order in sort:
            descending = order.order == SortOrder.desc
            key = self._sort_key(order.scope, descending)
            clauses.append((key.desc() if descending else key.asc()).nulls_last())
        return clauses

    def _sort_key(self, scope: FilterScope, descending: bool) -> ColumnElement:
        pick = func.max if descending else func.min  # Elasticsearch's default for many-valued fields
        if isinstance(scope, RecordFilterScope):
            if str(scope.property) not in RECORD_COLUMNS:
                raise UnsupportedSearch(f"cannot sort records by {scope.property!r}")
            return RECORD_COLUMNS[str(scope.property)]
        if isinstance(scope, MetadataFilterScope):
            kind = self.schema.metadata_types.get(scope.metadata_property)
            if kind is None:
                return null()
            if kind in NUMERIC_METADATA:
                return self.json.scalar_number(Record.metadata_, scope.metadata_property)
            return self.json.scalar_text(Record.metadata_, scope.metadata_property)
        if isinstance(scope, SuggestionFilterScope):
            return self._suggestion_sort_key(scope, pick)
        if isinstance(scope, ResponseFilterScope):
            return self._response_sort_key(scope, pick)
        raise UnsupportedSearch(f"cannot sort by scope {scope!r}")

    def _suggestion_sort_key(self, scope: SuggestionFilterScope, pick: Any) -> ColumnElement:
        question = self.schema.questions.get(scope.question)
        if question is None:
            return null()
        prop = scope.property or "value"
        where = [Suggestion.record_id == Record.id, Suggestion.question_id == question[0]]
        if prop in ("agent", "type"):
            column = Suggestion.agent if prop == "agent" else cast(Suggestion.type, String)
            return select(pick(column)).where(*where).scalar_subquery()
        rows = self.json.elements(Suggestion.value if prop == "value" else Suggestion.score)
        numeric = prop == "score" or question[1] == QuestionType.rating
        value = rows.number if numeric else rows.text
        return (
            select(pick(value))
            .select_from(Suggestion)
            .join(rows.source, true())
            .where(*where)
            .scalar_subquery()
        )

    def _response_sort_key(self, scope: ResponseFilterScope, pick: Any) -> ColumnElement:
        where = [Response.record_id == Record.id]
        if scope.user is not None:
            where.append(Response.user_id == scope.user.id)
        if not scope.question:
            return select(pick(cast(Response.status, String))).where(*where).scalar_subquery()
        question = self.schema.questions.get(scope.question)
        if question is None:
            return null()
        rows: JsonElements = self.json.elements(Response.values, scope.question, "value")
        value = func.avg(rows.number) if question[1] == QuestionType.rating else pick(rows.text)
        return select(value).select_from(Response).join(rows.source, true()).where(*where).scalar_subquery()


def _element_predicate(filter: Filter, numeric: bool):
    """A predicate on one JSON element: terms compare text, ranges compare numbers."""
    if isinstance(filter, TermsFilter):
        values = [str(value) for value in filter.values]
        return lambda rows: rows.text.in_(values)
    if isinstance(filter, RangeFilter):
        if numeric:
            return lambda rows: _in_range(rows.number, filter, float)
        return lambda rows: _in_range(rows.text, filter, str)
    raise UnsupportedSearch(f"cannot apply filter {filter!r}")


def _in_range(column: ColumnElement, filter: Filter, convert=lambda value: value) -> ColumnElement[bool]:
    if not isinstance(filter, RangeFilter):
        raise UnsupportedSearch(f"expected a range filter, got {filter!r}")
    bounds = []
    if filter.ge is not None:
        bounds.append(column >= convert(filter.ge))
    if filter.le is not None:
        bounds.append(column <= convert(filter.le))
    return and_(true(), *bounds)


def _as_datetime(value: Any) -> datetime:
    """A naive UTC datetime (how argilla stores them) from ISO text or epoch milliseconds."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC).replace(tzinfo=None)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise UnsupportedSearch(f"{value!r} is not an ISO 8601 date or epoch milliseconds") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _as_uuid(value: str) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None


def _query_terms(q: str) -> list[tuple[bool, str]]:
    terms = []
    for match in QUERY_TERM.finditer(q):
        negated = bool(match.group(1) or match.group(3))
        term = match.group(2) if match.group(2) is not None else QUERY_OPERATORS.sub("", match.group(4))
        if term.strip():
            terms.append((negated, term.strip()))
    return terms
