#!/usr/bin/env python

"""The injection classifier's generated training corpus, and its training
(labeling/injection_classifier.py ships the weights this writes).

Positives: injection texts composed from templates and hand-written fragments in the styles an
attacker uses on a judge (verdict-shaped lines, asides to graders, role overrides, dialogue
turns, fake consensus, persuasion aimed at the grader, hidden comments, letter and Unicode
disguises) and in 26 languages (bench/injection_corpus_text.py, bench/injection_corpus_lang.py);
more independent ideas (fake test reports and metadata, bribes and threats, redefined rubrics,
the other answer run down, quiet persuasion) as whole sentences in 25 languages, hidden in
comments, footnotes and markup (bench/injection_corpus_ideas.py); a share of all of them again
disguised (encodings, look-alikes, spacing); each inserted at a random place inside a real
response; plus the spent sets (SPENT: the development set and the held-out
sets v1 and v2, each read after its measurement, now training material).
Negatives: every window of every real response in ../shared/data (read when present; only the
weights ship), generated hard negatives (reviews with ratings, code reading a judge's output,
chat formats explained, benign sentences in every language) and the spent clean sets.

The threshold is chosen out of fold: real responses are split in two halves by a hash of their
text, a model trained without one half scores it, and the threshold is the lowest score that
flags at most FP_TARGET of those unseen responses. The shipped model is then trained on all.
Deterministic: a fixed seed, a fixed split, liblinear.

    .venv/bin/python bench/injection_corpus.py --train    # writes labeling/injection_model.npz
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from injection_corpus_ideas import augment, benign, ideas  # noqa: E402  (bench/ is on sys.path)
from injection_corpus_text import hard_negatives, positives  # noqa: E402

from labeling.injection_classifier import MODEL_PATH, WINDOW, Model, features, passages  # noqa: E402

BENCH = Path(__file__).resolve().parent
# {name: (injection snippets, clean snippets)}: the sets whose measurement is spent. A held-out set
# written later joins them only after it has been measured once.
SPENT = {
    "dev": (BENCH / "injection_dev.jsonl", BENCH / "injection_clean_dev.jsonl"),
    "v1": (BENCH / "injection_heldout.jsonl", BENCH / "injection_clean_heldout.jsonl"),
    "v2": (BENCH / "injection_heldout_v2.jsonl", BENCH / "injection_clean_heldout_v2.jsonl"),
}
SEED = 16
FP_TARGET = 0.003  # out-of-fold false positives on real responses: the issue allows 0.5%
C = 8.0
AUGMENTED = 6  # one positive in AUGMENTED gets a disguised copy


def _jsonl_texts(paths: list[Path]) -> list[str]:
    return [
        json.loads(line)["text"] for path in paths for line in path.read_text().splitlines() if line.strip()
    ]


def hosted(texts: list[str], hosts: list[str], rng: random.Random) -> list[str]:
    """Each text inside a random stretch of a random host response: some of the host before it,
    some after, up to about one classifier window in all (longer texts stand alone)."""
    out = []
    for text in texts:
        # A paragraph of its own, or inside one (a full window of it, or a short one).
        roll = rng.random()
        room = 0 if roll < 0.5 else max(0, WINDOW - 20 - len(text)) if roll < 0.8 else rng.randint(0, 80)
        host = rng.choice(hosts)
        cut = rng.randrange(len(host) + 1)
        share = rng.randint(0, room)
        before = host[max(0, cut - share) : cut]
        after = host[cut : cut + room - share]
        sep_a, sep_b = rng.choice([" ", "\n"]), rng.choice([" ", "\n"])
        out.append(f"{before}{sep_a if before else ''}{text}{sep_b if after else ''}{after}")
    return out


def fragments(hosts: list[str], rng: random.Random, n: int = 12000) -> list[str]:
    """`n` short stretches of real responses (a few words to a few lines): without them, a short
    passage would look like an injection merely for being short, as most injections are."""
    out = []
    for _ in range(n):
        host = rng.choice(hosts)
        start = rng.randrange(len(host) + 1)
        out.append(host[start : start + rng.randint(8, 200)].strip() or host)
    return out


def corpus(
    hosts: list[str], rng: random.Random, spent: tuple[str, ...] = tuple(SPENT)
) -> tuple[list[str], np.ndarray]:
    """(training passages, labels): generated positives and those of the `spent` sets (names of
    SPENT) hosted in `hosts`, their windows; negatives the same way; every window of every host."""
    pos = positives(rng) + ideas(rng) + _jsonl_texts([SPENT[name][0] for name in spent])
    neg = hard_negatives(rng) + benign(rng) + _jsonl_texts([SPENT[name][1] for name in spent])
    # Every text may come disguised: a share of each again, disguised (negatives too, so that a
    # disguise alone is no signal).
    pos += [augment(text, rng) for text in rng.sample(pos, len(pos) // AUGMENTED)]
    neg += [augment(text, rng) for text in rng.sample(neg, len(neg) // (4 * AUGMENTED))]
    pos_passages = [p for text in hosted(pos, hosts, rng) for p in passages(text)]
    neg_passages = [p for text in hosted(neg, hosts, rng) for p in passages(text)]
    neg_passages += [p for host in hosts for p in passages(host)] + fragments(hosts, rng)
    texts = pos_passages + neg_passages
    return texts, np.array([1] * len(pos_passages) + [0] * len(neg_passages))


def fit(texts: list[str], labels: np.ndarray) -> Model:
    from sklearn.linear_model import LogisticRegression

    classifier = LogisticRegression(C=C, solver="liblinear", class_weight="balanced", max_iter=200)
    classifier.fit(features(texts), labels)
    return Model(
        classifier.coef_[0].astype(np.float32).astype(np.float64), float(classifier.intercept_[0]), 1.0
    )


def fold_of(text: str) -> int:
    return hashlib.sha256(text.encode("utf-8")).digest()[0] % 2


def out_of_fold(real: list[str], spent: tuple[str, ...]) -> np.ndarray:
    """Each real response's score by the model trained without its half."""
    scores = np.zeros(len(real))
    for fold in (0, 1):
        train = [t for t in real if fold_of(t) != fold]
        model = fit(*corpus(train, random.Random(SEED + fold), spent))
        for i, text in enumerate(real):
            if fold_of(text) == fold:
                scores[i] = model.score(text)[0]
        print(f"  fold {fold}: trained on {len(train)} real responses")
    return scores


def threshold_for(scores: np.ndarray, target: float) -> float:
    """The lowest threshold (at least 0.5) that flags at most `target` of `scores`."""
    allowed = int(target * len(scores))
    ranked = np.sort(scores)[::-1]
    return max(0.5, float(np.nextafter(ranked[allowed], 1.0)))


def train(out: Path, spent: tuple[str, ...] = tuple(SPENT), real: list[str] | None = None) -> dict:
    """Choose the threshold out of fold, train on the generated corpus, the `spent` sets and every
    real response, write `out`; returns the out-of-fold false positives and scores. Leaving a spent set out
    is how bench/injection.py --leave-one-out measures it as if it were held out.

    Raises ValueError naming an unknown set."""
    unknown = sorted(set(spent) - set(SPENT))
    if unknown:
        raise ValueError(f"spent sets {unknown} are unknown; choose among {sorted(SPENT)}")
    if real is None:
        from injection import real_response_sets

        real = [t for texts in real_response_sets().values() for t in texts]
    print(f"training on the generated corpus + spent sets {', '.join(spent) or '(none)'}")
    print(f"real responses: {len(real)}")
    oof = out_of_fold(real, spent)
    threshold = threshold_for(oof, FP_TARGET)
    flagged = int((oof >= threshold).sum())
    rate = flagged / len(real)
    print(f"threshold {threshold:.4f}: out-of-fold false positives {flagged}/{len(real)} = {rate:.3%}")
    for i in np.argsort(oof)[::-1][: flagged + 3]:
        print(f"  {oof[i]:.3f} {' '.join(real[i].split())[:110]!r}")
    texts, labels = corpus(real, random.Random(SEED), spent)
    model = fit(texts, labels)
    print(f"final corpus: {int(labels.sum())} positive / {int((labels == 0).sum())} negative passages")
    digest = hashlib.sha256("\x00".join(texts).encode("utf-8") + labels.tobytes()).hexdigest()
    np.savez_compressed(
        out,
        weights=model.weights.astype(np.float32),
        bias=np.float64(model.bias),
        threshold=np.float64(threshold),
        corpus_sha256=np.str_(digest),
        oof_false_positives=np.array([flagged, len(real)]),
    )
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB), corpus sha256 {digest[:16]}")
    return {"flagged": flagged, "responses": len(real), "threshold": threshold, "oof": oof}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", action="store_true", help=f"train and write {MODEL_PATH}")
    parser.add_argument("--sample", type=int, default=0, help="print N generated positives and negatives")
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help="where --train writes the weights")
    parser.add_argument(
        "--without",
        action="append",
        default=[],
        choices=sorted(SPENT),
        help="leave this spent set out of training (repeatable)",
    )
    parser.add_argument("--without-spent", action="store_true", help="train on the generated corpus only")
    args = parser.parse_args()
    if args.sample:
        rng = random.Random(SEED)
        for kind, texts in (("POS", positives(rng)), ("NEG", hard_negatives(rng))):
            print(f"{kind}: {len(texts)}")
            for text in rng.sample(texts, args.sample):
                print(f"  {text!r}")
    if args.train:
        spent = () if args.without_spent else tuple(n for n in SPENT if n not in args.without)
        train(args.out, spent)


if __name__ == "__main__":
    main()
