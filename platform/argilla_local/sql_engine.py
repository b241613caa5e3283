"""A search engine for argilla-server 2.8.0 that answers from the server's own SQL database.

Registered as `sql` with Argilla's own registry; a process that imports this module and runs
with ARGILLA_SEARCH_ENGINE=sql (see launch.py) uses it in place of Elasticsearch. The database
already holds records, responses, suggestions and metadata, so every write method does nothing
and every read is a query at call time: nothing to keep in sync, nothing to rebuild after a
restart, and the same answers on SQLite and PostgreSQL.

Not supported: vector similarity search (raises UnsupportedSearch); text queries match
case-insensitive substrings of every term rather than Elasticsearch's analyzed words.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from argilla_server.database import AsyncSessionLocal
from argilla_server.enums import SimilarityOrder
from argilla_server.models import (
    Dataset,
    MetadataProperty,
    Record,
    Response,
    Suggestion,
    User,
    VectorSettings,
)
from argilla_server.search_engine.base import (
    Filter,
    MetadataMetrics,
    Order,
    SearchEngine,
    SearchResponseItem,
    SearchResponses,
    TextQuery,
)
from sqlalchemy import func, select

from argilla_local import sql_metrics
from argilla_local.sql_filters import DatasetSchema, RecordConditions, UnsupportedSearch
from argilla_local.sql_json import JsonDialect

ENGINE_NAME = "sql"


@asynccontextmanager
async def _session():
    async with AsyncSessionLocal() as db:
        yield db


@SearchEngine.register(engine_name=ENGINE_NAME)
class SQLSearchEngine(SearchEngine):
    """Argilla's SearchEngine over its own tables; stateless, so one instance per request is free."""

    @classmethod
    async def new_instance(cls) -> SQLSearchEngine:
        return cls()

    async def close(self) -> None:
        """Nothing to release: every read opens and closes its own session."""

    async def ping(self) -> bool:
        async with _session() as db:
            return (await db.execute(select(1))).scalar() == 1

    async def info(self) -> dict:
        async with _session() as db:
            return {"engine": ENGINE_NAME, "database": db.bind.dialect.name}

    # -- writes: the database is the index -------------------------------------------------------

    async def create_index(self, dataset: Dataset) -> None:
        pass

    async def delete_index(self, dataset: Dataset) -> None:
        pass

    async def configure_metadata_property(
        self, dataset: Dataset, metadata_property: MetadataProperty
    ) -> None:
        pass

    async def configure_index_vectors(self, vector_settings: VectorSettings) -> None:
        pass

    async def index_records(self, dataset: Dataset, records: Iterable[Record]) -> None:
        pass

    async def partial_record_update(self, record: Record, **update: Any) -> None:
        pass

    async def delete_records(self, dataset: Dataset, records: Iterable[Record]) -> None:
        pass

    async def update_record_response(self, response: Response) -> None:
        pass

    async def delete_record_response(self, response: Response) -> None:
        pass

    async def update_record_suggestion(self, suggestion: Suggestion) -> None:
        pass

    async def delete_record_suggestion(self, suggestion: Suggestion) -> None:
        pass

    # -- reads ------------------------------------------------------------------------------------

    async def get_dataset_progress(self, dataset: Dataset) -> dict:
        async with _session() as db:
            return await sql_metrics.dataset_progress(db, dataset)

    async def get_dataset_user_progress(self, dataset: Dataset, user: User) -> dict:
        async with _session() as db:
            return await sql_metrics.user_progress(db, dataset, user)

    async def compute_metrics_for(self, metadata_property: MetadataProperty) -> MetadataMetrics | None:
        async with _session() as db:
            return await sql_metrics.metadata_metrics(
                db, JsonDialect(db.bind.dialect.name), metadata_property
            )

    async def search(
        self,
        dataset: Dataset,
        query: TextQuery | str | None = None,
        filter: Filter | None = None,
        sort: list[Order] | None = None,
        offset: int = 0,
        limit: int = 100,
        user_id: UUID | str | None = None,
    ) -> SearchResponses:
        """A page of matching record ids and the total.

        Order: `sort` when given (ties by insertion); otherwise, with `user_id`, a shuffle that
        is stable per user (each annotator works through the queue in their own order, as the
        Elasticsearch engine's seeded random score gives); otherwise insertion order.
        """
        async with _session() as db:
            conditions = RecordConditions(
                await DatasetSchema.load(db, dataset.id), JsonDialect(db.bind.dialect.name)
            )
            where = [Record.dataset_id == dataset.id]
            if query is not None:
                where.append(conditions.text(query))
            if filter is not None:
                where.append(conditions.filter(filter))
            matching = select(Record.id).where(*where)
            if user_id is not None and not sort:
                ids = (await db.execute(matching)).scalars().all()
                ranked = sorted(ids, key=lambda record_id: _shuffle_key(user_id, record_id))
                return _responses(ranked[offset : offset + limit], total=len(ids))
            order = [*conditions.order_by(sort or []), Record.inserted_at, Record.id]
            page = (await db.execute(matching.order_by(*order).offset(offset).limit(limit))).scalars().all()
            total = (await db.execute(select(func.count()).select_from(matching.subquery()))).scalar_one()
            return _responses(page, total=total)

    async def similarity_search(
        self,
        dataset: Dataset,
        vector_settings: VectorSettings,
        value: list[float] | None = None,
        record: Record | None = None,
        query: TextQuery | str | None = None,
        filter: Filter | None = None,
        max_results: int = 100,
        order: SimilarityOrder = SimilarityOrder.most_similar,
        threshold: float | None = None,
    ) -> SearchResponses:
        raise UnsupportedSearch("the local SQL search engine has no vector similarity search")


def _shuffle_key(user_id: UUID | str, record_id: UUID) -> bytes:
    return hashlib.sha256(f"{user_id}:{record_id}".encode()).digest()


def _responses(record_ids: list[UUID], total: int) -> SearchResponses:
    return SearchResponses(
        items=[SearchResponseItem(record_id=rid, score=None) for rid in record_ids], total=total
    )
