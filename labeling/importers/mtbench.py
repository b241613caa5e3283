"""MT-Bench human judgments merged with GPT-4's pair verdicts (one JSONL row per human vote).

Rows for the same (question, turn, model pair) are one Pair with one HumanLabel per human
judge. GPT-4's merged winner becomes a replayed verdict for both orders; `tie (inconsistent)`
means its two orders disagreed, and which way each went is not in the data, so both orders are
recorded as a tie with `orders_disagreed` in the provenance (Zheng et al. 2023 count it as a tie).
Every verdict carries `orders_merged`: the audit computes no first-position rate from them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from labeling.records import (
    Choice,
    HumanVote,
    ImportRow,
    Location,
    Order,
    PairRecord,
    RecordedVerdict,
    VerdictStatus,
    hard_p_first,
)

from . import fields
from .errors import ImportIssue, RowError
from .readers import read_jsonl
from .tables import parse_rows

WINNERS = {"model_a": Choice.A, "model_b": Choice.B, "tie": Choice.TIE}
GPT4_WINNERS = {**WINNERS, "tie (inconsistent)": Choice.TIE}
JUDGE = "mtbench:gpt-4"


def _conversation(row: dict, name: str) -> tuple[tuple[str, str], ...]:
    raw = row.get(name)
    if not isinstance(raw, str):
        raise RowError(name, "is missing or not a string of (text, role) tuples")
    turns = _turns(raw)
    if isinstance(turns, str):
        raise RowError(name, turns)
    return turns


@lru_cache(maxsize=4096)
def _turns(raw: str) -> tuple[tuple[str, str], ...] | str:
    """Parse one conversation literal, or say what is wrong with it.

    MT-Bench repeats a conversation in every vote row of its pair and in every pair of its
    model and question, so the cache keeps the last few thousand (as tuples, so no caller can
    change a cached value). `ast.literal_eval` was the importer's largest cost; `_scan` reads
    the shape MT-Bench writes (a list of 2-tuples of plain quoted strings) about 7x faster,
    and anything else goes to `ast.literal_eval` as before.
    """
    # a lone surrogate cannot be compiled, so literal_eval names it; the scanner would pass it on
    scanned = _scan(raw) if raw.isascii() or not fields.SURROGATE.search(raw) else None
    if scanned is not None:
        return scanned
    return literal_turns(raw)


def literal_turns(raw: str) -> tuple[tuple[str, str], ...] | str:
    """The conversation read by `ast.literal_eval` and checked for its shape, or what is wrong:
    the definition the scanner must agree with (tests hold it to that)."""
    try:
        turns = ast.literal_eval(raw)  # a Python literal, never eval()
    except (ValueError, SyntaxError, MemoryError, RecursionError) as err:
        return f"is not a Python literal list of (text, role) tuples ({err})"
    if not isinstance(turns, list | tuple) or not all(
        isinstance(t, list | tuple) and len(t) == 2 and all(isinstance(x, str) for x in t) for t in turns
    ):
        return "must be a list of (text, role) tuples"
    return tuple((text, role) for text, role in turns)


def _scan(raw: str) -> tuple[tuple[str, str], ...] | None:
    """`[('text', 'role'), ...]` read without a parser, or None when `raw` is anything else
    (other punctuation, string prefixes, implicit concatenation, comments, ...)."""
    if not raw.startswith("["):
        return None
    turns = []
    at = _skip(raw, 1)
    while at < len(raw) and raw[at] == "(":
        text, at = _string(raw, _skip(raw, at + 1))
        at = _skip(raw, at)
        if text is None or not raw.startswith(",", at):
            return None
        role, at = _string(raw, _skip(raw, at + 1))
        at = _skip(raw, at)
        if role is None or not raw.startswith(")", at):
            return None
        turns.append((text, role))
        at = _skip(raw, at + 1)
        if raw.startswith(",", at):
            at = _skip(raw, at + 1)
        elif not raw.startswith("]", at):
            return None
    return tuple(turns) if at == len(raw) - 1 and raw[at] == "]" else None


def _skip(raw: str, at: int) -> int:
    while at < len(raw) and raw[at] in " \t":
        at += 1
    return at


_NON_ASCII_ESCAPE = re.compile(r"\\[^\x00-\x7f]")


def _string(raw: str, at: int) -> tuple[str | None, int]:
    """The plain (unprefixed, one-line) string literal at `at` and the index after it.

    Its escapes are decoded by the codec the compiler itself uses for string literals
    (`unicode_escape`, after writing non-Latin-1 characters as escapes); the one case where
    that step differs from the compiler, a backslash before a non-ASCII character, is left to it.
    """
    quote = raw[at : at + 1]
    if quote not in ("'", '"'):
        return None, at
    end = at
    while True:
        end = raw.find(quote, end + 1)
        if end < 0:
            return None, at
        before = end
        while raw[before - 1] == "\\":  # stops at the opening quote at the latest
            before -= 1
        if (end - before) % 2 == 0:  # not itself escaped: the closing quote
            break
    body = raw[at + 1 : end]
    if "\n" in body or "\r" in body:  # a line break inside a one-line literal: invalid
        return None, at
    if "\\" in body:
        if _NON_ASCII_ESCAPE.search(body):
            return None, at
        try:
            body = body.encode("latin-1", "backslashreplace").decode("unicode_escape")
        except UnicodeDecodeError:  # a broken escape: ast.literal_eval says which
            return None, at
    return body, end + 1


def _render(turns: tuple[tuple[str, str], ...], role: str, upto: int) -> str:
    said = [text for text, who in turns if who == role][:upto]
    if upto == 1:
        return said[0] if said else ""
    return "\n\n".join(f"[Turn {i}]\n{text}" for i, text in enumerate(said, start=1))


def parse_mtbench_row(row: dict, loc: Location, max_chars: int) -> ImportRow:
    turn = row.get("turn")
    if turn not in (1, 2):
        raise RowError("turn", f"is {turn!r}; expected 1 or 2")
    conv_a, conv_b = _conversation(row, "conversation_a"), _conversation(row, "conversation_b")
    model_a = fields.text(row, "model_a", max_chars=200)
    model_b = fields.text(row, "model_b", max_chars=200)
    qid = str(row.get("question_id", ""))
    pair = PairRecord(
        prompt=_render(conv_a, "user", turn),
        response_a=_render(conv_a, "assistant", turn),
        response_b=_render(conv_b, "assistant", turn),
        model_a=model_a,
        model_b=model_b,
        category=fields.text(row, "category", max_chars=100, required=False),
        external_id=f"mtbench:{qid}:{turn}:{model_a}:{model_b}",
        metadata={"question_id": qid, "turn": turn},
    )
    if not pair.prompt.strip():
        raise RowError("conversation_a", "has no user turn")
    vote = HumanVote(
        annotator=fields.text(row, "human_judge", max_chars=200),
        choice=fields.label(row.get("human_winner"), "human_winner", WINNERS),
    )
    recorded = str(row.get("gpt4_pair_winner", "")).strip().lower()
    fields.label(recorded, "gpt4_pair_winner", GPT4_WINNERS)
    return ImportRow(loc, pair, (vote,), _verdicts(recorded))


@lru_cache(maxsize=len(GPT4_WINNERS))
def _verdicts(recorded: str) -> tuple[RecordedVerdict, ...]:
    """GPT-4's verdict in both orders: one of four, so built once each and shared by every row
    (records are frozen; nothing changes a verdict's provenance after import)."""
    choice = GPT4_WINNERS[recorded]
    detail = {
        "recorded_winner": recorded,
        "orders_disagreed": recorded == "tie (inconsistent)",
        "orders_merged": True,  # one merged verdict, copied to both orders: no per-order data
    }
    return tuple(
        RecordedVerdict(
            judge=JUDGE,
            order=order,
            status=VerdictStatus.OK,
            choice=choice,
            p_first=hard_p_first(choice, order),
            model="gpt-4",
            detail=detail,
        )
        for order in Order
    )


def read_mtbench(path: Path, max_chars: int) -> Iterator[ImportRow | ImportIssue]:
    return parse_rows(path, read_jsonl(path), parse_mtbench_row, max_chars)
