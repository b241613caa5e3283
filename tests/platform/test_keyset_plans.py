"""Every stage pages through a project's pairs in id order (keyset pagination). Right after a
large import the planner's statistics predate the new project's pairs and call it rare; with an
index on the project alone PostgreSQL then read the whole project and sorted it for every page,
so a stage over a million fresh pairs grew quadratically (bench/scale.py's judge replay at 1M: 88.5 s
instead of 40.3 s). The (project, id) index serves each page as a range scan whatever the
statistics say: no page may sort the project's pairs."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tandem.core import routing, selectors, services
from tandem.core.models import Pair
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


FRESH = 1_500  # pairs imported after the statistics were taken: under a tenth of the table's


def stale_statistics(tmp_path, fresh_pairs: int):
    """(older, fresh): statistics taken when the table held only the older project's 20,000
    pairs, then `fresh_pairs` more imported, as the first stage after a large import sees."""
    older = imported(tmp_path, "older", 20_000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE core_pair")
    return older, imported(tmp_path, "fresh", fresh_pairs)


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


def selects(queries) -> list[str]:
    """The captured SELECTs, those of server-side cursors included."""
    out = []
    for query in queries:
        sql = query["sql"]
        if sql.startswith("DECLARE") and " FOR SELECT " in sql:
            sql = sql[sql.index(" FOR SELECT ") + len(" FOR ") :]
        if sql.startswith("SELECT"):
            out.append(sql)
    return out


def keyset_pages(queries) -> list[str]:
    """The captured SELECTs that read a page of pairs in id order."""
    return [
        sql
        for sql in selects(queries)
        if 'FROM "core_pair"' in sql and '"core_pair"."id" >' in sql and "ORDER BY" in sql and "LIMIT" in sql
    ]


def chunk_reads(queries) -> list[str]:
    """The captured SELECTs that read a chunk's pairs or their judgments, by a list of pair ids."""
    return [sql for sql in selects(queries) if '"core_pair"' in sql and "IN (" in sql]


def _reads_pairs(node: dict) -> bool:
    """A plan node that reads the pair table or one of its indexes (a bitmap's index scan names
    the index only)."""
    return node.get("Relation Name") == "core_pair" or node.get("Index Name", "").startswith(
        ("core_pair_", "pair_")
    )


def test_stages_page_through_freshly_imported_pairs_by_index_range_scans(tmp_path):
    _, fresh = stale_statistics(tmp_path, FRESH)  # under a tenth of the table: not analyzed again
    judge_pairs(fresh.pairs.order_by("id"), lambda i: (i % 10) / 10)
    with CaptureQueriesContext(connection) as captured:
        routing.route_pairs(fresh, routing.RoutingPolicy(version=1, audit_rate=0.1), judges=["j"], chunk=250)
        list(selectors.signal_chunks(fresh, ["j"], 250))
    pages = keyset_pages(captured.captured_queries)
    assert len(pages) >= 12, f"expected the route's and the reader's pages of 250, got {len(pages)}"
    for sql in pages:
        nodes = plan_nodes(sql)
        kinds = [node["Node Type"] for node in nodes]
        on_pairs = [node for node in nodes if node.get("Relation Name") == "core_pair"]
        assert "Sort" not in kinds, f"a page sorted the project's pairs: {kinds}\n{sql}"
        # in id order straight from an index, so that LIMIT stops the read: the (project, id)
        # index, or the primary key where the planner expects the project's pairs to follow `id >`
        assert [(n["Node Type"], n.get("Index Name")) for n in on_pairs] in IN_ID_ORDER, sql


def test_a_chunk_reads_its_own_pairs_by_key_never_the_whole_project(tmp_path):
    """Route and audit read each chunk's judgments for the chunk's pair ids. As one join of
    judgments and pairs, stale statistics made the planner walk every pair of the project for
    each chunk (a first route of 1M freshly imported pairs stalled at 25 s a chunk)."""
    older, fresh = stale_statistics(tmp_path, FRESH)
    judge_pairs(fresh.pairs.order_by("id"), lambda i: (i % 10) / 10)
    with CaptureQueriesContext(connection) as captured:
        chunks = list(selectors.signal_chunks(fresh, ["j"], 250))
    assert sum(len(chunk) for chunk in chunks) == FRESH
    reads = chunk_reads(captured.captured_queries)
    assert len(reads) >= 6, f"expected a read per chunk of 250, got {len(reads)}"
    for sql in reads:
        scans = [node for node in plan_nodes(sql) if _reads_pairs(node)]
        assert scans, f"no read of the pairs in the plan of\n{sql[:300]}"
        # by the primary key or by (project, id), but always for the chunk's ids: never a scan
        # of the table, nor of the project's pairs filtered afterwards
        for node in scans:
            condition = node.get("Index Cond") or node.get("Recheck Cond") or ""
            assert "id = ANY" in condition, f"a chunk read pairs by {node['Node Type']} {condition!r}"
    # the project is checked on every chunk: another project's pair ids give nothing
    judge_pairs(older.pairs.order_by("id")[:10], 0.9)
    theirs = list(older.pairs.order_by("id").values_list("id", flat=True)[:10])
    mine = list(fresh.pairs.order_by("id").values_list("id", flat=True)[:5])
    assert [s.pair_id for s in selectors.signals(fresh, ["j"], theirs + mine)] == mine


def test_an_import_of_a_tenth_of_the_table_or_more_refreshes_the_planners_counts(tmp_path):
    """A large import leaves the planner true counts for the next stage (ANALYZE, as PostgreSQL's
    manual asks after a bulk load), instead of the handful of rows it saw before."""
    _, fresh = stale_statistics(tmp_path, 4_000)
    sql = str(Pair.objects.filter(project=fresh).values("id").query)
    expected = plan_nodes(sql)[0]["Plan Rows"]
    assert 2_000 <= expected <= 8_000, f"the planner expects {expected} pairs, not about 4,000"
