"""The RLAIF paper's metrics: reward-model accuracy on held-out human labels, policy win rate
against the starting policy (judged in both orders, with response lengths beside it, since
judges like length and RL policies grow longer), and harmless rate.

Judges and classifiers are callables the caller supplies, so this module knows no backend:
- ScoreFn(prompts, responses) -> list[float] (a reward model),
- PairwiseJudge(prompts, first, second) -> list[float | None]: P(first is better) per item,
  None where the judge gave no verdict (an error, an unparsable reply),
- HarmlessClassifier(prompts, responses) -> list[bool | None] (None: no verdict).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from training.errors import ConfigError, EmptyDataset


class ScoreFn(Protocol):
    def __call__(self, prompts: list[str], responses: list[str]) -> list[float]: ...


class PairwiseJudge(Protocol):
    def __call__(self, prompts: list[str], first: list[str], second: list[str]) -> list[float | None]: ...


class HarmlessClassifier(Protocol):
    def __call__(self, prompts: list[str], responses: list[str]) -> list[bool | None]: ...


def _checked(values: Sequence[Any], n: int, what: str) -> list[Any]:
    values = list(values)
    if len(values) != n:
        raise ConfigError(f"{what} returned {len(values)} values for {n} items")
    return values


def reward_model_accuracy(
    score_fn: ScoreFn, rows: Sequence[Mapping[str, Any]], human_only: bool = True
) -> dict[str, float]:
    """{'accuracy', 'n', 'ties'}: share of pairs where chosen out-scores rejected (a tie counts
    half). With `human_only`, rows whose source is 'ai' are left out: accuracy is measured
    against human labels, never against the AI labels the model was trained to imitate."""
    rows = [r for r in rows if not human_only or r.get("source", "human") != "ai"]
    rows = [r for r in rows if float(r.get("p_chosen", 1.0)) != 0.5]  # kept ties have no right answer
    if not rows:
        raise EmptyDataset("no held-out human-labeled pairs to measure reward accuracy on")
    prompts = [r["prompt"] for r in rows]
    chosen = _checked(score_fn(prompts, [r["chosen"] for r in rows]), len(rows), "score_fn")
    rejected = _checked(score_fn(prompts, [r["rejected"] for r in rows]), len(rows), "score_fn")
    ties = sum(c == r for c, r in zip(chosen, rejected, strict=True))
    wins = sum(c > r for c, r in zip(chosen, rejected, strict=True))
    return {"accuracy": (wins + 0.5 * ties) / len(rows), "n": float(len(rows)), "ties": float(ties)}


def win_rate(
    prompts: Sequence[str], policy: Sequence[str], baseline: Sequence[str], judge: PairwiseJudge
) -> dict[str, float | None]:
    """Policy vs baseline responses, judged in both orders and averaged (position bias cancels):
    {'win_rate', 'n', 'unjudged', 'avg_len_policy', 'avg_len_baseline'} (lengths in characters,
    over all prompts). A prompt the judge gave no verdict on in either order counts in
    `unjudged`, not as a tie; `win_rate` is None when no prompt was judged."""
    prompts, policy, baseline = list(prompts), list(policy), list(baseline)
    n = len(prompts)
    if n == 0 or len(policy) != n or len(baseline) != n:
        raise ConfigError("win_rate needs one policy and one baseline response per prompt (and some prompts)")
    first = _checked(judge(prompts, policy, baseline), n, "judge")
    second = _checked(judge(prompts, baseline, policy), n, "judge")
    p_policy = [
        (float(a) + 1.0 - float(b)) / 2.0
        for a, b in zip(first, second, strict=True)
        if a is not None and b is not None
    ]
    score = sum(1.0 if p > 0.5 else 0.5 if p == 0.5 else 0.0 for p in p_policy)
    return {
        "win_rate": score / len(p_policy) if p_policy else None,
        "n": float(len(p_policy)),
        "unjudged": float(n - len(p_policy)),
        "avg_len_policy": sum(map(len, policy)) / n,
        "avg_len_baseline": sum(map(len, baseline)) / n,
    }


def harmless_rate(
    prompts: Sequence[str], responses: Sequence[str], classifier: HarmlessClassifier
) -> dict[str, float | None]:
    """{'harmless_rate', 'n', 'unjudged', 'avg_len'}: share of the classified responses the
    classifier calls harmless (None when it classified none)."""
    prompts, responses = list(prompts), list(responses)
    if not prompts or len(prompts) != len(responses):
        raise ConfigError("harmless_rate needs one response per prompt (and some prompts)")
    verdicts = [
        v for v in _checked(classifier(prompts, responses), len(prompts), "classifier") if v is not None
    ]
    return {
        "harmless_rate": sum(bool(v) for v in verdicts) / len(verdicts) if verdicts else None,
        "n": float(len(verdicts)),
        "unjudged": float(len(prompts) - len(verdicts)),
        "avg_len": sum(map(len, responses)) / len(responses),
    }


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    max_new_tokens: int = 32,
    batch_size: int = 8,
    seed: int = 0,
) -> list[str]:
    """Greedy completions (deterministic, so before/after comparisons are fair)."""
    import torch

    torch.manual_seed(seed)
    model.eval()
    device = next(model.parameters()).device
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    out: list[str] = []
    try:
        for i in range(0, len(prompts), batch_size):
            enc = tokenizer(list(prompts[i : i + batch_size]), return_tensors="pt", padding=True).to(device)
            with torch.no_grad():
                ids = model.generate(
                    **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
                )
            out.extend(tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1] :], skip_special_tokens=True))
    finally:
        tokenizer.padding_side = side
    return out


def policy_win_rate(
    policy: Any,
    baseline: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    judge: PairwiseJudge,
    max_new_tokens: int = 32,
) -> dict[str, float]:
    """Generate with both models on held-out prompts and judge them with `win_rate`."""
    ours = generate(policy, tokenizer, prompts, max_new_tokens)
    theirs = generate(baseline, tokenizer, prompts, max_new_tokens)
    return win_rate(prompts, ours, theirs, judge)


def evaluate_policy(
    start_model: str,
    trained_model: str,
    prompts: Sequence[str],
    judge: PairwiseJudge,
    *,
    max_new_tokens: int = 32,
    harmless: HarmlessClassifier | None = None,
) -> dict[str, Any]:
    """The RLAIF paper's policy metrics for a finished run: the trained policy against the model
    it started from on held-out `prompts` (greedy answers of both, judged in both orders), the
    average response length of each, and with a `harmless` classifier the harmless rate of
    each, before and after. Both models load from their paths (an adapter is merged first).
    Raises ModelPathError for a missing model, ConfigError when there are no prompts."""
    from training.models import load_policy, load_tokenizer, resolve_model

    prompts = list(prompts)
    if not prompts:
        raise ConfigError("policy evaluation needs at least one held-out prompt")
    tokenizer = load_tokenizer(resolve_model(trained_model))
    answers = {}
    for name, source in (("policy", trained_model), ("start", start_model)):
        model = load_policy(resolve_model(source), tokenizer)
        answers[name] = [a.strip() for a in generate(model, tokenizer, prompts, max_new_tokens)]
        del model
    result: dict[str, Any] = {"prompts": len(prompts), "max_new_tokens": max_new_tokens}
    wins = win_rate(prompts, answers["policy"], answers["start"], judge)
    result |= {
        "win_rate": wins["win_rate"],
        "judged": int(wins["n"]),
        "unjudged": int(wins["unjudged"]),
        "avg_len_policy": round(wins["avg_len_policy"], 1),
        "avg_len_start": round(wins["avg_len_baseline"], 1),
    }
    if harmless is not None:
        result["harmless_rate"] = {
            name: harmless_rate(prompts, answers[name], harmless)["harmless_rate"]
            for name in ("policy", "start")
        }
    result["examples"] = [
        {"prompt": p, "policy": a, "start": b}
        for p, a, b in zip(prompts[:3], answers["policy"], answers["start"], strict=False)
    ]
    return result
