"""Row formats for tables: the generic pair format, TRL preference rows and hh-rlhf dialogues."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from labeling.records import Choice, HumanVote, ImportRow, Location, PairRecord

from . import fields
from .errors import ImportIssue, RowError
from .readers import Row, read_jsonl, read_table

PAIR_LABELS = {
    "a": Choice.A,
    "b": Choice.B,
    "tie": Choice.TIE,
    "1": Choice.A,
    "2": Choice.B,
    "0": Choice.TIE,
}
KNOWN_PAIR_FIELDS = {
    "prompt",
    "response_a",
    "response_b",
    "model_a",
    "model_b",
    "category",
    "external_id",
    "id",
    "metadata",
    "label",
    "annotator",
    "rationale",
    "gold",
}

ParseRow = Callable[[dict, Location, int], ImportRow]


GOLD_SPELLINGS = "a / b / tie (or 1 / 2 / 0, as for `label`), or leave it empty for an ordinary pair"


def parse_rows(
    path: Path, rows: Iterator[Row | ImportIssue], parse: ParseRow, max_chars: int
) -> Iterator[ImportRow | ImportIssue]:
    """Apply `parse` to each row; a bad row becomes an ImportIssue naming its line and field."""
    empty = True
    for item in rows:
        if isinstance(item, ImportIssue):
            empty = False
            yield item
            if item.fatal:
                return
            continue
        empty = False
        number, record = item
        if not isinstance(record, dict):
            got = fields._kind(record)
            yield ImportIssue(str(path), number, "", f"must be an object with named fields, got {got}")
            continue
        try:
            yield parse(record, Location(str(path), number), max_chars)
        except RowError as err:
            yield ImportIssue(str(path), number, err.field, err.message)
    if empty:
        yield ImportIssue(str(path), 0, "", "is empty: no rows to import", fatal=True)


def parse_pair_row(row: dict, loc: Location, max_chars: int) -> ImportRow:
    """The generic format: prompt, response_a, response_b (+ optional fields, label, extras)."""
    extras = {k: v for k, v in row.items() if k not in KNOWN_PAIR_FIELDS and v not in (None, "")}
    meta = fields.metadata(row)
    if extras:
        meta = {**extras, **meta}
    pair = PairRecord(
        prompt=fields.text(row, "prompt", max_chars=max_chars),
        response_a=fields.text(row, "response_a", max_chars=max_chars, blank_ok=True),
        response_b=fields.text(row, "response_b", max_chars=max_chars, blank_ok=True),
        model_a=fields.text(row, "model_a", max_chars=200, required=False),
        model_b=fields.text(row, "model_b", max_chars=200, required=False),
        category=fields.text(row, "category", max_chars=100, required=False),
        external_id=str(row.get("external_id") or row.get("id") or "")[:300],
        metadata=meta,
    )
    votes: tuple[HumanVote, ...] = ()
    if row.get("label") not in (None, ""):
        votes = (
            HumanVote(
                annotator=fields.text(row, "annotator", max_chars=200, required=False) or "imported",
                choice=fields.label(row["label"], "label", PAIR_LABELS),
                rationale=fields.text(row, "rationale", max_chars=max_chars, required=False),
            ),
        )
    return ImportRow(loc, pair, votes, gold=_gold(row))


def _gold(row: dict) -> Choice | None:
    """The row's known answer: the spellings a human `label` takes; a bad one says what to write."""
    value = row.get("gold")
    if value in (None, ""):
        return None
    key = str(value).strip().lower()
    if key not in PAIR_LABELS:
        raise RowError("gold", f"is {value!r}; write {GOLD_SPELLINGS}")
    return PAIR_LABELS[key]


def _message_text(value: Any, name: str, max_chars: int) -> str:
    """TRL rows are plain text or conversations (lists of {role, content}); render either."""
    if isinstance(value, list):
        try:
            turns = [f"{m['role']}: {m['content']}" for m in value]
        except (TypeError, KeyError) as err:
            raise RowError(name, "is a list but not of {role, content} messages") from err
        value = "\n\n".join(turns)
    return fields.text({name: value}, name, max_chars=max_chars, blank_ok=name != "prompt")


def _assistant_text(value: Any, name: str, max_chars: int) -> str:
    if isinstance(value, list):
        replies = [
            m.get("content", "") for m in value if isinstance(m, dict) and m.get("role") == "assistant"
        ]
        if not replies:
            raise RowError(name, "is a conversation with no assistant message")
        value = replies[-1]
    return fields.text({name: value}, name, max_chars=max_chars, blank_ok=True)


def placement(prompt: str, chosen: str, rejected: str) -> bool:
    """Whether the chosen response goes to slot A: random-looking but fixed per row.

    Derived from the content so that a re-import places it the same way (and so hashes the same
    pair); humans and judges never see the winner always in one slot.
    """
    digest = hashlib.sha256("\x1f".join((prompt, chosen, rejected)).encode("utf-8")).digest()
    return digest[0] % 2 == 0


def preference_row(
    loc: Location, prompt: str, chosen: str, rejected: str, annotator: str, meta: dict
) -> ImportRow:
    chosen_first = placement(prompt, chosen, rejected)
    a, b = (chosen, rejected) if chosen_first else (rejected, chosen)
    pair = PairRecord(
        prompt=prompt,
        response_a=a,
        response_b=b,
        metadata={**meta, "chosen": "a" if chosen_first else "b"},
    )
    vote = HumanVote(annotator=annotator, choice=Choice.A if chosen_first else Choice.B)
    return ImportRow(loc, pair, (vote,))


def parse_trl_row(row: dict, loc: Location, max_chars: int) -> ImportRow:
    if "prompt" not in row:
        raise RowError("prompt", "is missing; TRL rows need prompt, chosen and rejected")
    prompt = _message_text(row["prompt"], "prompt", max_chars)
    chosen = _assistant_text(row.get("chosen"), "chosen", max_chars) if "chosen" in row else None
    rejected = _assistant_text(row.get("rejected"), "rejected", max_chars) if "rejected" in row else None
    if chosen is None or rejected is None:
        missing = "chosen" if chosen is None else "rejected"
        raise RowError(missing, "is missing; TRL rows need prompt, chosen and rejected")
    return preference_row(loc, prompt, chosen, rejected, "trl", {})


HH_TURN = "\n\nAssistant:"


def parse_hh_row(row: dict, loc: Location, max_chars: int) -> ImportRow:
    """hh-rlhf: two dialogues that share their opening turns and differ from some reply on.

    The prompt is the dialogue up to the last `Assistant:` turn both share; each response is the
    rest of its dialogue (usually one reply; a few rows go on for more turns on one side).
    """
    chosen = fields.text(row, "chosen", max_chars=max_chars)
    rejected = fields.text(row, "rejected", max_chars=max_chars)
    # Character-wise on purpose: the shared text, cut back to the last shared turn marker.
    cut = os.path.commonprefix([chosen, rejected]).rfind(HH_TURN)  # noqa: RUF071
    if cut < 0:
        raise RowError("rejected", "shares no '\\n\\nAssistant:' turn with 'chosen'")
    prompt = chosen[:cut].strip()
    reply_c = chosen[cut + len(HH_TURN) :].strip()
    reply_r = rejected[cut + len(HH_TURN) :].strip()
    return preference_row(loc, prompt, reply_c, reply_r, "hh-rlhf", {})


def read_pairs(path: Path, max_chars: int) -> Iterator[ImportRow | ImportIssue]:
    return parse_rows(path, read_table(path), parse_pair_row, max_chars)


def read_trl(path: Path, max_chars: int) -> Iterator[ImportRow | ImportIssue]:
    return parse_rows(path, read_table(path), parse_trl_row, max_chars)


def read_hh_rlhf(path: Path, max_chars: int) -> Iterator[ImportRow | ImportIssue]:
    return parse_rows(path, read_jsonl(path), parse_hh_row, max_chars)
