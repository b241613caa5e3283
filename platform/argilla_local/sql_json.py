"""JSON access that reads the same on argilla-server's two databases (SQLite json1, PostgreSQL json).

Argilla keeps metadata, suggestion values and scores, and response values in JSON columns
(`json` on PostgreSQL, text on SQLite). A value can be a scalar or a list (multi-label answers,
terms metadata with several values, per-label scores); Elasticsearch matches a list when any of
its elements matches, so filters and aggregates here go through `elements()`, which yields one
row per list element and one row for a scalar.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Float, String, case, cast, exists, func, literal, select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

Predicate = Callable[["JsonElements"], ColumnElement[bool]]


class JsonElements:
    """The rows of one JSON value: `source` to select from, `text` / `number` for each element."""

    def __init__(self, source: FromClause, value: ColumnElement):
        self.source = source
        self.text = cast(value, String)
        self.number = cast(value, Float)


class JsonDialect:
    """Builds JSON expressions for the database dialect the server runs on."""

    def __init__(self, dialect_name: str):
        if dialect_name not in ("sqlite", "postgresql"):
            raise ValueError(
                f"argilla's SQL search engine supports sqlite and postgresql, not {dialect_name!r}"
            )
        self.name = dialect_name

    @property
    def is_postgresql(self) -> bool:
        return self.name == "postgresql"

    def elements(self, column: ColumnElement, *keys: str) -> JsonElements:
        """The elements of `column` at the path `keys` (the whole value with no keys)."""
        if self.is_postgresql:
            node = column
            for key in keys:
                node = node[key]
            as_array = case((func.json_typeof(node) == "array", node), else_=func.json_build_array(node))
            # `AS element(value)`: name the column explicitly, PostgreSQL would name it after the alias
            source = func.json_array_elements_text(as_array).table_valued("value").render_derived("element")
        else:
            source = (
                func.json_each(column, literal(_sqlite_path(keys))).table_valued("value").alias("element")
            )
        return JsonElements(source, source.c.value)

    def any_element(
        self, column: ColumnElement, keys: tuple[str, ...], predicate: Predicate
    ) -> ColumnElement:
        """True where some element of `column` at `keys` satisfies `predicate` (a correlated EXISTS)."""
        rows = self.elements(column, *keys)
        return exists(select(literal(1)).select_from(rows.source).where(predicate(rows)))

    def scalar_text(self, column: ColumnElement, *keys: str) -> ColumnElement:
        """The value at `keys` as text (a list comes back as its JSON text)."""
        return column[keys].as_string()

    def scalar_number(self, column: ColumnElement, *keys: str) -> ColumnElement:
        return column[keys].as_float()


def _sqlite_path(keys: tuple[str, ...]) -> str:
    for key in keys:
        if '"' in key:  # SQLite's JSON paths cannot quote a double quote
            raise ValueError(f"names with a double quote cannot be searched on SQLite: {key!r}")
    return "$" + "".join(f'."{key}"' for key in keys)
