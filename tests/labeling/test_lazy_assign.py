"""The lazy cascade's rule (labeling.guarantee.assign with `unjudged`): a judge keeps a pair
before a later judge has spoken only where it would keep it whatever that judge says."""

from labeling.guarantee import POOLED, AgreementScore, Calibrated, Threshold, Waiting, assign

JUDGES = ("cheap", "strong")


def cheap_score() -> AgreementScore:
    """Humans agree with cheap's sure verdicts when strong agrees, on half of them when it does not,
    and never with its unsure ones."""
    agreeing = [Calibrated(0.95, True, others_agree=1, chose_longer=True)] * 100
    alone = [Calibrated(0.95, k % 2 == 0, others_agree=0, chose_longer=True) for k in range(100)]
    unsure = [Calibrated(0.55, False, others_agree=0, chose_longer=False)] * 50
    return AgreementScore.learn(agreeing + alone + unsure, frozenset())


def route(cheap: list[Calibrated], strong: list[Calibrated], unjudged=None, sure_alone: bool = False):
    score = cheap_score()
    with_strong = score(Calibrated(0.95, False, others_agree=1, chose_longer=True))
    without = score(Calibrated(0.95, False, others_agree=0, chose_longer=True))
    assert with_strong > 0.95 > 0.6 > without
    thresholds = [
        Threshold("cheap", POOLED, without if sure_alone else 0.95, 100, 100, 1.0, 29),
        Threshold("strong", POOLED, 0.5, 100, 100, 1.0, 29),
    ]
    strong_score = AgreementScore.learn([Calibrated(0.9, True, chose_longer=True)] * 50, frozenset())
    return assign(
        {"cheap": cheap, "strong": strong}, thresholds, {"cheap": score, "strong": strong_score}, unjudged
    )


def test_a_pair_whose_cheap_keep_depends_on_the_strong_vote_waits_for_it_then_is_decided_as_eager():
    sure = Calibrated(0.95, False, others_agree=0, chose_longer=True)
    missing = Calibrated(None, False)
    assert route([sure], [missing], {"cheap": [False], "strong": [True]}) == [Waiting("strong")]
    agrees, differs = Calibrated(0.95, False, others_agree=1, chose_longer=True), sure
    strong = Calibrated(0.9, False, chose_longer=True)
    judged = {"cheap": [False, False], "strong": [False, False]}
    # once strong has judged: cheap keeps where strong agrees, strong keeps where it does not
    assert route([agrees, differs], [strong, strong], judged) == ["cheap", "strong"]
    assert route([agrees, differs], [strong, strong]) == ["cheap", "strong"]  # the eager cascade


def test_a_pair_cheap_keeps_whatever_strong_says_is_decided_without_strong():
    sure = Calibrated(0.95, False, others_agree=0, chose_longer=True)
    unsure = Calibrated(0.55, False, others_agree=0, chose_longer=False)
    missing = Calibrated(None, False)
    lazy = route([sure, unsure], [missing, missing], {"cheap": [False] * 2, "strong": [True] * 2}, True)
    assert lazy == ["cheap", Waiting("strong")]


def test_a_pair_no_remaining_judge_can_keep_goes_to_humans_without_waiting():
    """strong passed no threshold: waiting for its verdict could only cost a call, so the pair
    cheap gives up goes to humans now (what the eager cascade decides too)."""
    unsure = Calibrated(0.55, False, others_agree=0, chose_longer=False)
    thresholds = [
        Threshold("cheap", POOLED, 0.95, 100, 100, 1.0, 29),
        Threshold("strong", POOLED, None, 100, 0, None, 29),
    ]
    scores = {"cheap": cheap_score(), "strong": cheap_score()}
    lazy = assign({"cheap": [unsure], "strong": [Calibrated(None, False)]}, thresholds, scores,
                  {"cheap": [False], "strong": [True]})  # fmt: skip
    assert lazy == [None]
