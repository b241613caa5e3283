"""Valid estimates and annotators measured, on the recorded verdicts (issue 18, items 3 and 4).

PPI: per human sample size n, `draws` random samples of n pairs get their human label (the rest
keep only the judge's confidence); the judge's agreement with the human majority over the whole
set is estimated by the classical interval (the n labels alone) and by PPI++ (`audits.ppi`).
Reported: mean width of each, how often each covers the set's true agreement (should be about
95%; with n a large share of the set, more, since the set is then a finite population mostly
seen), and the effective-sample-size gain (classical width / PPI width)^2 x n.

Dawid-Skene: each annotator's reliability (`audits.annotators`, fitted on every vote) and, on
items with three votes or more, each vote held out as gold against the majority of the item's
other votes, plain (`labeling.verdicts.human_majority`) and DS-weighted
(`weighted_majority`, weights from a model fitted on the other folds' items only, so the
held-out vote never informs its own weight). A tie majority counts as a miss.
"""

from __future__ import annotations

import numpy as np
from guarantee_data import Pair

from audits.annotators import dawid_skene, majority_weights
from audits.ppi import classical_mean, ppi_mean
from labeling.guarantee import Calibrated
from labeling.verdicts import CHOICE_ORDER, human_majority, weighted_majority

SAMPLE_SIZES = (50, 100, 200, 400)
FOLDS = 10


def ppi_rows(items: list[Calibrated], draws: int, seed: int = 0) -> list[dict]:
    """Per n of SAMPLE_SIZES below the set's size: widths, coverages and the ESS gain."""
    y = np.array([c.agrees for c in items], dtype=float)
    f = np.array([c.confidence if c.confidence is not None else 0.0 for c in items])
    truth, rng, rows = y.mean(), np.random.default_rng(seed), []
    for n in (n for n in SAMPLE_SIZES if n < len(y)):
        widths, covers = {"classical": [], "ppi": []}, {"classical": 0, "ppi": 0}
        for _ in range(draws):
            picked = np.zeros(len(y), dtype=bool)
            picked[rng.choice(len(y), size=n, replace=False)] = True
            classical = classical_mean(y[picked])
            tuned, _ = ppi_mean(y[picked], f[picked], f[~picked])
            for name, interval in (("classical", classical), ("ppi", tuned)):
                widths[name].append(interval.width)
                covers[name] += interval.low <= truth <= interval.high
        width = {k: float(np.mean(v)) for k, v in widths.items()}
        gain = (width["classical"] / width["ppi"]) ** 2
        rows.append(
            {"n": n, "width": width, "coverage": {k: v / draws for k, v in covers.items()}, "gain": gain}
        )
    return rows


def ppi_table(name: str, items: list[Calibrated], draws: int) -> None:
    truth = sum(c.agrees for c in items) / len(items)
    print(
        f"\nPPI++ vs classical, {name}: {len(items)} pairs, true agreement {truth:.1%}, {draws} draws per n"
    )
    print(f"{'n':>5} {'classical width':>15} {'PPI width':>9} {'coverage cl.':>12} {'coverage PPI':>12} "
          f"{'ESS gain':>8} {'effective n':>11}")  # fmt: skip
    for r in ppi_rows(items, draws):
        print(
            f"{r['n']:>5} {r['width']['classical']:>15.3f} {r['width']['ppi']:>9.3f} "
            f"{r['coverage']['classical']:>12.1%} {r['coverage']['ppi']:>12.1%} {r['gain']:>8.2f} "
            f"{r['gain'] * r['n']:>11.0f}"
        )


def _codes(pairs: list[Pair]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(item, annotator code, choice code) per vote, and the annotator names."""
    names = sorted({a for p in pairs for a in p.annotators})
    index = {a: i for i, a in enumerate(names)}
    rows = [
        (i, index[a], CHOICE_ORDER.index(v))
        for i, p in enumerate(pairs)
        for v, a in zip(p.votes, p.annotators, strict=True)
    ]
    item, worker, label = (np.array(col) for col in zip(*rows, strict=True))
    return item, worker, label, np.array(names)


def held_out_agreement(pairs: list[Pair], seed: int = 0) -> dict:
    """Each vote on an item with >= 3 votes, held out, against the plain and the weighted majority
    of the item's other votes (weights fitted on the other folds' items)."""
    item, worker, label, names = _codes(pairs)
    fold = np.random.default_rng(seed).integers(0, FOLDS, size=len(pairs))
    hits = {"plain": 0.0, "weighted": 0.0, "coin": 0.0}
    held = differ = 0
    for k in range(FOLDS):
        train = fold[item] != k
        model = dawid_skene(item[train], worker[train], label[train])
        seen = np.bincount(worker[train], minlength=len(names))
        accuracy = np.zeros(len(names))
        accuracy[: len(model.accuracy)] = model.accuracy
        weights = majority_weights(accuracy, seen)  # an annotator never seen: an average say
        for i in np.flatnonzero(fold == k):
            votes, who = pairs[i].votes, [int(np.searchsorted(names, a)) for a in pairs[i].annotators]
            if len(votes) < 3:
                continue
            for j, gold in enumerate(votes):
                others = votes[:j] + votes[j + 1 :]
                plain = human_majority(others)
                weighted = weighted_majority(others, [weights[w] for w in who[:j] + who[j + 1 :]])
                hits["plain"] += plain == gold
                hits["weighted"] += weighted == gold
                hits["coin"] += _coin_flip_hit(others, gold)
                differ += plain != weighted
                held += 1
    return {"held": held, "differ": differ, **{k: v / held if held else None for k, v in hits.items()}}


def _coin_flip_hit(others: list, gold) -> float:
    """The plain majority with a shared top broken by a coin: the expected hit on `gold`."""
    counts = {c: others.count(c) for c in CHOICE_ORDER}
    top = [c for c, n in counts.items() if n == max(counts.values())]
    return (gold in top) / len(top)


def annotator_table(name: str, pairs: list[Pair], show: int = 5) -> None:
    item, worker, label, names = _codes(pairs)
    model = dawid_skene(item, worker, label)
    n_votes = np.bincount(worker, minlength=len(names))
    order = np.argsort(-model.accuracy, kind="stable")
    print(f"\nDawid-Skene, {name}: {len(pairs)} items, {len(item)} votes, {len(names)} annotators")
    print(f"  {'annotator':<24} {'votes':>6} {'reliability':>11} {'a':>6} {'b':>6} {'tie':>6}")
    shown = order if len(order) <= 2 * show else np.concatenate([order[:show], order[-show:]])
    for rank, w in enumerate(shown):
        if len(order) > 2 * show and rank == show:
            print(f"  ... {len(order) - 2 * show} more; median reliability {np.median(model.accuracy):.1%}")
        diag = np.diag(model.errors[w])
        print(f"  {names[w][:24]:<24} {n_votes[w]:>6} {model.accuracy[w]:>11.1%} "
              f"{diag[0]:>6.2f} {diag[1]:>6.2f} {diag[2]:>6.2f}")  # fmt: skip
    r = held_out_agreement(pairs)
    if not r["held"]:
        print("  no item has three votes: no held-out comparison")
        return
    print(
        f"  held-out vote vs majority of the others ({r['held']} votes, majorities differ on {r['differ']}): "
        f"plain {r['plain']:.1%}, plain with a coin for ties {r['coin']:.1%}, "
        f"DS-weighted {r['weighted']:.1%}"
    )
