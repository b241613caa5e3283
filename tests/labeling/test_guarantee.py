"""Guarantee mode on its own: the binomial bound, fixed-sequence testing, the learned score, the cascade."""

from __future__ import annotations

import math
import random
import re
from dataclasses import replace
from fractions import Fraction

import pytest

from labeling.guarantee import (
    POOLED,
    Calibrated,
    GuaranteeConfig,
    annotator_verdict,
    assign,
    binomial_tail,
    calibrate_cascade,
    chose_longer,
    fewest_needed,
    fixed_sequence,
    learning_half,
    others_agreeing,
    warnings,
)
from labeling.records import Choice
from labeling.routing import PolicyError
from labeling.verdicts import pair_verdict


def exact_tail(k: int, n: int, p: Fraction) -> float:
    return float(sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1)))


@pytest.mark.parametrize(
    ("k", "n", "alpha"), [(0, 22, "1/10"), (3, 40, "1/10"), (30, 400, "3/20"), (5, 5, "1/5")]
)
def test_binomial_tail_is_the_exact_binomial_cdf(k, n, alpha):
    assert binomial_tail(k, n, float(Fraction(alpha))) == pytest.approx(
        exact_tail(k, n, Fraction(alpha)), rel=1e-9
    )


def test_a_perfect_record_passes_only_from_the_fewest_needed_pairs():
    needed = fewest_needed(0.1, 0.1)
    assert needed == 22  # 0.9^22 = 0.098 <= 0.1 < 0.9^21 = 0.109
    perfect = [Calibrated(0.99, True)] * (needed - 1)
    assert fixed_sequence(perfect, 0.1, 0.1) is None
    assert fixed_sequence([*perfect, Calibrated(0.99, True)], 0.1, 0.1) == 0.99


def draw(rng: random.Random, n: int) -> list[Calibrated]:
    """A judge whose agreement rises with its confidence: P(agree | c) = c."""
    out = []
    for _ in range(n):
        c = round(rng.uniform(0.5, 1.0), 2)
        out.append(Calibrated(c, rng.random() < c))
    return out


def true_agreement(threshold: float) -> float:
    """E[c | c >= t] for c uniform on the grid 0.50..1.00: the kept pairs' true agreement."""
    grid = [i / 100 for i in range(50, 101) if i / 100 >= threshold]
    return sum(grid) / len(grid)


def test_kept_labels_reach_the_target_with_the_promised_probability():
    """Over 400 calibration sets the true agreement above the chosen threshold reaches 90% at
    least 90% of the time, where the plug-in threshold (no bound) misses it about half the time."""
    rng = random.Random(0)
    held = plug_in_held = 0
    for _ in range(400):
        items = draw(rng, 300)
        threshold = fixed_sequence(items, alpha=0.1, delta=0.1)
        held += threshold is None or true_agreement(threshold) >= 0.9
        ranked = sorted((c.confidence for c in items), reverse=True)
        plug = min(
            (t for t in ranked if sum(c.agrees for c in items if c.confidence >= t)
             >= 0.9 * sum(1 for c in items if c.confidence >= t)),
            default=None,
        )  # fmt: skip
        plug_in_held += plug is None or true_agreement(plug) >= 0.9
    assert held / 400 >= 0.9
    assert plug_in_held / 400 < 0.8


def test_the_walk_stops_at_the_first_threshold_that_fails():
    """Fixed sequence: a failing strict level ends the walk even if a laxer one would pass."""
    items = [Calibrated(0.99, i % 2 == 0) for i in range(40)]  # 50% agreement at the top
    items += [Calibrated(0.9, True) for _ in range(400)]  # pooled with the top: 95%
    assert fixed_sequence(items, 0.1, 0.1) is None


def slices_at(rates: dict[str, tuple[int, float]], seed: int = 0) -> list[Calibrated]:
    """Sure verdicts (0.95) in slices of `n` pairs agreeing with humans at `rate` each, shuffled."""
    rng = random.Random(seed)
    out = [Calibrated(0.95, k < round(n * rate), name) for name, (n, rate) in rates.items() for k in range(n)]
    rng.shuffle(out)
    return out


def test_a_slice_at_86_percent_is_kept_beside_one_at_100_and_a_wrong_one_is_not():
    """The kept labels are certified as a whole: the 86% slice, which can never pass 85% on its
    own, is kept because the learned score ranks the slices and the sure-but-wrong one is left."""
    audited = slices_at({"natural": (300, 1.0), "chat": (300, 0.86), "adversarial": (300, 0.4)})
    config = GuaranteeConfig(target_agreement=0.85, confidence=0.9, cascade=("judge",), min_slice=100)
    thresholds, scores = calibrate_cascade({"judge": audited}, config)
    (t,) = thresholds
    assert t.group == POOLED and t.learned + t.audited == 900 and 400 < t.learned < 500
    assert t.agreement >= 0.85 and t.kept > 0.6 * t.audited  # both good slices of the testing half
    new = [Calibrated(0.95, True, s) for s in ("natural", "chat", "adversarial", "never-audited")]
    assert assign({"judge": new}, thresholds, scores) == ["judge", "judge", None, None]
    assert warnings(thresholds, config) == []


def test_the_learned_threshold_keeps_its_promise_over_many_audits():
    """Over 300 audits of 400 pairs (three slices: 97%, 88% and 50% agreement), the true agreement
    of what is kept reaches 85% in at least 90% of them (the promise at confidence 0.9)."""
    rates = {"a": (0.97, 0.4), "b": (0.88, 0.4), "c": (0.5, 0.2)}  # (agreement, share of pairs)
    config = GuaranteeConfig(target_agreement=0.85, confidence=0.9, cascade=("judge",), min_slice=50)
    held = covered = 0
    for seed in range(300):
        audit = slices_at({k: (round(400 * share), rate) for k, (rate, share) in rates.items()}, seed)
        rng = random.Random(seed)
        audit = [replace(c, agrees=rng.random() < rates[c.slice][0]) for c in audit]  # noisy draws
        thresholds, scores = calibrate_cascade({"judge": audit}, config)
        kept = {k for k in rates if assign({"judge": [Calibrated(0.95, True, k)]}, thresholds, scores)[0]}
        truth = sum(rates[k][0] * rates[k][1] for k in kept) / sum(rates[k][1] for k in kept) if kept else 1
        held += truth >= 0.85
        covered += "b" in kept
    assert held / 300 >= 0.9
    assert covered / 300 > 0.5  # and it is not vacuous: the 88% slice is usually kept


def test_other_judges_and_length_refine_the_score_where_the_slice_cannot():
    """In one slice, a judge right when it chose the shorter response and wrong when it chose the
    longer one: the score tells them apart, so only the first are kept."""
    audited = [Calibrated(0.95, True, "s", chose_longer=False) for _ in range(200)]
    audited += [Calibrated(0.95, k % 2 == 0, "s", chose_longer=True) for k in range(200)]
    config = GuaranteeConfig(target_agreement=0.9, confidence=0.9, cascade=("judge",))
    thresholds, scores = calibrate_cascade({"judge": audited}, config)
    pairs = [Calibrated(0.95, True, "s", chose_longer=False), Calibrated(0.95, True, "s", chose_longer=True)]
    assert assign({"judge": pairs}, thresholds, scores) == ["judge", None]
    assert chose_longer(Choice.A, 120, 80) is True and chose_longer(Choice.B, 120, 80) is False
    assert chose_longer(Choice.TIE, 120, 80) is None and chose_longer(Choice.A, 50, 50) is None
    assert others_agreeing(Choice.A, [Choice.A, Choice.B, None, Choice.A]) == 2
    assert others_agreeing(Choice.TIE, [Choice.TIE]) == 0


def test_the_next_judge_of_the_cascade_is_calibrated_on_what_the_first_gave_up():
    cheap = [Calibrated(0.95, True)] * 200 + [Calibrated(0.6, i % 2 == 0) for i in range(200)]
    strong = [Calibrated(0.6, False)] * 200 + [Calibrated(0.97, True)] * 200
    config = GuaranteeConfig(target_agreement=0.9, cascade=("cheap", "strong"))
    thresholds, scores = calibrate_cascade({"cheap": cheap, "strong": strong}, config)
    first, second = thresholds
    assert first.learned + first.audited == 400 and first.agreement == 1.0
    assert first.kept == sum(1 for i in range(200) if not learning_half([str(i)])[0])
    # the strong judge learns and is tested only on the 200 pairs the cheap judge gave up
    assert second.learned + second.audited == 200 and second.agreement == 1.0
    pairs = {"cheap": [Calibrated(0.95, True), Calibrated(0.6, True)], "strong": [Calibrated(0.97, True)] * 2}
    assert assign(pairs, thresholds, scores) == ["cheap", "strong"]


def test_a_calibration_set_too_small_for_the_target_is_named_in_a_warning():
    config = GuaranteeConfig(target_agreement=0.95, confidence=0.95, cascade=("gpt",))
    thresholds, _ = calibrate_cascade({"gpt": [Calibrated(0.99, True)] * 60}, config)
    (t,) = thresholds
    assert t.value is None and t.too_small and t.audited < 59
    assert warnings(thresholds, config) == [
        f"gpt: {t.audited} audited pairs in the testing half cannot certify 95% agreement at 95% "
        "confidence (it needs at least 59 even with no disagreement, and as many again to learn the "
        "score): raise the audit rate or lower the target"
    ]


def test_simulated_annotators_average_prompts_and_orders():
    both_a = pair_verdict("a", "a", 1.0, 0.0)
    flip = pair_verdict("a", "b", 1.0, 1.0)
    soft_b = pair_verdict("b", "b", 0.3, 0.6)  # p(a) = (0.3 + 0.4) / 2 = 0.35
    assert annotator_verdict([both_a, both_a]) == (Choice.A, 1.0)
    assert annotator_verdict([both_a, flip]) == (Choice.A, 0.75)
    assert annotator_verdict([flip]) == (Choice.TIE, None)  # one prompt: a flip is a tie
    choice, conf = annotator_verdict([soft_b])
    assert choice == Choice.B and conf == pytest.approx(0.65)
    assert annotator_verdict([both_a, flip], calibrate=lambda p: 0.5 + (p - 0.5) / 2)[1] == 0.625
    assert annotator_verdict([pair_verdict(None, None)]) == (None, None)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"target": 0.9}, "guarantee.target: unknown key; valid: cascade, confidence"),
        ({"confidence": 0.9}, "guarantee.target_agreement: is required"),
        ({"target_agreement": 1.0}, "guarantee 'target_agreement' is 1.0"),
    ],
)
def test_bad_guarantee_configs_name_the_key(raw, message):
    with pytest.raises(PolicyError, match=re.escape(message)):
        GuaranteeConfig.from_dict(raw)
