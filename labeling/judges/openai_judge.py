"""The `openai` backend: any OpenAI-compatible chat endpoint (OpenAI, vLLM, TGI, Ollama,
llama.cpp server).

The soft label is read from the first reply token's `top_logprobs`, renormalized over the
allowed verdict tokens (Lee et al. 2023). An endpoint that returns no log-probs is detected
on the first reply and from then on asked for `votes` sampled answers, whose shares estimate
the probability (`p_source = "votes:N"`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from labeling.judges.base import (
    Judge,
    JudgeItem,
    Provenance,
    Verdict,
    register_backend,
)
from labeling.judges.cache import CallCache
from labeling.judges.limits import price_of
from labeling.judges.messages import (
    Messages,
    allow_tie,
    judge_template,
    pairwise_messages,
    score_messages,
    verdict_followup,
)
from labeling.judges.openai_client import CallFailed, CallResult, OpenAICaller, endpoint_of, in_order
from labeling.judges.params import judge_params
from labeling.judges.parsing import (
    distribution_from_logprobs,
    distribution_from_votes,
    parse_score_text,
    parse_verdict_text,
    verdict_from_distribution,
)
from labeling.judges.scoring import (
    ScoreItem,
    ScoreVerdict,
    failed_score,
    score_distribution,
    score_verdict,
)
from labeling.records import VerdictStatus

_SAMPLING = ("temperature", "top_p", "seed")


@register_backend("openai")
class OpenAIJudge(Judge):
    """Params: labeling.judges.params.OpenAIParams (names, types, defaults)."""

    def __init__(self, config, cache: CallCache | None = None) -> None:
        super().__init__(config, cache)
        self.caller = OpenAICaller(config, self.cache, self.stats)
        self.params = judge_params(config)
        mode = self.params.probability
        self._votes_only = mode == "votes"
        self._mode = mode

    @classmethod
    def endpoint(cls, config) -> str:
        return endpoint_of(config)

    async def check(self) -> None:
        await self.caller.check()

    async def judge_batch(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        template = judge_template(self.config, "pairwise")
        return await self._in_order(lambda item: self._judge_one(template, item), items)

    async def score_batch(self, items: Sequence[ScoreItem]) -> list[ScoreVerdict]:
        """Direct 1-10 scores (d-RLAIF), one per item, in order."""
        template = judge_template(self.config, "score")
        return await self._in_order(lambda item: self._score_one(template, item), items)

    async def _in_order(self, judge_one, items: Sequence) -> list:
        return await in_order(self.params.concurrency, judge_one, items)

    # -- requests ------------------------------------------------------------------------

    def _request(self, messages: Messages, **overrides: Any) -> dict[str, Any]:
        params = self.params
        request: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "temperature": 0.0,
        }
        request |= {k: getattr(params, k) for k in _SAMPLING if getattr(params, k) is not None}
        return request | overrides

    def _logprob_request(self, messages: Messages, max_tokens: int) -> dict[str, Any]:
        # 20 (OpenAI's maximum): with 5, a real server (llama.cpp + SmolLM2) often lists "1"
        # without "2" among the top tokens, and the renormalized probability saturates at 1.0.
        top = self.params.top_logprobs
        return self._request(messages, max_tokens=max_tokens, logprobs=True, top_logprobs=top)

    def _provenance(self, template, results: Sequence[CallResult], p_source: str) -> Provenance:
        """Provenance over all calls behind one verdict; only fresh calls count as paid."""
        prices = self.params.prices
        prompt = completion = 0
        for result in results:
            usage = result.body.get("usage") or {}
            p, c = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            prompt, completion = prompt + p, completion + c
            if not result.cached:
                self.stats.add_usage(p, c, price_of(prices, self.config.model, p, c))
        return Provenance(
            backend="openai",
            model=self.config.model,
            template=template.name,
            template_sha256=template.sha256,
            params=results[-1].params,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost=price_of(prices, self.config.model, prompt, completion),
            latency_s=sum(r.latency_s for r in results),
            cache_key=results[-1].key,
            endpoint=self.caller.endpoint,
            cached=all(r.cached for r in results),
            p_source=p_source,
            calls=sum(r.attempts for r in results),
        )

    def _error(self, key: str, template, exc: CallFailed) -> Verdict:
        self.stats.errors += 1
        provenance = Provenance(
            backend="openai",
            model=self.config.model,
            template=template.name,
            template_sha256=template.sha256,
            calls=exc.attempts,
            endpoint=self.caller.endpoint,
        )
        return Verdict.failed(key, VerdictStatus.ERROR, exc.reason, provenance)

    # -- pairwise ------------------------------------------------------------------------

    async def _judge_one(self, template, item: JudgeItem) -> Verdict:
        messages = pairwise_messages(template, self.config, item)
        results: list[CallResult] = []
        rationale = ""
        try:
            if template.is_cot:
                cot_tokens = self.params.cot_max_tokens
                first = await self.caller.call(self._request(messages, max_tokens=cot_tokens))
                results.append(first)
                rationale = _content(first.body, 0)
                messages = verdict_followup(template, self.config, messages, rationale)
            return await self._verdict(template, item.key, messages, results, rationale)
        except CallFailed as exc:
            return self._error(item.key, template, exc)

    async def _verdict(
        self, template, key: str, messages: Messages, results: list[CallResult], rationale: str
    ) -> Verdict:
        tie = allow_tie(self.config)
        if not self._votes_only:
            result = await self.caller.call(self._logprob_request(messages, 1))
            results.append(result)
            top = _first_top_logprobs(result.body)
            if top is not None:
                dist = distribution_from_logprobs(top, tie)
                return verdict_from_distribution(
                    key,
                    dist,
                    self._provenance(template, results, "logprobs"),
                    rationale,
                    reply=_content(result.body, 0),
                )
            if self._mode == "logprobs":
                raise CallFailed(
                    "the endpoint returned no logprobs; set the judge's probability param to votes or auto",
                    result.attempts,
                )
            self._votes_only = True  # this endpoint has none: stop asking
        replies = await self._vote_replies(messages, results)
        votes = [v for v in (parse_verdict_text(r, tie) for r in replies) if v is not None]
        dist = distribution_from_votes(votes, tie)
        provenance = self._provenance(template, results, f"votes:{len(votes)}")
        return verdict_from_distribution(key, dist, provenance, rationale, reply=" | ".join(replies))

    async def _vote_replies(self, messages: Messages, results: list[CallResult]) -> list[str]:
        """`votes` sampled replies; endpoints that ignore `n` are asked again (each round is
        its own cache entry so a repeat is not answered with the same sample)."""
        wanted = self.params.votes
        temperature = self.params.vote_temperature
        replies: list[str] = []
        for round_no in range(wanted):
            request = self._request(messages, max_tokens=4, n=wanted - len(replies), temperature=temperature)
            result = await self.caller.call(request, key_extra={"vote_round": round_no})
            results.append(result)
            replies += [_content(result.body, i) for i in range(len(result.body["choices"]))]
            if len(replies) >= wanted:
                break
        return replies[:wanted]

    # -- direct scoring -----------------------------------------------------------------

    async def _score_one(self, template, item: ScoreItem) -> ScoreVerdict:
        messages = score_messages(template, self.config, item)
        try:
            results: list[CallResult] = []
            if not self._votes_only:
                result = await self.caller.call(self._logprob_request(messages, 2))
                results.append(result)
                mass = _score_mass(result.body)
                if mass is not None:
                    provenance = self._provenance(template, results, "logprobs")
                    return score_verdict(
                        item.key,
                        score_distribution(mass),
                        provenance,
                        reply=_content(result.body, 0),
                    )
                self._votes_only = self._mode != "logprobs"
            replies = await self._vote_replies(messages, results)
        except CallFailed as exc:
            self.stats.errors += 1
            return failed_score(
                item.key,
                exc.reason,
                Provenance("openai", self.config.model, template.name, template.sha256),
            )
        scores = [s for s in (parse_score_text(r) for r in replies) if s is not None]
        mass = {s: float(scores.count(s)) for s in set(scores)}
        provenance = self._provenance(template, results, f"votes:{len(scores)}")
        return score_verdict(item.key, score_distribution(mass), provenance, " | ".join(replies))


def _content(body: dict[str, Any], index: int) -> str:
    message = body["choices"][index].get("message") or {}
    return str(message.get("content") or "")


def _token_logprobs(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    logprobs = body["choices"][0].get("logprobs") or {}
    return logprobs.get("content") or None


def _first_top_logprobs(body: dict[str, Any]) -> dict[str, float] | None:
    """{token: logprob} of the first reply token (the sampled token included), or None when
    the endpoint sent no log-probs."""
    content = _token_logprobs(body)
    if not content:
        return None
    first = content[0]
    top = {t["token"]: float(t["logprob"]) for t in first.get("top_logprobs") or []}
    top.setdefault(first["token"], float(first["logprob"]))
    return top


def _score_mass(body: dict[str, Any]) -> dict[int, float] | None:
    """Probability mass of each score 1-10 from the first token's top log-probs. Where `10`
    is two tokens (`1`, `0`) and the reply began with `1`, the second token's P(`0`) splits the
    `1` mass between 1 and 10. None when the endpoint sent no log-probs."""
    content = _token_logprobs(body)
    if not content:
        return None
    mass: dict[int, float] = {}
    for token, logprob in (_first_top_logprobs(body) or {}).items():
        text = token.strip()
        if text.isdigit() and 1 <= int(text) <= 10:
            mass[int(text)] = mass.get(int(text), 0.0) + math.exp(logprob)
    if 10 not in mass and 1 in mass and content[0]["token"].strip() == "1" and len(content) > 1:
        second = {t["token"]: t["logprob"] for t in content[1].get("top_logprobs") or []}
        p_zero = math.exp(second.get("0", -math.inf))
        mass[10], mass[1] = mass[1] * p_zero, mass[1] * (1 - p_zero)
    return mass
