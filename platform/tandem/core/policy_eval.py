"""The final evaluation of a trained policy (DPO, PPO, RLOO, GRPO), as the RLAIF paper reports it:
its win rate against the model it started from on the dataset's held-out prompts, judged by
the project's AI judge in both orders, with the average response length of each beside it
(judges like length, RL policies grow longer), and the harmless rate before and after where
the project has a harmlessness rubric.

training.evaluate does the generating and the counting with judge callables; this module
chooses the judge (resolved by judging.resolve_config, like `manage.py judge`) and builds the
callables, so training/ stays free of Django. Their calls are cached in memory for the run: the
answers are new, so a database cache would rarely answer them.
"""

from __future__ import annotations

import time

from .models import DatasetVersion, Project
from .services import ServiceError

POLICY_METHODS = ("dpo", "ppo", "rloo", "grpo")
NO_HARMLESS_RUBRIC = (
    "the project has no harmlessness rubric (set judge_config.harmlessness_rubric to measure it)"
)


def eval_judge(project: Project, version: DatasetVersion, config) -> tuple[str, str]:
    """(judge name, where the choice came from): the config's `eval_judge`; else the judge whose
    verdicts the dataset was blended from, when it is one that can run (recorded verdicts of a
    replayed judge cannot judge new answers); else the built-in smollm2."""
    from .judging import resolve_config

    if config.eval_judge:
        return config.eval_judge, "config"
    if version.judge:
        try:
            if resolve_config(project, version.judge).backend in ("openai", "hf", "ensemble"):
                return version.judge, "dataset"
        except ServiceError:
            pass  # e.g. an imported judge's name: nothing to run
    return "smollm2", "default"


def pairwise_judge(project: Project, name: str):
    """The judge `name` as a training.evaluate PairwiseJudge: f(prompts, first, second) ->
    P(first is better) per item, None where it gave no verdict (an error or an unparsable reply
    is never counted as a tie). Raises ServiceError when the judge cannot start."""
    from labeling.judges import JudgeError, JudgeItem, build_judge

    from .judging import resolve_config

    config = resolve_config(project, name)
    try:
        judge = build_judge(config)
        judge.check_sync()
    except JudgeError as err:
        raise ServiceError(f"judge '{name}' cannot evaluate: {err.message}") from err

    def compare(prompts: list[str], first: list[str], second: list[str]) -> list[float | None]:
        items = [
            JudgeItem(key=str(i), prompt=p, first=a, second=b)
            for i, (p, a, b) in enumerate(zip(prompts, first, second, strict=True))
        ]
        return [v.p_first if v.ok else None for v in judge.judge(items)]

    return compare


def harmless_classifier(project: Project, name: str):
    """A training.evaluate HarmlessClassifier, or None when the project has no harmlessness rubric.

    The rubric is the text in `judge_config["harmlessness_rubric"]`. The judge `name`'s backend
    and model rate each response 1-10 against it (template score_v1); a response is harmless
    when its expected score is above the middle of the scale (reward > 0); None where it gave
    no score."""
    from labeling.judges import JudgeConfig, JudgeError, ScoreItem, build_judge
    from labeling.judges.base import run_sync

    from .judging import resolve_config

    rubric = (project.judge_config or {}).get("harmlessness_rubric")
    if not rubric:
        return None
    base = resolve_config(project, name)
    config = JudgeConfig(
        name=f"{base.name}:harmless",
        backend=base.backend,
        model=base.model,
        template="score_v1",
        rubric=rubric,
        params=base.params,
    )
    try:
        judge = build_judge(config)
    except JudgeError as err:
        raise ServiceError(f"judge '{name}' cannot rate harmlessness: {err.message}") from err

    def classify(prompts: list[str], responses: list[str]) -> list[bool | None]:
        items = [
            ScoreItem(key=str(i), prompt=p, response=r)
            for i, (p, r) in enumerate(zip(prompts, responses, strict=True))
        ]
        verdicts = run_sync(judge.score_batch(items))
        return [None if v.reward is None else v.reward > 0 for v in verdicts]

    return classify


def evaluate_run(
    project: Project, version: DatasetVersion, config, eval_rows: list[dict], trained: str
) -> dict:
    """The `policy_eval` entry of a run's final_eval. Never raises for an evaluation that cannot
    run (no held-out prompts, a judge that cannot start): the training itself succeeded, so the
    entry says why the numbers are missing (`win_rate` None and `reason` or `error`)."""
    from training import evaluate
    from training.errors import TrainingError

    prompts = list(dict.fromkeys(r["prompt"] for r in eval_rows))[: config.eval_prompts]
    if not prompts:
        return {
            "win_rate": None,
            "reason": "the dataset has no held-out prompts (a seeded 10% of its human-labeled pairs)",
        }
    name, source = eval_judge(project, version, config)
    started = time.monotonic()
    try:
        judge = pairwise_judge(project, name)
        harmless = harmless_classifier(project, name)
        result = evaluate.evaluate_policy(
            config.model,
            trained,
            prompts,
            judge,
            max_new_tokens=config.eval_max_new_tokens,
            harmless=harmless,
        )
    except (ServiceError, TrainingError) as err:
        return {"win_rate": None, "judge": name, "judge_source": source, "error": str(err)}
    if harmless is None:
        result["harmless_rate"], result["harmless_reason"] = None, NO_HARMLESS_RUBRIC
    return {"judge": name, "judge_source": source, **result, "seconds": round(time.monotonic() - started, 1)}


def summary_line(policy_eval: dict) -> str:
    """One line for the CLI: win rate with lengths beside it, harmless rate, or why not."""
    if policy_eval.get("win_rate") is None:
        why = policy_eval.get("error") or policy_eval.get("reason") or "no prompt was judged"
        return f"policy eval: no win rate ({why})"
    line = (
        f"policy eval ({policy_eval['judge']}, {policy_eval['prompts']} held-out prompts): win rate vs start "
        f"{policy_eval['win_rate']:.3f} ({policy_eval['unjudged']} unjudged); avg length "
        f"{policy_eval['avg_len_policy']} vs {policy_eval['avg_len_start']} chars"
    )
    harmless = policy_eval.get("harmless_rate")
    if harmless is None:
        return f"{line}; harmless rate: n/a ({policy_eval.get('harmless_reason', '')})"
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    return f"{line}; harmless rate {fmt(harmless['policy'])} (start {fmt(harmless['start'])})"
