"""The `hf` backend: a local transformers causal LM scored in batches.

One left-padded, batched forward pass per batch gives the logits at the answer position; the
verdict probability is the softmax over the allowed verdict tokens' logits only (Lee et al.
2023). Spellings of one verdict that are single tokens (`1`, ` 1`) are pooled with logsumexp.

Every prompt of a template starts with the same tokens (the system message, the rubric, the
few-shot examples), and a pair's two orders repeat its prompt up to the first response: on
LLMBar that is 45% of the tokens. Their keys and values are computed once and reused
(`_PrefixCache`), so each item pays mostly for its own tokens; on a CPU, where reading the
prompt is the whole cost, that is the speed-up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from labeling import local_models
from labeling.judges.base import (
    Judge,
    JudgeConfig,
    JudgeError,
    JudgeItem,
    Provenance,
    ShownChoice,
    Verdict,
    register_backend,
)
from labeling.judges.cache import CallCache, request_key
from labeling.judges.messages import (
    Messages,
    allow_tie,
    judge_template,
    pairwise_messages,
    score_messages,
    verdict_followup,
)
from labeling.judges.params import judge_params
from labeling.judges.parsing import VERDICT_TOKENS, allowed_choices, verdict_from_distribution
from labeling.judges.scoring import SCORES, ScoreItem, ScoreVerdict, score_verdict
from labeling.prompts import Template


def smollm2_location() -> tuple[Path, str]:
    """(directory, file name) of the offline SmolLM2 GGUF; raises JudgeError when missing."""
    try:
        return local_models.smollm2_location()
    except local_models.ModelNotFound as exc:
        raise JudgeError("judge.hf.smollm2", str(exc), setting="model") from exc


logger = logging.getLogger(__name__)


def _accepts(model: Any, parameter: str) -> bool:
    import inspect

    return parameter in inspect.signature(model.forward).parameters


# The keyword under which a model's forward takes and returns its key/value cache: transformers
# renamed `past_key_values` to `cache` during 5.x (5.25 has `cache`, 5.1x `past_key_values`).
CACHE_KEYWORDS = ("cache", "past_key_values")


def cache_keyword(model: Any) -> str | None:
    """Which of CACHE_KEYWORDS `model.forward` takes, or None when it takes neither."""
    return next((name for name in CACHE_KEYWORDS if _accepts(model, name)), None)


def _returned_cache(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


MIN_SHARED_PREFIX = 16  # shorter shared heads are not worth a second forward call


def _common_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    first = rows[0]
    n = min(len(r) for r in rows)
    for row in rows[1:]:
        i = 0
        while i < n and row[i] == first[i]:
            i += 1
        n = i
    return n


def _cache_of(layers: Sequence[tuple[Any, Any]], batch: int) -> Any:
    """A DynamicCache holding `layers` (keys, values per layer) repeated over `batch` rows
    (views, not copies: the model appends to the cache by concatenation)."""
    from transformers import DynamicCache

    cache = DynamicCache()
    for index, (keys, values) in enumerate(layers):
        cache.update(keys.expand(batch, -1, -1, -1), values.expand(batch, -1, -1, -1), index)
    return cache


class _PrefixCache:
    """The keys and values of the last shared prefix scored, reused by the next call for the
    tokens the two have in common (as llama.cpp's prompt cache does).

    Batch after batch that is the template's head. With one prompt per batch it is more: the
    other presentation order of the same pair repeats the prompt up to the first response, so
    the second order reads only the two responses.
    """

    def __init__(self) -> None:
        # (tokens, keys and values per layer), replaced as one: a reader never sees a mix.
        self._entry: tuple[tuple[int, ...], list[tuple[Any, Any]]] = ((), [])

    @property
    def tokens(self) -> tuple[int, ...]:
        return self._entry[0]

    def get(self, model: Any, keyword: str, tokens: Sequence[int]) -> list[tuple[Any, Any]]:
        import torch

        tokens = tuple(tokens)
        cached, cached_layers = self._entry
        reuse = _common_prefix_length([cached, tokens]) if cached else 0
        if reuse == len(tokens) == len(cached):
            return cached_layers
        if reuse < MIN_SHARED_PREFIX:
            reuse = 0
        layers = [(k[:, :, :reuse], v[:, :, :reuse]) for k, v in cached_layers] if reuse else []
        if reuse < len(tokens):
            ids = torch.tensor([tokens[reuse:]], device=model.device)
            positions = torch.arange(reuse, len(tokens), device=model.device)[None]
            with torch.inference_mode():
                out = model(
                    input_ids=ids,
                    position_ids=positions,
                    use_cache=True,
                    **{keyword: _cache_of(layers, 1) if layers else None},
                    **({"logits_to_keep": 1} if _accepts(model, "logits_to_keep") else {}),
                )
            layers = [(layer.keys, layer.values) for layer in _returned_cache(out).layers]
        self._entry = (tokens, layers)
        return layers


def _label_token_ids(tokenizer, label: str) -> list[int]:
    """Ids of the single-token spellings of `label` (`1`, ` 1`, `Tie`, ...)."""
    ids: set[int] = set()
    for variant in {label, " " + label, label.capitalize(), " " + label.capitalize()}:
        encoded = tokenizer.encode(variant, add_special_tokens=False)
        if len(encoded) == 1:
            ids.add(encoded[0])
    return sorted(ids)


@register_backend("hf")
class HFJudge(Judge):
    """Params: labeling.judges.params.HFParams. batch_size defaults to 8 on a GPU and 1 on a CPU:
    there padding costs, and the prefix cache reuses the pair's prompt between its two orders
    only one prompt at a time (bench/judge_local.py). `model` is a hub id or a local path;
    `model` and `tokenizer` objects may be passed in directly (tests, shared models)."""

    def __init__(
        self,
        config: JudgeConfig,
        cache: CallCache | None = None,
        model: Any = None,
        tokenizer: Any = None,
    ) -> None:
        super().__init__(config, cache)
        self._model, self._tokenizer = model, tokenizer
        self.params = judge_params(config)
        self._batch_size = self.params.batch_size
        self.share_prefix = self.params.share_prefix
        self._prefix = _PrefixCache()
        self._prefix_off: str | None = None  # why the prefix reuse is off, once known

    @property
    def prefix_reuse(self) -> str:
        """`on`, `off: <reason>`, for the verdict's provenance. A model whose forward takes no
        cache keyword (a transformers release that renamed it again) turns the reuse off: said
        once in the log and on every verdict, never silently."""
        if not self.share_prefix:
            return "off: share_prefix is false"
        if self._prefix_off is None:
            model, _ = self._load()
            if cache_keyword(model) is None:
                self._prefix_off = (
                    f"off: {type(model).__name__}.forward takes none of {', '.join(CACHE_KEYWORDS)} "
                    "(transformers changed its cache API; the lock pins a tested release)"
                )
                logger.warning("hf judge %r: prefix reuse %s", self.config.name, self._prefix_off)
            else:
                self._prefix_off = ""
        return self._prefix_off or "on"

    @property
    def batch_size(self) -> int:
        if self._batch_size is not None:
            return int(self._batch_size)
        model, _ = self._load()
        return 8 if model.device.type == "cuda" else 1

    # -- loading -------------------------------------------------------------------------

    def _load(self) -> tuple[Any, Any]:
        if self._model is None or self._tokenizer is None:
            # torch and transformers load lazily: importing labeling.judges stays cheap.
            try:
                model, tokenizer = local_models.load_causal_lm(
                    self.config.model, self.params.gguf_file or None, self.params.device
                )
            except local_models.ModelNotFound as exc:
                raise JudgeError(
                    "judge.hf.model", f"judge {self.config.name!r}: {exc}", setting="model"
                ) from exc
            self._model, self._tokenizer = self._model or model, self._tokenizer or tokenizer
        tokenizer = self._tokenizer
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return self._model, tokenizer

    async def check(self) -> None:
        """Load the model and check every verdict token is a single token of its vocabulary."""
        _, tokenizer = await asyncio.to_thread(self._load)
        for label in VERDICT_TOKENS:
            if not _label_token_ids(tokenizer, label):
                raise JudgeError(
                    "judge.hf.tokens",
                    f"verdict {label!r} is not a single token for model {self.config.model!r}",
                    setting="model",
                )

    # -- the forward pass ----------------------------------------------------------------

    def _encode(self, conversations: Sequence[Messages]) -> Any:
        _, tokenizer = self._load()
        texts = [
            tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
            for c in conversations
        ]
        return tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)

    def next_token_logprobs(
        self, conversations: Sequence[Messages], suffix_token: int | None = None
    ) -> tuple[Any, list[int]]:
        """(log-softmax over the vocabulary at the answer position, prompt token counts), one
        row per conversation, from ONE batched forward pass over what follows the tokens all
        rows share (their keys and values come from `_PrefixCache`). Rows are left-padded after
        the shared head; position ids follow the mask, so a padded row scores as it would alone.
        `suffix_token` is appended first.
        """
        import torch

        model, tokenizer = self._load()
        texts = [
            tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
            for c in conversations
        ]
        rows = [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
        counts = [len(r) for r in rows]
        if suffix_token is not None:
            rows = [[*r, suffix_token] for r in rows]
        keyword = cache_keyword(model) if self.prefix_reuse == "on" else None
        shared = _common_prefix_length(rows) if keyword else 0
        shared = min(shared, min(len(r) for r in rows) - 1)  # every row keeps a token to score
        if shared < MIN_SHARED_PREFIX:
            shared = 0
        tails = [r[shared:] for r in rows]
        width = max(len(t) for t in tails)
        pad = tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(t)) + t for t in tails])
        mask = torch.tensor([[0] * (width - len(t)) + [1] * len(t) for t in tails])
        positions = (mask.cumsum(-1) - 1).clamp(min=0) + shared
        extra: dict[str, Any] = {}
        if shared:
            extra[keyword] = _cache_of(self._prefix.get(model, keyword, rows[0][:shared]), len(rows))
            mask = torch.cat([torch.ones(len(rows), shared, dtype=mask.dtype), mask], dim=1)
        # Only the last position's scores are read: asking for just those skips a
        # (batch x length x vocabulary) array (about 1 GB for 8 SmolLM2 prompts of 600 tokens).
        if _accepts(model, "logits_to_keep"):
            extra["logits_to_keep"] = 1
        with torch.inference_mode():
            out = model(
                input_ids=ids.to(model.device),
                attention_mask=mask.to(model.device),
                position_ids=positions.to(model.device),
                use_cache=bool(shared),
                **extra,
            )
        self.stats.calls += 1
        return torch.log_softmax(out.logits[:, -1, :].float(), dim=-1).cpu(), counts

    def generate(self, conversations: Sequence[Messages], max_new_tokens: int) -> list[str]:
        """Greedy continuations (the reasoning step of a cot template), batched."""
        import torch

        model, tokenizer = self._load()
        batch = self._encode(conversations).to(model.device)
        with torch.inference_mode():
            out = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        self.stats.calls += 1
        new = out[:, batch["input_ids"].shape[1] :]
        return [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]

    def label_distribution(self, logprobs: Any, labels: Sequence[str]) -> list[dict[str, float]]:
        """Per row: softmax over `labels`, each label's spellings pooled with logsumexp."""
        import torch

        _, tokenizer = self._load()
        pooled = torch.stack(
            [torch.logsumexp(logprobs[:, _label_token_ids(tokenizer, lab)], -1) for lab in labels],
            dim=-1,
        )
        probs = torch.softmax(pooled, dim=-1).tolist()
        return [dict(zip(labels, row, strict=True)) for row in probs]

    # -- judging -------------------------------------------------------------------------

    async def judge_batch(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        template = judge_template(self.config, "pairwise")
        conversations = [pairwise_messages(template, self.config, i) for i in items]
        return await asyncio.to_thread(
            self._run_batches, template, items, conversations, self._pairwise_batch
        )

    async def score_batch(self, items: Sequence[ScoreItem]) -> list[ScoreVerdict]:
        """Direct 1-10 scores (d-RLAIF): the probability-weighted mean over the score tokens.
        Where `10` is two tokens, a second pass with `1` appended splits P(`1`) into 1 and 10."""
        template = judge_template(self.config, "score")
        conversations = [score_messages(template, self.config, i) for i in items]
        return await asyncio.to_thread(self._run_batches, template, items, conversations, self._score_batch)

    def _run_batches(self, template: Template, items, conversations, scorer) -> list:
        """Answer cached items from the cache, score the rest batch by batch."""
        keys = [
            request_key(
                {
                    "backend": "hf",
                    "model": self.config.model,
                    "gguf_file": self.params.gguf_file,
                    "kind": template.kind,
                    "messages": c,
                }
            )
            for c in conversations
        ]
        results: list[dict[str, Any] | None] = [self.cache.get(k) for k in keys]
        self.stats.cache_hits += sum(r is not None for r in results)
        # Similar lengths batch together, so little of each forward pass is padding, and the two
        # orders of a pair (same length) sit side by side for the prefix cache; answers go back
        # by index, so the order of the verdicts does not change.
        todo = sorted(
            (i for i, r in enumerate(results) if r is None),
            key=lambda i: (len(str(conversations[i])), getattr(items[i], "prompt", "")),
        )
        size = self.batch_size
        for start in range(0, len(todo), size):
            chunk = todo[start : start + size]
            started = time.perf_counter()
            answers = scorer(template, [conversations[i] for i in chunk])
            latency = time.perf_counter() - started
            made = {"latency_s": latency, "prefix_reuse": self.prefix_reuse}
            for i, answer in zip(chunk, answers, strict=True):
                results[i] = answer | made | {"fresh": True}
                self.cache.put(keys[i], answer | made)
        return [
            self._to_verdict(template, item.key, key, result)
            for item, key, result in zip(items, keys, results, strict=True)
        ]

    def _pairwise_batch(self, template: Template, conversations: list[Messages]) -> list[dict]:
        rationales = [""] * len(conversations)
        if template.is_cot:
            max_new = self.params.cot_max_tokens
            rationales = self.generate(conversations, max_new)
            conversations = [
                verdict_followup(template, self.config, c, r)
                for c, r in zip(conversations, rationales, strict=True)
            ]
        labels = [c.value for c in allowed_choices(allow_tie(self.config))]
        token_labels = {v.value: k for k, v in VERDICT_TOKENS.items()}
        logprobs, prompt_tokens = self.next_token_logprobs(conversations)
        dists = self.label_distribution(logprobs, [token_labels[lab] for lab in labels])
        return [
            {
                "probs": {lab: d[token_labels[lab]] for lab in labels},
                "rationale": r,
                "prompt_tokens": int(n),
            }
            for d, r, n in zip(dists, rationales, prompt_tokens, strict=True)
        ]

    def _score_batch(self, template: Template, conversations: list[Messages]) -> list[dict]:
        _, tokenizer = self._load()
        logprobs, prompt_tokens = self.next_token_logprobs(conversations)
        ten_is_token = bool(_label_token_ids(tokenizer, "10"))
        labels = [str(s) for s in SCORES if s < 10 or ten_is_token]
        dists = self.label_distribution(logprobs, labels)
        if not ten_is_token:  # P(10) = P("1") * P("0" | "1")
            one = _label_token_ids(tokenizer, "1")[0]
            p_zero = self.label_distribution(self.next_token_logprobs(conversations, one)[0], ["0", "1"])
            for d, z in zip(dists, p_zero, strict=True):
                d["10"], d["1"] = d["1"] * z["0"], d["1"] * z["1"]
        return [{"probs": d, "prompt_tokens": int(n)} for d, n in zip(dists, prompt_tokens, strict=True)]

    def _to_verdict(self, template: Template, key: str, cache_key: str, result: dict):
        provenance = Provenance(
            backend="hf",
            model=self.config.model,
            template=template.name,
            template_sha256=template.sha256,
            params=dict(self.config.params),
            prompt_tokens=int(result["prompt_tokens"]),
            completion_tokens=0,
            cost=0.0,
            latency_s=float(result["latency_s"]),
            cache_key=cache_key,
            cached=not result.get("fresh"),
            p_source="logprobs",
            calls=int(bool(result.get("fresh"))),
            notes={"prefix_reuse": result["prefix_reuse"]} if "prefix_reuse" in result else {},
        )
        if result.get("fresh"):
            self.stats.add_usage(provenance.prompt_tokens, 0, 0.0)
        if template.kind == "score":
            dist = {int(k): v for k, v in result["probs"].items()}
            return score_verdict(key, dist, provenance)
        dist = {ShownChoice(k): v for k, v in result["probs"].items()}
        return verdict_from_distribution(key, dist, provenance, result.get("rationale", ""))
