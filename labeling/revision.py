"""Critique-and-revise (Constitutional AI): a critic names where a response falls short of the
project's principles, a policy rewrites the response to fix it, and the rewrite becomes a new
candidate paired with the original.

Why pairs: a revision is only worth training on as a preference ("revised over original"),
and whether it really is better is for the judge and the humans to say, like any other pair.
Every revision keeps its provenance: the critique text, both templates (name + sha256), the
critic and the policy. Work is appended to a JSONL file one response at a time, keyed by the
hash of (prompt, response), so a stopped run resumes and never critiques a response twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from labeling.chat import ChatModel, GenerationError, LocalChat, Messages, OpenAIChat, Sampling
from labeling.judges.base import JudgeConfig
from labeling.prompts import DEFAULT_RUBRIC, Template, TemplateError, fence, fill, load_template

CRITIQUE_TEMPLATE = "critique_v1"
REVISE_TEMPLATE = "revise_v1"
# The critique is model-written text about an untrusted response: it gets its own fence.
_CRITIQUE_TAG_RE = re.compile(r"<(\s*/?\s*)(critique)\b", re.IGNORECASE)


@dataclass(frozen=True)
class RevisionConfig:
    """Templates, principles and decoding. Greedy by default: the same response and critique
    give the same revision, so a re-run reproduces it."""

    rubric: str = ""
    critique_template: str = CRITIQUE_TEMPLATE
    revise_template: str = REVISE_TEMPLATE
    critique_max_new_tokens: int = 128
    revision_max_new_tokens: int = 160
    temperature: float = 0.0
    batch: int = 8


@dataclass(frozen=True)
class RevisionItem:
    """One response to revise, with what its new pair inherits (model, category, origin)."""

    prompt: str
    response: str
    model: str = ""
    category: str = ""
    origin: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps([self.prompt, self.response]).encode()).hexdigest()[:16]


def unique_items(items: Iterable[RevisionItem]) -> list[RevisionItem]:
    """The first item of each (prompt, response): the same response twice is revised once, and
    its new pair inherits the first occurrence's model and origin."""
    first: dict[str, RevisionItem] = {}
    for item in items:
        first.setdefault(item.key, item)
    return list(first.values())


def critic_from_judge(config: JudgeConfig) -> ChatModel:
    """The judge's model as a free-text critic: `openai` and `hf` backends can write critiques;
    others (replay, ensemble) cannot, and the error says which can."""
    params = config.params
    if config.backend == "openai":
        return OpenAIChat(
            config.model,
            base_url=params.get("base_url"),
            api_key_env=str(params.get("api_key_env", "OPENAI_API_KEY")),
            concurrency=int(params.get("concurrency", 8)),
        )
    if config.backend == "hf":
        return LocalChat(config.model, device=params.get("device"))
    raise GenerationError(
        f"judge {config.name!r} (backend {config.backend}) cannot write critiques; "
        "use a judge on the openai or hf backend"
    )


def _template(name: str, kind: str) -> Template:
    try:
        template = load_template(name)
    except TemplateError as err:
        raise GenerationError(str(err)) from err
    if template.kind != kind:
        raise GenerationError(f"template {name!r} is a {template.kind} template, not a {kind} one")
    return template


def _messages(template: Template, slots: dict[str, str]) -> Messages:
    return [
        {"role": "system", "content": fill(template.system, slots)},
        {"role": "user", "content": fill(template.user, slots)},
    ]


def critique_messages(template: Template, rubric: str, item: RevisionItem) -> Messages:
    slots = {"rubric": fence(rubric or DEFAULT_RUBRIC), "prompt": fence(item.prompt)}
    return _messages(template, slots | {"response": fence(item.response)})


def revision_messages(template: Template, rubric: str, item: RevisionItem, critique: str) -> Messages:
    slots = {"rubric": fence(rubric or DEFAULT_RUBRIC), "prompt": fence(item.prompt)}
    slots |= {
        "response": fence(item.response),
        "critique": _CRITIQUE_TAG_RE.sub(r"&lt;\1\2", fence(critique)),
    }
    return _messages(template, slots)


def revise(
    items: Sequence[RevisionItem], critic: ChatModel, policy: ChatModel, config: RevisionConfig
) -> list[dict]:
    """Critique then revise each item (two batched calls); one record per item, in order:
    {key, prompt, original, critique, revised, changed, item, provenance}."""
    critique_t = _template(config.critique_template, "critique")
    revise_t = _template(config.revise_template, "revise")
    critiques = [
        texts[0]
        for texts in critic.complete(
            [critique_messages(critique_t, config.rubric, i) for i in items],
            Sampling(1, config.critique_max_new_tokens, config.temperature),
        )
    ]
    revisions = [
        texts[0]
        for texts in policy.complete(
            [revision_messages(revise_t, config.rubric, i, c) for i, c in zip(items, critiques, strict=True)],
            Sampling(1, config.revision_max_new_tokens, config.temperature),
        )
    ]
    provenance = {
        "critique_template": critique_t.name,
        "critique_template_sha256": critique_t.sha256,
        "revise_template": revise_t.name,
        "revise_template_sha256": revise_t.sha256,
        "critic": critic.name,
        "policy": policy.name,
        "temperature": config.temperature,
    }
    return [
        {
            "key": item.key,
            "critique": critique,
            "revised": revised,
            "changed": bool(revised) and revised.strip() != item.response.strip(),
            "item": asdict(item),
            "provenance": provenance,
        }
        for item, critique, revised in zip(items, critiques, revisions, strict=True)
    ]


def revise_to_file(
    items: Iterable[RevisionItem],
    out: Path,
    critic: ChatModel,
    policy: ChatModel,
    config: RevisionConfig,
    progress: Callable[[int, int], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> int:
    """Append a record for every item not yet in `out`; returns how many were revised now.
    Raises GenerationError when the critic or the policy cannot run (finished ones are kept)."""
    items = unique_items(items)
    done = _keys_done(out)
    todo = [i for i in items if i.key not in done]
    if todo:
        critic.check()
        policy.check()
    revised = 0
    for start in range(0, len(todo), config.batch):
        if should_cancel is not None and should_cancel():
            break
        chunk = todo[start : start + config.batch]
        records = revise(chunk, critic, policy, config)
        with out.open("a", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in records)
        revised += len(chunk)
        if progress is not None:
            progress(len(items) - len(todo) + revised, len(items))
    return revised


def _keys_done(out: Path) -> set[str]:
    if not out.exists():
        return set()
    with out.open(encoding="utf-8") as fh:
        return {json.loads(line)["key"] for line in fh if line.strip()}


def read_revisions(out: Path) -> list[dict]:
    """The records of a revision file (what `revise_to_file` wrote)."""
    if not out.exists():
        return []
    with out.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def revision_pairs(records: Iterable[dict]) -> Iterator[dict]:
    """Pairs in the generic import format: original in slot A, revision in slot B, the critique
    and its provenance in metadata. A revision equal to the original (or empty) makes no pair."""
    for record in records:
        if not record["changed"]:
            continue
        item, prov = record["item"], record["provenance"]
        yield {
            "prompt": item["prompt"],
            "response_a": item["response"],
            "response_b": record["revised"],
            "model_a": item["model"],
            "model_b": f"{prov['policy']} (revised)",
            "category": item["category"],
            "metadata": {
                "revision": {
                    "critique": record["critique"],
                    "revised_slot": "b",
                    **prov,
                    "origin": item["origin"],
                }
            },
        }
