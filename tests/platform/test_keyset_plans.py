"""Every stage pages through a project's pairs in id order (keyset pagination). Right after a
large import the planner's statistics predate the new project's pairs and call it rare; with an
index on the project alone PostgreSQL then read the whole project and sorted it for every page,
so a stage over a million fresh pairs grew quadratically (bench/scale.py's judge replay: 88 s
instead of 39 s). The (project, id) index serves each page as a range scan whatever the
statistics say: no page may sort the project's pairs."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tandem.core import routing, selectors, services
from tests.factories import judge_pairs

pytestmark = [pytest.mark.django_db, pytest.mark.skipif("connection.vendor != 'postgresql'")]


def imported(tmp_path, name: str, n: int):
    project = services.create_project(name)
    path = tmp_path / f"{name}.jsonl"
    rows = [
        {
            "prompt": f"{name} q{i}",
            "response_a": f"Paris has been the capital since {i + 500}.",
            "response_b": "Lyon.",
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    services.import_pairs(project, path, "pairs")
    return project


def plan_nodes(sql: str) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        (plan,) = cursor.fetchone()[0]
    nodes, todo = [], [plan["Plan"]]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo.extend(node.get("Plans", []))
    return nodes


IN_ID_ORDER = [
    [(scan, index)]
    for scan in ("Index Scan", "Index Only Scan")
    for index in ("pair_project_keyset", "core_pair_pkey")
]


def keyset_pages(queries) -> list[str]:
    """The captured SELECTs that read a page of pairs in id order."""
    return [
        q["sql"]
        for q in queries
        if q["sql"].startswith("SELECT")
        and 'FROM "core_pair"' in q["sql"]
        and '"core_pair"."id" >' in q["sql"]
        and "ORDER BY" in q["sql"]
        and "LIMIT" in q["sql"]
    ]


def test_stages_page_through_freshly_imported_pairs_by_index_range_scans(tmp_path):
    imported(tmp_path, "older", 20_000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE core_pair")  # statistics that know only the older project
    fresh = imported(tmp_path, "fresh", 3_000)
    judge_pairs(fresh.pairs.order_by("id"), lambda i: (i % 10) / 10)
    with CaptureQueriesContext(connection) as captured:
        routing.route_pairs(fresh, routing.RoutingPolicy(version=1, audit_rate=0.1), judges=["j"], chunk=500)
        list(selectors.signal_chunks(fresh, ["j"], 500))
    pages = keyset_pages(captured.captured_queries)
    assert len(pages) >= 12, f"expected the route's and the reader's pages of 500, got {len(pages)}"
    for sql in pages:
        nodes = plan_nodes(sql)
        kinds = [node["Node Type"] for node in nodes]
        on_pairs = [node for node in nodes if node.get("Relation Name") == "core_pair"]
        assert "Sort" not in kinds, f"a page sorted the project's pairs: {kinds}\n{sql}"
        # in id order straight from an index, so that LIMIT stops the read: the (project, id)
        # index, or the primary key where the planner expects the project's pairs to follow `id >`
        assert [(n["Node Type"], n.get("Index Name")) for n in on_pairs] in IN_ID_ORDER, sql
