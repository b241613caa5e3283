"""PandaLM's test set: three annotators per pair, GPT-3.5's and PandaLM-7B's verdicts.

The folder holds testset-v1.json(.gz) and, where present, gpt-3.5-turbo-testset-v1 and
pandalm-7b-testset-v1 verdict files in the same item order (checked by `idx`). Only one
presentation order was recorded (response1 first), so verdicts are order `ab` only.
"""

from __future__ import annotations

from collections.abc import Iterator
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
from .errors import FormatError, ImportIssue, RowError
from .llmbar import _one
from .readers import read_json_array

HUMAN = {"0": Choice.TIE, "1": Choice.A, "2": Choice.B}
JUDGES = {  # file stem: (judge name, result key, reason key, {recorded value: choice})
    "gpt-3.5-turbo-testset-v1": (
        "pandalm:gpt-3.5-turbo",
        "gpt_result",
        "gpt_reason",
        {"1": Choice.A, "2": Choice.B, "tie": Choice.TIE},
    ),
    "pandalm-7b-testset-v1": (
        "pandalm:pandalm-7b",
        "pandalm_result",
        "pandalm_reason",
        HUMAN,
    ),
}


def read_pandalm(folder: Path, max_chars: int) -> Iterator[ImportRow | ImportIssue]:
    testset = _one(folder, "testset-v1") if folder.is_dir() else None
    if testset is None:
        raise FormatError(str(folder), "is not a PandaLM data folder: no testset-v1.json(.gz) in it")
    judges = [(JUDGES[stem], path) for stem in JUDGES if (path := _one(folder, stem))]
    streams = [read_json_array(path) for _, path in judges]
    count = 0
    for item in read_json_array(testset):
        results = [next(stream, None) for stream in streams]
        if isinstance(item, ImportIssue):
            yield item
            return
        count += 1
        number, record = item
        try:
            yield _row(record, Location(str(testset), number), max_chars, judges, results)
        except RowError as err:
            yield ImportIssue(str(testset), number, err.field, err.message)
    if count == 0:
        yield ImportIssue(str(testset), 0, "", "is empty: no pairs to import", fatal=True)


def _row(record, loc, max_chars, judges, results) -> ImportRow:
    if not isinstance(record, dict):
        raise RowError("", "must be an object")
    instruction = fields.text(record, "instruction", max_chars=max_chars, blank_ok=True)
    extra = fields.text(record, "input", max_chars=max_chars, required=False)
    if not (instruction.strip() or extra.strip()):
        raise RowError("instruction", "is empty and so is 'input': the pair has no prompt")
    models = str(record.get("cmp_key", "")).split("_")
    idx = str(record.get("idx", loc.line - 1))
    coerced = _coerce_scalars(record, ("response1", "response2"))
    pair = PairRecord(
        prompt="\n\n".join(part.strip() for part in (instruction, extra) if part.strip()),
        response_a=fields.text(record, "response1", max_chars=max_chars, blank_ok=True),
        response_b=fields.text(record, "response2", max_chars=max_chars, blank_ok=True),
        model_a=models[0] if len(models) == 2 else "",
        model_b=models[1] if len(models) == 2 else "",
        category=str(record.get("motivation_app", ""))[:100],
        external_id=f"pandalm:{idx}",
        metadata={"idx": idx, "cmp_key": str(record.get("cmp_key", ""))}
        | ({"coerced_to_text": coerced} if coerced else {}),
    )
    votes = tuple(
        HumanVote(f"pandalm:{name}", fields.label(record.get(name), name, HUMAN))
        for name in ("annotator1", "annotator2", "annotator3")
    )
    verdicts = tuple(
        _verdict(spec, path, idx, result) for (spec, path), result in zip(judges, results, strict=True)
    )
    return ImportRow(loc, pair, votes, verdicts)


def _coerce_scalars(record: dict, names: tuple[str, ...]) -> list[str]:
    """A few PandaLM responses are JSON booleans (answers to true/false questions): keep them
    as the text the model gave (`True`), and say so in the pair's metadata."""
    coerced = [n for n in names if isinstance(record.get(n), bool | int | float)]
    for name in coerced:
        record[name] = str(record[name])
    return coerced


def _verdict(spec, path: Path, idx: str, result) -> RecordedVerdict:
    judge, result_key, reason_key, mapping = spec
    if result is None or isinstance(result, ImportIssue):
        raise RowError("idx", f"{path} has no readable entry for item {idx}")
    _, entry = result
    if str(entry.get("idx")) != idx:
        raise RowError("idx", f"{path} lists item {entry.get('idx')!r} where {idx!r} was expected")
    recorded = str(entry.get(result_key, "")).strip().lower()
    choice = mapping.get(recorded)
    return RecordedVerdict(
        judge=judge,
        order=Order.AB,
        status=VerdictStatus.OK if choice else VerdictStatus.UNPARSABLE,
        choice=choice,
        p_first=hard_p_first(choice, Order.AB),
        rationale=str(entry.get(reason_key, "")),
        model=judge.split(":", 1)[1],
        detail={"recorded": recorded},
    )
