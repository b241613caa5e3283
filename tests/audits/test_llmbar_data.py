"""The report on real verdicts: LLMBar Natural, GPT-4 with the Vanilla_NoRules prompt.

The data set (princeton-nlp/LLMBar, MIT) stores each pair judged in both orders with the
winner already in the original output_1/output_2 terms; the expert label is gold. The ranges
below were measured once (see the audits report) and are wide enough for any honest
re-definition to stay inside, narrow enough that a swapped order or label breaks them.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from audits import build_report
from tests.required import REQUIRED

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "llmbar" / "LLMBar" / "Natural"
pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(
        not DATA.exists() and not REQUIRED, reason=f"real data not found at {DATA} (../shared/data is absent)"
    ),
]
WINNER = {"1": "a", "2": "b"}


def load_llmbar(folder: Path, judge: str, prompt: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(judgments, labels) frames in the audits contract, from one LLMBar evaluator run."""
    with gzip.open(folder / "evaluators" / judge / prompt / "result.json.gz", "rt") as handle:
        results = json.load(handle)
    rows, labels = [], []
    for pair_id, item in enumerate(results):
        for swap, order in (("swap = False", "ab"), ("swap = True", "ba")):
            choice = WINNER.get(item["results"][0][swap]["winner"])
            rows.append(
                {
                    "pair_id": pair_id,
                    "judge": f"llmbar:{judge}/{prompt}",
                    "order": order,
                    "status": "ok" if choice else "unparsable",
                    "choice": choice,
                    "len_a": len(item["output_1"]),
                    "len_b": len(item["output_2"]),
                }
            )
        labels.append(
            {
                "pair_id": pair_id,
                "annotator": "llmbar-expert",
                "choice": WINNER[str(item["label"])],
                "sample": "imported",
            }
        )
    return pd.DataFrame(rows), pd.DataFrame(labels)


@pytest.fixture(scope="module")
def gpt4_report():
    judgments, labels = load_llmbar(DATA, "GPT-4", "Vanilla_NoRules")
    return build_report(judgments, labels)


def test_gpt4_natural_accuracy_per_order_is_high(gpt4_report):
    by_order = gpt4_report["agreement"]["by_order"]
    assert gpt4_report["n_pairs"] == 100
    assert 0.85 <= by_order["ab"] <= 0.97
    assert 0.85 <= by_order["ba"] <= 0.97
    assert 0.85 <= gpt4_report["agreement"]["mean_over_orders"] <= 0.97


def test_gpt4_natural_is_mostly_consistent_across_orders(gpt4_report):
    assert 0.80 <= gpt4_report["position"]["consistency"] <= 0.98
    low, high = gpt4_report["agreement"]["ci95"]["mean_over_orders"]
    assert low <= gpt4_report["agreement"]["mean_over_orders"] <= high


def test_gpt4_natural_has_no_human_ceiling_with_one_gold_label(gpt4_report):
    assert gpt4_report["human_human"]["agreement"] is None
    assert gpt4_report["reasons"]["human_human.agreement"] == "no pair has two or more human votes"
