"""Progress counts and metadata metrics, counted in SQL at call time."""

from __future__ import annotations

from argilla_server.enums import MetadataPropertyType
from argilla_server.models import Dataset, MetadataProperty, Record, Response, User
from argilla_server.search_engine.base import (
    FloatMetadataMetrics,
    IntegerMetadataMetrics,
    MetadataMetrics,
    TermsMetrics,
)
from sqlalchemy import String, cast, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from argilla_local.sql_json import JsonDialect

# Elasticsearch's bucket limit for terms aggregations, kept so the UI sees the same cap.
MAX_TERMS = 2**14


async def dataset_progress(db: AsyncSession, dataset: Dataset) -> dict:
    """{"total": n, "pending": n, "completed": n} by record status ({} for a draft dataset)."""
    if dataset.is_draft:
        return {}
    status = cast(Record.status, String)
    rows = await db.execute(
        select(status, func.count()).where(Record.dataset_id == dataset.id).group_by(status)
    )
    counts = {str(name): count for name, count in rows}
    return {"total": sum(counts.values()), **counts}


async def user_progress(db: AsyncSession, dataset: Dataset, user: User) -> dict:
    """{"total": n, "submitted": n, "draft": n, "discarded": n}: the user's responses by status."""
    if dataset.is_draft:
        return {}
    status = cast(Response.status, String)
    rows = await db.execute(
        select(status, func.count())
        .join(Record, Record.id == Response.record_id)
        .where(Record.dataset_id == dataset.id, Response.user_id == user.id)
        .group_by(status)
    )
    counts = {str(name): count for name, count in rows}
    return {"total": sum(counts.values()), **counts}


async def metadata_metrics(
    db: AsyncSession, json: JsonDialect, metadata_property: MetadataProperty
) -> MetadataMetrics | None:
    """Term counts (terms) or min/max (integer, float) of a metadata property over its dataset.

    A terms count is the number of records holding the term; the total counts every value
    (a record with a list counts once per element), as Elasticsearch's value_count does.
    """
    rows = json.elements(Record.metadata_, metadata_property.name)
    base = (
        select()
        .select_from(Record)
        .join(rows.source, true())
        .where(Record.dataset_id == metadata_property.dataset_id, rows.text.is_not(None))
    )
    kind = metadata_property.type
    if kind == MetadataPropertyType.terms:
        result = await db.execute(
            base.add_columns(rows.text, func.count())
            .group_by(rows.text)
            .order_by(func.count().desc(), rows.text)
        )
        counts = result.all()
        return TermsMetrics(
            total=sum(count for _, count in counts),
            values=[TermsMetrics.TermCount(term=term, count=count) for term, count in counts[:MAX_TERMS]],
        )
    if kind in (MetadataPropertyType.integer, MetadataPropertyType.float):
        low, high = (await db.execute(base.add_columns(func.min(rows.number), func.max(rows.number)))).one()
        if kind == MetadataPropertyType.integer:
            return IntegerMetadataMetrics(
                min=None if low is None else int(low), max=None if high is None else int(high)
            )
        return FloatMetadataMetrics(min=low, max=high)
    return None
