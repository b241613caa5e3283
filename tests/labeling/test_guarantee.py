"""Guarantee mode on its own: the binomial bound, fixed-sequence testing, slices, the cascade."""

from __future__ import annotations

import math
import random
import re
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
    fewest_needed,
    fixed_sequence,
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


def audited_pairs() -> list[Calibrated]:
    """A big slice where the judge is right when sure, and two small ones where it never is."""
    big = [Calibrated(0.95, True) for _ in range(120)] + [Calibrated(0.6, i % 2 == 0) for i in range(60)]
    small = [Calibrated(0.95, False, "adv1") for _ in range(20)] + [Calibrated(0.95, False, "adv2")] * 20
    return [Calibrated(c.confidence, c.agrees, "chat") for c in big] + small


def test_a_big_slice_gets_its_own_threshold_and_small_ones_are_pooled():
    config = GuaranteeConfig(target_agreement=0.9, confidence=0.9, cascade=("judge",), min_slice=100)
    thresholds, groups = calibrate_cascade({"judge": audited_pairs()}, config)
    assert groups == {"chat": "chat", "adv1": POOLED, "adv2": POOLED}
    by_group = {t.group: t for t in thresholds}
    assert by_group["chat"].value == 0.95 and by_group["chat"].kept == 120
    assert by_group[POOLED].value is None and by_group[POOLED].kept == 0
    new = [Calibrated(0.95, True, "chat"), Calibrated(0.6, True, "chat"), Calibrated(0.99, True, "unseen")]
    assert assign({"judge": new}, thresholds, groups) == ["judge", None, None]
    assert warnings(thresholds, config) == [
        "judge on pooled slices: no confidence threshold reaches 90% agreement on 40 audited pairs: "
        "every pair goes on to the next judge or to humans"
    ]


def test_the_next_judge_of_the_cascade_is_calibrated_on_what_the_first_gave_up():
    cheap = [Calibrated(0.95, True)] * 100 + [Calibrated(0.6, i % 2 == 0) for i in range(100)]
    strong = [Calibrated(0.6, False)] * 100 + [Calibrated(0.97, True)] * 100
    config = GuaranteeConfig(target_agreement=0.9, cascade=("cheap", "strong"))
    thresholds, groups = calibrate_cascade({"cheap": cheap, "strong": strong}, config)
    assert [(t.judge, t.audited, t.kept, t.value) for t in thresholds] == [
        ("cheap", 200, 100, 0.95),
        ("strong", 100, 100, 0.97),  # judged only on the 100 pairs the cheap judge gave up
    ]
    pairs = {"cheap": [Calibrated(0.95, True), Calibrated(0.6, True)], "strong": [Calibrated(0.97, True)] * 2}
    assert assign(pairs, thresholds, groups) == ["cheap", "strong"]


def test_a_calibration_set_too_small_for_the_target_is_named_in_a_warning():
    config = GuaranteeConfig(target_agreement=0.95, confidence=0.95, cascade=("gpt",))
    thresholds, _ = calibrate_cascade({"gpt": [Calibrated(0.99, True)] * 30}, config)
    assert thresholds[0].value is None and thresholds[0].too_small
    assert warnings(thresholds, config) == [
        "gpt on pooled slices: 30 audited pairs cannot certify 95% agreement at 95% confidence (it needs "
        "at least 59 even with no disagreement): raise the audit rate or lower the target"
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
