"""Render a judge's template and an item into chat messages (the request a backend sends)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from labeling.injection import neutralize
from labeling.judges.base import JudgeConfig, JudgeError, JudgeItem
from labeling.judges.params import judge_params
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
    return judge_params(config).tie


def _examples(config: JudgeConfig) -> str:
    """Few-shot examples from `params.few_shot`: dicts with prompt, first, second, verdict
    (pairwise) or prompt, response, score (scoring)."""
    shots: Sequence[Mapping[str, Any]] = judge_params(config).few_shot
    blocks = []
    for n, shot in enumerate(shots, start=1):
        fields = [f"Example {n}:"]
        for name in ("prompt", "first", "second", "response", "verdict", "score"):
            if name in shot:
                fields.append(f"{name.capitalize()}: {fence(str(shot[name]))}")
        blocks.append("\n".join(fields))
    return "\n\n".join(blocks)


def defended(template: Template) -> bool:
    """Whether `template` delimits untrusted text with a per-item nonce (`{{nonce}}`, e.g.
    pairwise_v2): such templates also get `neutralize` (chat control tokens defused, any tag
    shaped like a template block escaped). Older templates keep their exact rendering, so
    their released prompts, and the cache keys built from them, do not change."""
    return "{{nonce}}" in template.user


def untrusted_text(template: Template) -> Callable[[str], str]:
    """How text the judge must not obey (prompt, reference, responses) is made safe to embed."""
    return (lambda text: neutralize(fence(text))) if defended(template) else fence


def nonce(*texts: str) -> str:
    """The delimiter identifier of one rendering: a hash of the untrusted texts themselves, so it
    is the same on every run (cache keys and provenance stay reproducible) while a response
    cannot contain its own closing tag: it would have to contain a hash of itself."""
    return hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:12]


def _slots(config: JudgeConfig, prompt: str, reference: str, safe=fence) -> dict[str, str]:
    return {
        "rubric": fence(config.rubric or DEFAULT_RUBRIC),
        "examples": _examples(config),
        "prompt": safe(prompt),
        "reference": safe(reference),
        "tie": "yes" if allow_tie(config) else "",
    }


def pairwise_messages(template: Template, config: JudgeConfig, item: JudgeItem) -> Messages:
    """System + user messages asking for a pairwise verdict (or, for cot, the reasoning)."""
    safe = untrusted_text(template)
    slots = _slots(config, item.prompt, item.reference, safe)
    slots |= {
        "first": safe(item.first),
        "second": safe(item.second),
        "nonce": nonce(item.prompt, item.reference, item.first, item.second),
    }
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
    safe = untrusted_text(template)
    slots = _slots(config, item.prompt, item.reference, safe) | {
        "response": safe(item.response),
        "nonce": nonce(item.prompt, item.reference, item.response),
    }
    return [
        {"role": "system", "content": fill(template.system, slots)},
        {"role": "user", "content": fill(template.user, slots)},
    ]
