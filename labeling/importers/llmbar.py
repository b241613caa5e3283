"""LLMBar (princeton-nlp/LLMBar): one set's folder with dataset.json(.gz) and evaluators/.

Each pair's gold label becomes a human vote of `llmbar:gold`; each evaluator's recorded
verdicts, in both orders, become replayed verdicts of the judge `llmbar:<Evaluator>/<Prompt>`.
The result files list the pairs in the dataset's order, so all files are streamed in lockstep.
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
from .readers import read_json_array

# The eight LLMBar evaluation sets, as folders under the data set's root (Zeng et al. 2024).
LLMBAR_SETS = (
    "LLMBar/Natural",
    "LLMBar/Adversarial/Neighbor",
    "LLMBar/Adversarial/GPTInst",
    "LLMBar/Adversarial/GPTOut",
    "LLMBar/Adversarial/Manual",
    "Processed/MT-Bench",
    "Processed/FairEval",
    "Processed/LLMEval2",
)
WINNERS = {"1": Choice.A, "2": Choice.B}
ORDERS = {"swap = False": Order.AB, "swap = True": Order.BA}


def _one(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.json", f"{stem}.json.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def evaluator_files(folder: Path) -> list[tuple[str, Path]]:
    """(judge name, result file) for every evaluators/<Evaluator>/<Prompt>/result.json(.gz)."""
    found = []
    for prompt_dir in sorted((folder / "evaluators").glob("*/*")):
        result = _one(prompt_dir, "result")
        if result is not None:
            found.append((f"llmbar:{prompt_dir.parent.name}/{prompt_dir.name}", result))
    return found


def read_llmbar(folder: Path, max_chars: int) -> Iterator[ImportRow | ImportIssue]:
    dataset = _one(folder, "dataset") if folder.is_dir() else None
    if dataset is None:
        raise FormatError(str(folder), "is not an LLMBar set folder: no dataset.json(.gz) in it")
    category = "/".join(folder.resolve().parts[-2:])
    judges = evaluator_files(folder)
    streams = [read_json_array(path) for _, path in judges]
    count = 0
    for item in read_json_array(dataset):
        results = [next(stream, None) for stream in streams]
        if isinstance(item, ImportIssue):
            yield item
            return
        count += 1
        number, record = item
        loc = Location(str(dataset), number)
        try:
            yield _row(record, loc, category, max_chars, judges, results)
        except RowError as err:
            yield ImportIssue(str(dataset), number, err.field, err.message)
    if count == 0:
        yield ImportIssue(str(dataset), 0, "", "is empty: no pairs to import", fatal=True)


def _row(record, loc, category, max_chars, judges, results) -> ImportRow:
    if not isinstance(record, dict):
        raise RowError("", "must be an object with input, output_1, output_2, label")
    pair = PairRecord(
        prompt=fields.text(record, "input", max_chars=max_chars),
        response_a=fields.text(record, "output_1", max_chars=max_chars, blank_ok=True),
        response_b=fields.text(record, "output_2", max_chars=max_chars, blank_ok=True),
        category=category,
        external_id=f"llmbar:{category}:{loc.line}",
    )
    gold = fields.label(record.get("label"), "label", WINNERS)
    verdicts: list[RecordedVerdict] = []
    for (judge, path), result in zip(judges, results, strict=True):
        verdicts.extend(_verdicts(judge, path, loc.line, record, result))
    return ImportRow(loc, pair, (HumanVote("llmbar:gold", gold),), tuple(verdicts))


def _verdicts(judge: str, path: Path, number: int, record: dict, result) -> list[RecordedVerdict]:
    if result is None or isinstance(result, ImportIssue):
        raise RowError("results", f"{path} has no readable entry for pair {number}")
    _, entry = result
    if entry.get("input") != record["input"] or entry.get("output_1") != record["output_1"]:
        raise RowError("results", f"{path} entry {number} is not the same pair as the dataset's")
    runs = entry.get("results") or [{}]
    out = []
    for key, order in ORDERS.items():
        run = runs[0].get(key)
        if run is None:
            continue
        choice = WINNERS.get(str(run.get("winner")))
        completion = run.get("completion") or ["", ""]
        out.append(
            RecordedVerdict(
                judge=judge,
                order=order,
                status=VerdictStatus.OK if choice else VerdictStatus.UNPARSABLE,
                choice=choice,
                p_first=hard_p_first(choice, order),
                rationale=str(completion[0] or ""),
                model=judge.split(":", 1)[1].split("/")[0],
                template=judge.rsplit("/", 1)[1],
                detail={"finish_reason": str(completion[1]) if len(completion) > 1 else ""},
            )
        )
    return out
