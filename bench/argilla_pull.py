"""Benchmark: pulling 10,000 submitted responses from a real local Argilla into HumanLabels (issue 4).

Set up, untimed: a Tandem project on a durable PostgreSQL with 2,500 pairs; a fresh local
argilla-server with a record per pair, each answered (submitted) by 4 users: 10,000 responses,
created through the server's bulk endpoint (records with their responses).

Timed: what `review.sync` does after its push, `ArgillaReview.pull` + `store_responses`:
a first pull (10,000 labels created) and a second (nothing changed). Baseline: the importer it
replaced, pages of 500 records and a get_or_create per response, on the same responses into an
empty table. Target: a first pull under 10 s.

    .venv/bin/python bench/argilla_pull.py [--pairs 2500] [--annotators 4] [--db sqlite]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from argilla_push import items as review_items
from argilla_push import rest_bodies
from argilla_stack import local_argilla

TARGET_SECONDS = 10.0


def setup_django(database_url: str) -> None:
    os.environ.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="tandem.settings.base",
        TANDEM_VAR_DIR=tempfile.mkdtemp(prefix="bench-pull-"),
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def naive_store(project, responses) -> int:
    """The importer before: one filter and get_or_create (two or three queries) per response."""
    from django.db import transaction

    from tandem.core.models import HumanLabel, Pair

    created = 0
    pairs = set(Pair.objects.filter(project=project).values_list("pk", flat=True))
    with transaction.atomic():
        for r in responses:
            if r.pair_id not in pairs or r.choice is None:
                continue
            current = HumanLabel.objects.filter(pair_id=r.pair_id, annotator=r.annotator, source="argilla")
            _, new = current.get_or_create(
                pair_id=r.pair_id,
                annotator=r.annotator,
                source="argilla",
                defaults={"choice": r.choice.value, "rationale": r.rationale, "external_id": r.response_key},
            )
            created += new
    return created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=2500)
    parser.add_argument("--annotators", type=int, default=4, help="at most 4 (owner + 3 annotators)")
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgresql"], help="Argilla's database")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore", message="Dataset with name")  # the SDK's, before a create
    from scripts.services import start_postgres

    tandem_db = start_postgres(durable=True)
    try:
        setup_django(f"postgres://postgres@127.0.0.1:{tandem_db.port}/tandem")
        with local_argilla(args.db) as (local, credentials):
            run(local, credentials, args.pairs, args.annotators, args.db)
    finally:
        tandem_db.stop()


def run(local, credentials, n_pairs: int, n_annotators: int, database: str) -> None:
    from labeling.argilla_review import ArgillaReview
    from tandem.core import review, services
    from tandem.core.models import HumanLabel, Pair

    path = Path(tempfile.mkdtemp(prefix="bench-pull-")) / "pairs.jsonl"
    generated = review_items(n_pairs)
    path.write_text(
        "".join(
            json.dumps({"prompt": i.prompt, "response_a": i.response_a, "response_b": i.response_b}) + "\n"
            for i in generated
        )
    )
    project = services.create_project("pull-bench")
    services.import_pairs(project, path, "pairs")
    pair_ids = list(Pair.objects.filter(project=project).order_by("pk").values_list("pk", flat=True))
    client = ArgillaReview(local.api_url, credentials["users"]["owner"]["api_key"])
    dataset = client.dataset("pull-bench", "Prefer the correct answer.")[0]
    http = client.client.api.http_client
    users = [u["id"] for u in http.get("/api/v1/users").json()["items"]][:n_annotators]
    started = time.perf_counter()
    items = [dataclasses.replace(item, pair_id=pk) for item, pk in zip(generated, pair_ids, strict=True)]
    for start in range(0, len(items), 250):
        bodies = rest_bodies(client, dataset, items[start : start + 250])
        for k, body in enumerate(bodies):
            body["responses"] = [
                {
                    "user_id": user,
                    "status": "submitted",
                    "values": {"preference": {"value": "12"[(k + u) % 2]}},
                }
                for u, user in enumerate(users)
            ]
        answer = http.put(f"/api/v1/datasets/{dataset.id}/records/bulk", json={"items": bodies}, timeout=600)
        answer.raise_for_status()
    total = n_pairs * len(users)
    print(
        f"setup: {n_pairs} records x {len(users)} users = {total} submitted responses in Argilla "
        f"({database}) in {time.perf_counter() - started:.0f} s; Tandem on PostgreSQL (durable)"
    )

    labels = HumanLabel.objects.filter(pair__project=project, source="argilla")

    def timed(call):
        started = time.perf_counter()
        value = call()
        return value, time.perf_counter() - started

    # baseline first, into an empty table; then ours into an empty table, then ours again
    pair_of = {item.record_id: item.pair_id for item in items}
    old, old_pull = timed(lambda: client.pull(str(dataset.id), pair_of, page=500).responses)
    old_created, old_store = timed(lambda: naive_store(project, old))
    assert old_created == total == labels.count(), (old_created, labels.count())
    labels.delete()
    new, new_pull = timed(lambda: client.pull(str(dataset.id), pair_of).responses)
    counts, new_store = timed(lambda: review.store_responses(project, new))
    assert counts["labels_created"] == total == labels.count(), counts
    again, again_pull = timed(lambda: client.pull(str(dataset.id), pair_of).responses)
    counts, again_store = timed(lambda: review.store_responses(project, again))
    assert counts == {"labels_created": 0, "labels_updated": 0, "labels_removed": 0}, counts

    print(f"{'pull of ' + str(total) + ' responses':<34} {'read':>7} {'store':>7} {'total':>7} {'resp/s':>8}")
    rows = [
        ("baseline (pages of 500, per row)", old_pull, old_store),
        ("ours, first pull (all new)", new_pull, new_store),
        ("ours, again (nothing changed)", again_pull, again_store),
    ]
    for label, read, store in rows:
        print(
            f"{label:<34} {read:>6.2f}s {store:>6.2f}s {read + store:>6.2f}s {total / (read + store):>8.0f}"
        )
    ours_total = new_pull + new_store
    verdict = "met" if ours_total < TARGET_SECONDS else "NOT met"
    print(
        f"ours / baseline: {(old_pull + old_store) / ours_total:.1f}x faster; "
        f"first pull {ours_total:.1f} s (target < {TARGET_SECONDS:.0f} s: {verdict})"
    )


if __name__ == "__main__":
    main()
