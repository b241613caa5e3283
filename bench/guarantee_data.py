"""The recorded verdicts of ../shared/data as guarantee-mode inputs, read by Tandem's importers.

Each pair becomes, per judge, a `Calibrated` value: the judge heard as simulated annotators
(every recorded prompt of it, both orders; `labeling.guarantee.annotator_verdict`) and whether
its choice equals the human majority (`labeling.verdicts`). Kept apart from bench/guarantee.py
so the tables read without the parsing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from labeling.guarantee import Calibrated, annotator_verdict, chose_longer, others_agreeing
from labeling.importers import ImportIssue, read
from labeling.importers.llmbar import LLMBAR_SETS
from labeling.records import Choice, Order, RecordedVerdict, VerdictStatus
from labeling.verdicts import PairVerdict, human_majority, pair_verdict

LLMBAR_PROMPTS = ("Vanilla_NoRules", "CoT")
# Instructions around the pair in a judge call, in tokens: an estimate (LLMBar's Vanilla prompt
# is about 150 words, CoT about 250), since the recordings keep the completion, not the request.
TEMPLATE_TOKENS = {"Vanilla_NoRules": 200, "CoT": 330, "": 200}


@dataclass
class Pair:
    slice: str
    chars: int  # prompt + both responses: what every judge call reads
    lengths: tuple[int, int] = (0, 0)  # characters of response a and b
    votes: list[Choice] = field(default_factory=list)
    annotators: list[str] = field(default_factory=list)  # who cast each of `votes`
    verdicts: dict[str, dict[Order, RecordedVerdict]] = field(default_factory=lambda: defaultdict(dict))

    @property
    def majority(self) -> Choice | None:
        return human_majority(self.votes)


def load(path: Path, fmt: str) -> list[Pair]:
    """Every pair of `path` (rows of the same pair merged, as the platform does); pairs whose two
    responses are the same text are skipped, as `import --skip-invalid` does."""
    pairs: dict[str, Pair] = {}
    for row in read(path, fmt):
        if isinstance(row, ImportIssue):
            if row.fatal:
                raise SystemExit(f"{row.file}:{row.line}: {row.message}")
            continue
        key = row.pair.external_id or row.pair.content_hash()
        chars = len(row.pair.prompt) + len(row.pair.response_a) + len(row.pair.response_b)
        lengths = (len(row.pair.response_a), len(row.pair.response_b))
        pair = pairs.setdefault(key, Pair(row.pair.category, chars, lengths))
        pair.votes.extend(v.choice for v in row.votes)
        pair.annotators.extend(v.annotator for v in row.votes)
        for v in row.verdicts:
            pair.verdicts[v.judge][v.order] = v
    return list(pairs.values())


def prompt_verdict(orders: dict[Order, RecordedVerdict]) -> PairVerdict:
    """One prompt's verdict on a pair from its recorded orders (`labeling.verdicts`)."""
    ok = {o: v for o, v in orders.items() if v.status == VerdictStatus.OK}
    ab, ba = ok.get(Order.AB), ok.get(Order.BA)
    return pair_verdict(
        ab.choice if ab else None,
        ba.choice if ba else None,
        ab.p_first if ab else None,
        ba.p_first if ba else None,
        orders_disagree=any(v.detail.get("orders_disagreed") for v in ok.values()),
    )


def calibrated(pairs: list[Pair], annotators: list[str], others: list[list[str]] = ()) -> list[Calibrated]:
    """Per pair, the judge made of `annotators` (recorded judge names) as guarantee mode sees it;
    `others` are the other judges of the cascade (each a list of recorded names), whose choices
    give the signal `others_agree`."""
    out = []
    for pair in pairs:
        choice, conf = _verdict(pair, annotators)
        agreeing = others_agreeing(choice, [_verdict(pair, names)[0] for names in others])
        agrees = choice is not None and choice == pair.majority
        out.append(Calibrated(conf, agrees, pair.slice, agreeing, chose_longer(choice, *pair.lengths)))
    return out


def cascade(pairs: list[Pair], judges: dict[str, list[str]]) -> dict[str, list[Calibrated]]:
    """{judge: its Calibrated pairs}, each judge seeing how many of the others agree with it."""
    return {
        name: calibrated(pairs, names, [other for o, other in judges.items() if o != name])
        for name, names in judges.items()
    }


def _verdict(pair: Pair, annotators: list[str]):
    return annotator_verdict([prompt_verdict(pair.verdicts.get(a, {})) for a in annotators])


def call_tokens(pairs: list[Pair], annotators: list[str]) -> list[tuple[int, int]]:
    """(input, output) tokens per pair for all calls of `annotators` (4 characters a token)."""
    out = []
    for pair in pairs:
        tokens_in = tokens_out = 0
        for name in annotators:
            template = name.rsplit("/", 1)[-1] if "/" in name else ""
            for verdict in pair.verdicts.get(name, {}).values():
                tokens_in += pair.chars // 4 + TEMPLATE_TOKENS.get(template, 200)
                tokens_out += max(1, len(verdict.rationale) // 4)
        out.append((tokens_in, tokens_out))
    return out


def llmbar_mixed(data: Path) -> list[Pair]:
    """All eight LLMBar sets in one project; the slice of a pair is its set."""
    return [pair for name in LLMBAR_SETS for pair in load(data / "llmbar" / name, "llmbar")]


def llmbar_judge(evaluator: str) -> list[str]:
    return [f"llmbar:{evaluator}/{prompt}" for prompt in LLMBAR_PROMPTS]
