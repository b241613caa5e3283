"""Read rows turned into the tuples the platform's bulk insert takes, one batch at a time.

Plain Python, no Django: the import runs this in a reader process beside the one that writes
(`pipeline.py`), so the platform's column order lives here and `tandem.core.services` re-exports
it. A test keeps each column tuple in step with its model.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

from labeling.records import ImportRow

from .errors import ImportIssue

# The columns an import writes, in the order of the tuples below. Django's field defaults live
# in Python, so COPY needs every column. Pairs get their id from the writer (it is not here).
PAIR_COLUMNS = (
    "project_id",
    "prompt",
    "response_a",
    "response_b",
    "model_a",
    "model_b",
    "category",
    "metadata",
    "source",
    "external_id",
    "content_hash",
    "created_at",
    "gold",
)
LABEL_COLUMNS = ("pair_id", "annotator", "choice", "rationale", "source", "external_id", "created_at")
JUDGMENT_COLUMNS = (
    "pair_id",
    "judge",
    "config_hash",
    "order",
    "backend",
    "model",
    "template",
    "template_hash",
    "p_first",
    "choice",
    "rationale",
    "status",
    "error_message",
    "params",
    "detail",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "latency_ms",
    "cache_key",
    "created_at",
)
IMPORTED = "imported"  # HumanLabel.Source.IMPORTED: a label that came in with the file
REPLAY = "replay"  # the judge backend of verdicts some judge already gave


@dataclass
class Batch:
    """A batch of read rows as insert tuples, made before the database is asked which pairs
    exist; labels and judgments get their pair's id once it is known."""

    rows: int  # rows read (a file-level issue is not a row)
    issues: list[ImportIssue]
    hashes: list[str]  # one per good row
    pairs: list[tuple]  # PAIR_COLUMNS, one per good row
    labels: list[tuple[int, tuple]]  # (good row's index, LABEL_COLUMNS without pair_id)
    judgments: list[tuple[int, tuple]]  # (good row's index, JUDGMENT_COLUMNS without pair_id)


def prepare(items: list, *, project_pk: int, source: str, now) -> Batch:
    """Split read items into issues and rows, and turn each row into its tuples (`now`: the
    creation time, as the database connection takes it)."""
    issues = [item for item in items if isinstance(item, ImportIssue)]
    good = [item for item in items if isinstance(item, ImportRow)]
    batch = Batch(len(items) - sum(1 for i in issues if i.line == 0), issues, [], [], [], [])
    tails: dict[int, tuple] = {}  # rows often share verdict records (MT-Bench's GPT-4): build each once
    for index, row in enumerate(good):
        p = row.pair
        digest = p.content_hash()
        batch.hashes.append(digest)
        metadata = _JSON.encode(p.metadata) if p.metadata else "{}"
        batch.pairs.append(
            (
                project_pk,
                p.prompt,
                p.response_a,
                p.response_b,
                p.model_a,
                p.model_b,
                p.category,
                metadata,
                source,
                p.external_id,
                digest,
                now,
                row.gold.value if row.gold else "",
            )
        )
        for vote in row.votes:
            batch.labels.append(
                (index, (vote.annotator, vote.choice.value, vote.rationale, IMPORTED, "", now))
            )
        for verdict in row.verdicts:
            # keyed by id: the batch's rows keep every verdict alive, so no id is reused meanwhile
            if (tail := tails.get(id(verdict))) is None:
                tail = tails[id(verdict)] = _judgment_tail(verdict, now)
            batch.judgments.append((index, tail))
    return batch


_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps(..., ensure_ascii=False), built once


def _judgment_tail(v, now) -> tuple:
    """JUDGMENT_COLUMNS after pair_id for a recorded verdict (backend `replay`)."""
    return (
        v.judge,
        replay_config_hash(v.judge),
        v.order.value,
        REPLAY,
        v.model,
        v.template,
        "",
        v.p_first,
        v.choice.value if v.choice else "",
        v.rationale,
        v.status.value,
        "",
        "{}",
        _JSON.encode(v.detail),
        0,
        0,
        0,
        0,
        "",
        now,
    )


@functools.cache
def replay_config_hash(judge: str) -> str:
    """Recorded verdicts have no sampling config of ours: the judge name identifies them."""
    return hashlib.sha256(f"replay:{judge}".encode()).hexdigest()
