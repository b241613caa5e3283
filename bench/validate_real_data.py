"""Audit numbers on the recorded verdicts of ../shared/data, for comparison with the data sets'
published figures (README, "Results on real data"). Not a test: prints tables.

Run: .venv/bin/python bench/validate_real_data.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup(var: str) -> None:
    os.environ.update(TANDEM_VAR_DIR=var, DJANGO_SETTINGS_MODULE="tandem.settings.base")
    sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def pct(value) -> str:
    return "  n/a" if value is None else f"{100 * value:5.1f}"


def llmbar(data: Path) -> None:
    import audits
    from labeling.importers.llmbar import LLMBAR_SETS
    from tandem.core import selectors, services

    print("LLMBar: accuracy per order ab / ba, mean over orders, positional consistency (%)")
    for name in LLMBAR_SETS:
        project = services.create_project(name.replace("/", "-").lower())
        # skip_invalid: LLMEval2 holds one pair whose two outputs are the same text (no preference)
        services.import_pairs(project, data / "llmbar" / name, "llmbar", skip_invalid=True)
        for judge in selectors.judges_of(project):
            judgments, labels = selectors.audit_frames(project, judge)
            report = audits.build_report(judgments, labels, judge=judge)
            order = report["agreement"]["by_order"]
            print(
                f"  {name:<28} {judge.split(':')[1]:<26} {pct(order['ab'])} / {pct(order['ba'])} / "
                f"{pct(report['agreement']['mean_over_orders'])} / {pct(report['position']['consistency'])}"
            )


def kappa(x: list[str], y: list[str]) -> float:
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score(x, y))


def pandalm(data: Path) -> None:
    from tandem.core import services
    from tandem.core.models import HumanLabel, Judgment

    project = services.create_project("pandalm")
    services.import_pairs(project, data / "pandalm", "pandalm")
    votes: dict[int, dict[str, str]] = {}
    for pair_id, annotator, choice in HumanLabel.objects.filter(pair__project=project).values_list(
        "pair_id", "annotator", "choice"
    ):
        votes.setdefault(pair_id, {})[annotator] = choice
    ids = sorted(votes)
    names = sorted(next(iter(votes.values())))
    print("PandaLM: Cohen's kappa between annotators (published: 0.85, 0.88, 0.86)")
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            print(f"  {a} vs {b}: {kappa([votes[p][a] for p in ids], [votes[p][b] for p in ids]):.2f}")
    majority = {p: Counter(v.values()).most_common(1)[0][0] for p, v in votes.items()}
    counts = Counter(majority.values())
    print(
        f"  majority label: tie {counts['tie']}, 1 {counts['a']}, 2 {counts['b']} "
        "(published label distribution: 0 105, 1 422, 2 472)"
    )
    print("PandaLM: judges against the annotators' majority (3-way, ties included)")
    for judge in ("pandalm:gpt-3.5-turbo", "pandalm:pandalm-7b"):
        rows = dict(
            Judgment.objects.filter(pair__project=project, judge=judge).values_list("pair_id", "choice")
        )
        usable = [p for p in ids if rows.get(p)]
        hits = sum(rows[p] == majority[p] for p in usable)
        print(
            f"  {judge:<24} accuracy {hits / len(ids):.1%} of {len(ids)} "
            f"({len(ids) - len(usable)} unparsable count as wrong), kappa "
            f"{kappa([rows.get(p) or 'none' for p in ids], [majority[p] for p in ids]):.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    setup(tempfile.mkdtemp(prefix="tandem-validate-"))
    pandalm(args.data)
    llmbar(args.data)


if __name__ == "__main__":
    main()
