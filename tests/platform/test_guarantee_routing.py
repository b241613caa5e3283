"""Guarantee mode through `manage.py route`: calibrated on the blind audit sample, then decided."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from labeling.typed_config import ConfigError
from tandem.core import services
from tandem.core.configs import check_routing_config
from tandem.core.models import Alert, HumanLabel, RoutingDecision
from tests.factories import judge_pairs

pytestmark = pytest.mark.django_db


def guarantee_project(tmp_path, n=200):
    """A judge sure of a (p 0.95) on three pairs in four, and unsure (p 0.6) on the fourth."""
    project = services.create_project("g")
    path = tmp_path / "p.jsonl"
    path.write_text(
        "".join(
            json.dumps({"prompt": f"q{i}", "response_a": "a", "response_b": "b"}) + "\n" for i in range(n)
        )
    )
    services.import_pairs(project, path, "pairs")
    p_ab = lambda i: 0.6 if i % 4 == 0 else 0.95  # noqa: E731
    judge_pairs(project.pairs.order_by("id"), p_ab, lambda i: 1 - p_ab(i))
    project.routing_config = {
        "policy": {"version": 1, "audit_rate": 0.5},
        "target_agreement": 0.9,
        "confidence": 0.9,
        "cascade": ["j"],
        "min_slice": 1000,
    }
    project.save()
    return project


def test_guarantee_mode_keeps_only_labels_above_the_threshold_the_audit_certifies(tmp_path, capsys):
    project = guarantee_project(tmp_path)
    call_command("route", project="g")
    first = capsys.readouterr().out
    # nothing audited yet: nothing can be certified, so every pair goes to humans, with a warning
    assert (
        "warning: j on pooled slices: 0 audited pairs cannot certify 90% agreement at 90% confidence" in first
    )
    assert "coverage 0.0% AI labels" in first
    assert Alert.objects.filter(kind="guarantee").count() == 1
    # the humans on the blind sample agree with the sure verdicts and with half the unsure ones
    blind = RoutingDecision.objects.filter(blind=True).select_related("pair").order_by("pair_id")
    audited = list(blind)
    assert 90 <= len(audited) <= 110
    for k, d in enumerate(audited):
        sure = d.pair.judgments.get(order="ab").p_first > 0.9
        HumanLabel.objects.create(
            pair=d.pair, annotator="h", choice="a" if sure or k % 2 else "b", source="argilla"
        )
    sure_audited = sum(1 for d in audited if d.pair.judgments.get(order="ab").p_first > 0.9)
    project.routing_config["policy"] = {"version": 2, "audit_rate": 0.05}
    project.save()
    call_command("route", project="g")
    out = capsys.readouterr().out
    assert "with probability >= 90%, AI labels kept agree with the human majority on >= 90% of them" in out
    assert f"j on (pooled): confidence >= 0.950; keeps {sure_audited} of {len(audited)} audited pairs" in out
    assert "agreement 100.0%" in out and "warning" not in out
    second = RoutingDecision.objects.filter(policy__version=2)
    unsure = second.filter(pair__judgments__order="ab", pair__judgments__p_first__lt=0.9)
    assert unsure.count() == 50 and all(d.human for d in unsure)
    assert all(d.reasons in (["below_threshold"], ["audit"]) for d in unsure)
    ai_only = second.filter(human=False)
    sure_blind = second.filter(blind=True, pair__judgments__order="ab", pair__judgments__p_first__gt=0.9)
    assert 0 < sure_blind.count() < 20 and ai_only.count() == 150 - sure_blind.count()
    assert all(d.judges == ["j"] for d in ai_only)
    assert f"coverage {ai_only.count() / 200:.1%} AI labels (j {ai_only.count()})" in out


def test_routing_config_accepts_guarantee_keys_and_names_a_bad_one():
    check_routing_config({"target_agreement": 0.9, "confidence": 0.9, "cascade": ["cheap", "strong"]})
    with pytest.raises(ConfigError, match=r"routing_config\.target_agreement: is required"):
        check_routing_config({"cascade": ["cheap"]})
    with pytest.raises(ConfigError, match=r"'confidence' is 1\.5; it must be at least 0\.5 and below 1"):
        check_routing_config({"target_agreement": 0.9, "confidence": 1.5})
