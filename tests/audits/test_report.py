"""The report as dashboards, CI and auditors read it: keys, nulls with reasons, renderings."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib

import pandas as pd
import pytest

from audits import (
    REQUIRED_KEYS,
    AuditInputError,
    build_report,
    get_path,
    render_html,
    render_pdf,
    render_text,
)
from tests.audits.factories import judgments_frame, labels_frame


def _assert_contract(report: dict) -> None:
    """Every required key exists; each null has a reason; each number is a fraction-like value."""
    for key in REQUIRED_KEYS:
        value = get_path(report, key)
        if value is None:
            assert key in report["reasons"], f"{key} is null without a reason"
    for key in ("agreement.with_ties", "position.first_rate", "calibration.ece"):
        value = get_path(report, key)
        assert value is None or 0.0 <= value <= 1.0
    json.dumps(report, allow_nan=False)


def test_full_report_has_every_required_key(truth, perfect):
    perfect["p_first"] = 0.8
    report = build_report(perfect, labels_frame(truth), judge="j")
    _assert_contract(report)
    assert report["n_pairs"] == 40
    assert report["calibration"]["ece"] is not None
    assert set(report["slices"]) == {"category", "length", "model_pair", "judge", "template", "time"}


def test_no_human_labels_says_so_and_keeps_judge_only_numbers(always_first):
    report = build_report(always_first, labels=None)
    _assert_contract(report)
    assert report["agreement"]["with_ties"] is None
    assert report["reasons"]["agreement.with_ties"] == "no human labels (audit or imported sample)"
    assert report["reasons"]["human_human.agreement"] == "no human labels"
    assert report["position"]["first_rate"] == 1.0


def test_judge_with_only_errors_explains_every_verdict_number():
    errors = judgments_frame(["a"] * 5, {"ab": [None] * 5, "ba": [None] * 5})
    report = build_report(errors, labels_frame(["a"] * 5))
    _assert_contract(report)
    why = "no usable verdict: all 10 judgments failed (10 error, 0 unparsable)"
    assert report["reasons"]["agreement.with_ties"] == why
    assert report["reasons"]["position.first_rate"] == why
    assert report["status"]["ok_rate"] == 0.0
    assert report["human_human"]["agreement"] is None
    assert "n/a" in render_text(report)


def test_slice_with_one_item_has_no_interval_and_says_why(truth, perfect):
    perfect["category"] = ["solo"] + ["bulk"] * 39 + ["solo"] + ["bulk"] * 39
    report = build_report(perfect, labels_frame(truth))
    solo = next(r for r in report["slices"]["category"]["rows"] if r["slice"] == "solo")
    assert solo["n_pairs"] == 1
    assert solo["with_ties"] == 1.0
    assert solo["ci95"]["with_ties"] is None
    assert solo["reasons"]["ci95.with_ties"] == "1 pair(s): an interval needs at least 5"


def test_unknown_judge_lists_the_known_ones(perfect):
    with pytest.raises(AuditInputError, match=r"judges with judgments: \['j'\]"):
        build_report(perfect, judge="gpt-5")


def test_bad_choice_value_names_the_valid_values(perfect):
    perfect.loc[0, "choice"] = "A"
    with pytest.raises(AuditInputError, match=r"valid values are \['a', 'b', 'tie'\]"):
        build_report(perfect)


def test_missing_column_is_named(perfect):
    with pytest.raises(AuditInputError, match=r"missing columns \['order'\]"):
        build_report(perfect.drop(columns=["order"]))


def test_latest_rerun_replaces_an_earlier_verdict(truth):
    judgments = judgments_frame(truth[:1], {"ab": ["b"]})
    rerun = judgments.assign(choice=truth[0])
    frame = pd.concat(
        [
            judgments.assign(created_at=pd.Timestamp("2024-01-01")),
            rerun.assign(created_at=pd.Timestamp("2024-02-01")),
        ]
    )
    report = build_report(frame, labels_frame(truth[:1]))
    assert report["n_judgments"] == 1
    assert report["agreement"]["by_order"]["ab"] == 1.0


def test_html_is_standalone_with_inline_svg_plots(truth, perfect):
    page = render_html(build_report(perfect, labels_frame(truth)))
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "<link" not in page and " src=" not in page
    svgs = page.split("<figure>")[1:]
    assert len(svgs) >= 4
    for chunk in svgs:
        ET.fromstring(chunk.split("</figure>")[0])  # noqa: S314 - our own output


def test_pdf_renders(truth, perfect):
    pytest.importorskip("matplotlib", reason="PDF output needs matplotlib")
    assert render_pdf(build_report(perfect, labels_frame(truth))).startswith(b"%PDF")


def test_audits_never_imports_django():
    code = "import sys, audits; audits.build_report; print(any(m.startswith('django') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _anchored_labels(truth: list[str]) -> pd.DataFrame:
    """Routed votes on 40 pairs: where the suggestion showed (pairs 0-19) the annotator took the
    AI's answer every time; where it was held out (20-39) they agreed on only half."""
    other = {"a": "b", "b": "a"}
    choices = [t if i < 20 or i % 2 else other[t] for i, t in enumerate(truth)]
    frame = labels_frame(choices, sample="routed")
    return frame.assign(suggestion_shown=[i < 20 for i in range(len(truth))])


def test_anchoring_compares_agreement_with_the_suggestion_shown_and_hidden(truth, perfect):
    report = build_report(perfect, _anchored_labels(truth))
    _assert_contract(report)
    anchoring = report["anchoring"]
    assert (anchoring["shown"]["agreement"], anchoring["hidden"]["agreement"]) == (1.0, 0.5)
    assert (anchoring["shown"]["n_votes"], anchoring["hidden"]["n_votes"]) == (20, 20)
    assert anchoring["difference"] == 0.5
    low, high = anchoring["difference_ci95"]
    assert 0.0 < low <= 0.5 <= high <= 1.0  # the interval excludes "no anchoring"
    rows = [line.split("  ", 1) for line in render_text(report).splitlines() if "  " in line]
    lines = {label.strip(): value.strip() for label, value in rows}
    assert lines["Anchoring effect (shown - hidden)"].startswith("+50.0 pts  [+")
    assert lines["Anchoring: agreement, suggestion shown"] == "100.0%  [100.0%, 100.0%]"
    page = render_html(report)
    assert "<h2>Anchoring</h2>" in page and "+50.0 pts" in page


def _pdf_text(pdf: bytes) -> str:
    """The text drawn on the PDF's pages: matplotlib writes each glyph as `(c) kern` in a TJ array."""
    text = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            content = zlib.decompress(stream)
        except zlib.error:
            continue
        for array in re.findall(rb"\[(.*?)\]\s*TJ", content, re.S):
            text.append(b"".join(re.findall(rb"\((.)\)", array, re.S)).decode("latin-1"))
    return "\n".join(text)


def test_anchoring_in_the_pdf(truth, perfect):
    pytest.importorskip("matplotlib", reason="PDF output needs matplotlib")
    text = _pdf_text(render_pdf(build_report(perfect, _anchored_labels(truth))))
    line = next(line for line in text.splitlines() if line.startswith("Anchoring effect"))
    assert "+50.0 pts" in line


def test_no_suggestion_column_gives_anchoring_nulls_with_reasons(truth, perfect):
    report = build_report(perfect, labels_frame(truth, sample="routed"))
    why = "no human label says whether its record showed the AI suggestion"
    assert report["anchoring"]["shown"]["agreement"] is None
    assert report["reasons"]["anchoring.shown.agreement"] == why
    assert (
        report["reasons"]["anchoring.difference"] == "needs routed votes both with and without the suggestion"
    )
    assert "n/a" in render_text(report).split("Anchoring effect")[1].splitlines()[0]


def test_first_line_counts_votes_in_words_not_a_python_dict(truth, perfect):
    report = build_report(perfect, labels_frame(truth))
    text, page = render_text(report), render_html(report)
    assert text.splitlines()[1] == "Human votes by sample: audit 40, routed 0, imported 0"
    assert "{'" not in text and "{&#x27;" not in page and "{'" not in page.split("<script")[0]
