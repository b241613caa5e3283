"""Render a judge's template and an item into chat messages (the request a backend sends)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from labeling.judges.base import JudgeConfig, JudgeError, JudgeItem
from labeling.judges.scoring import ScoreItem
from labeling.prompts import DEFAULT_RUBRIC, Template, TemplateError, fence, fill, load_template

Messages = list[dict[str, str]]


def judge_template(config: JudgeConfig, kind: str) -> Template:
    """The config's template, checked to be of `kind` (`pairwise` or `score`).

    Raises JudgeError naming the `template` setting when it is unknown or of the wrong kind.
    """
    try:
        template = load_template(config.template)
    except TemplateError as exc:
        raise JudgeError(exc.code, f"judge {config.name!r}: {exc}", setting="template") from exc
    if template.kind != kind:
        raise JudgeError(
            "judge.template_kind",
            f"judge {config.name!r} uses the {template.kind} template {template.name!r} but was "
            f"asked for {kind} judgments; pick a {kind} template (e.g. "
            f"{'score_v1' if kind == 'score' else 'pairwise_v1'})",
            setting="template",
        )
    return template


def allow_tie(config: JudgeConfig) -> bool:
    """Ties are offered unless the config sets `tie: false`."""
    return bool(config.params.get("tie", True))


def _examples(config: JudgeConfig) -> str:
    """Few-shot examples from `params.few_shot`: dicts with prompt, first, second, verdict
    (pairwise) or prompt, response, score (scoring)."""
    shots: Sequence[Mapping[str, Any]] = config.params.get("few_shot", ())
    blocks = []
    for n, shot in enumerate(shots, start=1):
        fields = [f"Example {n}:"]
        for name in ("prompt", "first", "second", "response", "verdict", "score"):
            if name in shot:
                fields.append(f"{name.capitalize()}: {fence(str(shot[name]))}")
        blocks.append("\n".join(fields))
    return "\n\n".join(blocks)


def _slots(config: JudgeConfig, prompt: str, reference: str) -> dict[str, str]:
    return {
        "rubric": fence(config.rubric or DEFAULT_RUBRIC),
        "examples": _examples(config),
        "prompt": fence(prompt),
        "reference": fence(reference),
        "tie": "yes" if allow_tie(config) else "",
    }


def pairwise_messages(template: Template, config: JudgeConfig, item: JudgeItem) -> Messages:
    """System + user messages asking for a pairwise verdict (or, for cot, the reasoning)."""
    slots = _slots(config, item.prompt, item.reference)
    slots |= {"first": fence(item.first), "second": fence(item.second)}
    return [
        {"role": "system", "content": fill(template.system, slots)},
        {"role": "user", "content": fill(template.user, slots)},
    ]


def verdict_followup(template: Template, config: JudgeConfig, messages: Messages, rationale: str) -> Messages:
    """The second step of a cot template: the reasoning as the assistant's turn, then the
    request for the single verdict token that is scored."""
    slots = {"tie": "yes" if allow_tie(config) else ""}
    return [
        *messages,
        {"role": "assistant", "content": rationale},
        {"role": "user", "content": fill(template.verdict, slots)},
    ]


def score_messages(template: Template, config: JudgeConfig, item: ScoreItem) -> Messages:
    """System + user messages asking for a 1-10 score of one response."""
    slots = _slots(config, item.prompt, item.reference) | {"response": fence(item.response)}
    return [
        {"role": "system", "content": fill(template.system, slots)},
        {"role": "user", "content": fill(template.user, slots)},
    ]
