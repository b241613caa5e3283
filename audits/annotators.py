"""Annotators measured: Dawid-Skene reliability from overlapping human labels, and the weights of
the DS-weighted human majority (`labeling.verdicts.weighted_majority`).

Dawid and Skene (1979, "Maximum likelihood estimation of observer error-rates using the EM
algorithm", Applied Statistics 28(1)) model each annotator by a confusion matrix P(says l | the
true label is t) over a / b / tie, and fit it with the true labels by EM. This is crowd-kit's
`DawidSkene` (1.4) step for step (majority-vote start, the same M and E steps, clipping at 1e-10,
its evidence lower bound as stopping rule; tests/audits/test_annotators.py holds it to that
package's numbers); crowd-kit is not a dependency, since it pulls transformers and nltk for
its text aggregators. An annotator's reliability is the expected share of their votes equal to
the true label: sum over t of P(t) P(says t | t).

A weight for the weighted majority is the one-coin log-odds log(2 a / (1 - a)) of the annotator's
accuracy a shrunk toward 1/2 by one pseudo-vote each way (an annotator seen on few votes gets
an average say, not a perfect one), and 0 at or below chance (1/3): such a vote says nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from audits.config import AuditConfig
from audits.frames import CHOICES, _raise_on_bad, codes_of, sample_mask
from audits.values import Reasons, number
from labeling.routing import wilson
from labeling.verdicts import CHOICE_ORDER, majority_codes

K = len(CHOICE_ORDER)
_EPS = 1e-10


@dataclass(frozen=True)
class DawidSkene:
    """A fitted model: class `priors` (K), `errors` (annotators x true x said, rows sum to 1),
    `posteriors` (items x K) and the EM iterations run."""

    priors: np.ndarray
    errors: np.ndarray
    posteriors: np.ndarray
    iterations: int

    @property
    def accuracy(self) -> np.ndarray:
        """Per annotator, P(their vote equals the true label) under the fitted class priors."""
        return np.einsum("t,wtt->w", self.priors, self.errors)


def _m_step(posteriors, item, worker, label, n_workers) -> np.ndarray:
    cell, by_vote = worker * K + label, posteriors[item]
    # errors[w, t, l]: the posterior mass of true label t over w's votes saying l (bincounts, not add.at)
    counts = [np.bincount(cell, weights=by_vote[:, t], minlength=n_workers * K) for t in range(K)]
    errors = np.stack([c.reshape(n_workers, K) for c in counts], axis=1)
    errors = np.maximum(errors, _EPS)
    return errors / errors.sum(axis=2, keepdims=True)


def _e_step(priors, errors, item, worker, label, n_items) -> np.ndarray:
    log_errors = np.log2(errors[worker, :, label])
    log_like = np.stack([np.bincount(item, weights=log_errors[:, t], minlength=n_items) for t in range(K)], 1)
    log_like += np.log2(np.maximum(priors, _EPS))
    scaled = np.exp2(log_like - log_like.max(axis=1, keepdims=True))
    return scaled / scaled.sum(axis=1, keepdims=True)


def _lower_bound(posteriors, priors, errors, item, worker, label) -> float:
    """crowd-kit's evidence lower bound per vote (its stopping rule), prior counted per vote."""
    per_vote = np.log(errors[worker, :, label]) + np.log(np.maximum(priors, _EPS))
    joint = float(np.sum(posteriors[item] * per_vote))
    clipped = np.maximum(posteriors, _EPS)
    return (joint - float(np.sum(clipped * np.log(clipped)))) / len(item)


def dawid_skene(
    item: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    gold: dict[int, int] | None = None,
    n_iter: int = 100,
    tol: float = 1e-5,
) -> DawidSkene:
    """Fit Dawid-Skene to votes given as three aligned integer arrays: item code (0..), annotator
    code (0..) and choice code (A, B, TIE). `gold` {item: choice code} pins items whose answer is
    known. Raises ValueError on empty or misaligned input or a code out of range."""
    item, worker, label = (np.asarray(v, dtype=np.int64) for v in (item, worker, label))
    if not len(item) or not len(item) == len(worker) == len(label):
        raise ValueError(
            f"dawid_skene needs aligned, non-empty votes; got {len(item)}, {len(worker)}, {len(label)}"
        )
    if label.min() < 0 or label.max() >= K or item.min() < 0 or worker.min() < 0:
        raise ValueError(
            "dawid_skene: item and annotator codes must be >= 0 and choice codes 0 (a), 1 (b), 2 (tie)"
        )
    n_items, n_workers = int(item.max()) + 1, int(worker.max()) + 1
    counts = np.bincount(item * K + label, minlength=n_items * K).reshape(n_items, K).astype(float)
    voted = counts.sum(axis=1, keepdims=True)
    posteriors = _pin(counts / np.maximum(voted, 1.0), gold)
    priors = posteriors[voted[:, 0] > 0].mean(axis=0)
    errors = _m_step(posteriors, item, worker, label, n_workers)
    bound, iterations = -np.inf, 0
    for iterations in range(1, n_iter + 1):  # noqa: B007 (the count is reported)
        posteriors = _pin(_e_step(priors, errors, item, worker, label, n_items), gold)
        priors = posteriors[voted[:, 0] > 0].mean(axis=0)
        errors = _m_step(posteriors, item, worker, label, n_workers)
        new_bound = _lower_bound(posteriors, priors, errors, item, worker, label)
        if new_bound - bound < tol:
            break
        bound = new_bound
    return DawidSkene(priors, errors, posteriors, iterations)


def _pin(posteriors: np.ndarray, gold: dict[int, int] | None) -> np.ndarray:
    if gold:
        rows = np.fromiter(gold.keys(), dtype=np.int64)
        posteriors[rows] = np.eye(K)[np.fromiter(gold.values(), dtype=np.int64)]
    return posteriors


def majority_weights(accuracy: np.ndarray, n_votes: np.ndarray) -> np.ndarray:
    """Per annotator, the weight of their vote in the weighted majority (module docstring)."""
    shrunk = (np.asarray(accuracy) * n_votes + 1.0) / (np.asarray(n_votes) + 2.0)
    return np.maximum(0.0, np.log((K - 1) * shrunk / (1.0 - shrunk)))


def weighted_majority_codes(item, worker, label, weights, n_items: int) -> np.ndarray:
    """The weighted majority's choice code per item (`labeling.verdicts.majority_codes`)."""
    totals = np.bincount(item * K + label, weights=weights[worker], minlength=n_items * K).reshape(n_items, K)
    return majority_codes(totals, voted=np.bincount(item, minlength=n_items) > 0)


def gold_votes(labels: pd.DataFrame | None) -> pd.DataFrame:
    """The votes on gold items (sample "gold") with their known answers: pair_id, annotator,
    `code` (the vote) and `gold` (the answer), choice codes; an annotator's last vote on an item
    replaces the earlier ones, as for every vote. Empty without a `gold` column. Raises
    AuditInputError naming a known answer that is not a / b / tie."""
    columns = ["pair_id", "annotator", "code", "gold"]
    if labels is None or not len(labels) or "gold" not in labels.columns:
        return pd.DataFrame(
            {c: pd.Series([], dtype=object if c in columns[:2] else np.int64) for c in columns}
        )
    on_gold = labels[sample_mask(labels, ("gold",))]
    answers = on_gold["gold"].astype(object)
    gold = codes_of(answers, CHOICES)
    _raise_on_bad(answers, gold < 0, CHOICES, "gold (on votes of sample gold)")
    said = codes_of(on_gold["choice"], CHOICES)
    _raise_on_bad(on_gold["choice"], said < 0, CHOICES, "choice")
    frame = pd.DataFrame(
        {
            "pair_id": on_gold["pair_id"].to_numpy(),
            "annotator": on_gold["annotator"].astype(str).to_numpy(),
            "code": said.astype(np.int64),
            "gold": gold.astype(np.int64),
        }
    )
    return frame.drop_duplicates(["pair_id", "annotator"], keep="last").reset_index(drop=True)


def gold_scores(gold: pd.DataFrame, min_accuracy: float) -> list[dict]:
    """Per annotator who answered gold items: answered, correct, accuracy, its 95% Wilson
    interval (`labeling.routing.wilson`, sound for few answers and for 0 or all correct) and
    `flagged` when the interval's upper bound is below `min_accuracy`: only an annotator
    whose accuracy is below the bar beyond reasonable doubt is flagged. Least accurate first."""
    rows = []
    for name, answers in gold.groupby("annotator", sort=True):
        answered = len(answers)
        correct = int((answers["code"].to_numpy() == answers["gold"].to_numpy()).sum())
        low, high = wilson(correct, answered)
        rows.append(
            {
                "annotator": str(name),
                "answered": answered,
                "correct": correct,
                "accuracy": number(correct / answered),
                "ci95": [number(low), number(high)],
                "min_accuracy": min_accuracy,
                "flagged": bool(high < min_accuracy),
            }
        )
    return sorted(rows, key=lambda row: (row["accuracy"], row["annotator"]))


def annotators(
    votes: pd.DataFrame, config: AuditConfig, reasons: Reasons, gold: pd.DataFrame | None = None
) -> dict:
    """The `annotators` section: each annotator's Dawid-Skene reliability, n and weight, and how
    many items the weighted majority decides differently from the plain one; with `gold`
    (`gold_votes`), each annotator's score on gold items (`gold_scores`), and the gold answers
    pinned in Dawid-Skene.

    Every human vote counts (routed ones too: who is reliable does not depend on why an item was
    shown), so reliability is measured on the items annotators actually saw. Gold votes come
    from `gold`, which holds them whether or not a judge saw the item.
    """
    out: dict = {"model": "Dawid-Skene (a / b / tie confusion per annotator), EM from the majority vote"}
    gold = gold_votes(None) if gold is None else gold
    out["gold_min_accuracy"] = config.gold_min_accuracy
    if len(gold):
        out["gold"] = gold_scores(gold, config.gold_min_accuracy)
    else:
        out["gold"] = reasons.null("gold", "no vote on a gold item (import pairs with a `gold` answer)")
    every = _every_vote(votes, gold)
    if not len(every):
        return {**out, "n_annotators": 0, "by_annotator": reasons.null("by_annotator", "no human labels")}
    item, pairs = pd.factorize(every["pair_id"].to_numpy())
    pairs = pd.Index(pairs)
    worker, names = pd.factorize(every["annotator"].to_numpy())
    label = every["code"].to_numpy().astype(np.int64)
    per_item = np.bincount(item)
    shared = per_item[item] >= 2
    out["n_annotators"], out["n_items_overlapping"] = len(names), int((per_item >= 2).sum())
    if not shared.any() and not len(gold):
        why = "no item has two or more human votes: reliability needs overlapping labels"
        return {**out, "by_annotator": reasons.null("by_annotator", why)}
    answers = gold.drop_duplicates("pair_id")
    items = pairs.get_indexer(answers["pair_id"].to_numpy()).tolist()
    pinned = dict(zip(items, answers["gold"].tolist(), strict=True))
    model = dawid_skene(item, worker, label, gold=pinned or None)
    n_votes = np.bincount(worker, minlength=len(names))
    n_shared = np.bincount(worker[shared], minlength=len(names))
    weights = majority_weights(model.accuracy, n_votes)
    out["by_annotator"] = [
        {
            "annotator": str(names[w]),
            "n_votes": int(n_votes[w]),
            "n_votes_overlapping": int(n_shared[w]),
            "reliability": number(model.accuracy[w]),
            "diagonal": {c.value: number(model.errors[w, t, t]) for t, c in enumerate(CHOICE_ORDER)},
            "weight": number(weights[w]),
        }
        for w in np.argsort(-model.accuracy, kind="stable")
    ]
    plain = majority_codes(np.bincount(item * K + label, minlength=len(per_item) * K).reshape(-1, K))
    weighted = weighted_majority_codes(item, worker, label, weights, len(per_item))
    out["weighted_majority_changes"] = int((plain != weighted).sum())
    out["priors"] = {c.value: number(model.priors[t]) for t, c in enumerate(CHOICE_ORDER)}
    out["iterations"] = model.iterations
    return out


def _every_vote(votes: pd.DataFrame, gold: pd.DataFrame) -> pd.DataFrame:
    """pair_id, annotator (text), code of every vote: the judged pairs' votes other than gold
    ones, then every gold vote (a gold item need not be judged to score its annotators)."""
    own = votes[~sample_mask(votes, ("gold",))] if len(votes) else votes
    parts = [gold[["pair_id", "annotator", "code"]]] if len(gold) else []
    if len(own) or not parts:
        own_votes = {
            "pair_id": own["pair_id"].to_numpy(),
            "annotator": own["annotator"].astype(str).to_numpy(),
        }
        parts.insert(0, pd.DataFrame({**own_votes, "code": own["code"].to_numpy().astype(np.int64)}))
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
