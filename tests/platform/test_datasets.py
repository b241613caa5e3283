"""Export and train through the platform: versions, provenance, runs that succeed and fail."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from tandem.core import datasets, selectors, services
from tandem.core.models import AuditReport, DatasetVersion, Pair, TrainingRun
from tests.factories import judge_pairs
from training.split import held_out

pytestmark = pytest.mark.django_db
FRUITS = ["apple", "pear", "plum", "fig", "kiwi", "lime", "date", "mango"]


@pytest.fixture
def project(tmp_path):
    """40 pairs: polite answer (a) vs rude one (b); humans labeled 16, a judge all of them."""
    project = services.create_project("ds")
    path = tmp_path / "p.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "prompt": f"Question {i}: name a fruit.\nAnswer:",
                    "response_a": f" Gladly: {FRUITS[i % 8]}.",
                    "response_b": f" No. {FRUITS[i % 8]} go away!",
                    **({"label": "a", "annotator": "h"} if i < 16 else {}),
                }
            )
            + "\n"
            for i in range(40)
        )
    )
    services.import_pairs(project, path, "pairs")
    p_ab = lambda i: 0.95 if i % 5 else 0.6  # noqa: E731 (every fifth pair the judge is unsure)
    judge_pairs(Pair.objects.filter(project=project).order_by("id"), p_ab, lambda i: 1 - p_ab(i))
    return project


def test_export_is_versioned_by_content_and_byte_identical(project, tmp_path, capsys):
    call_command(
        "export", project="ds", format=["jsonl", "parquet", "csv"], out=str(tmp_path / "a"), json=True
    )
    first = json.loads(capsys.readouterr().out)
    call_command(
        "export", project="ds", format=["jsonl", "parquet", "csv"], out=str(tmp_path / "b"), json=True
    )
    second = json.loads(capsys.readouterr().out)
    assert first["version"] == second["version"]
    for name in ("preferences.jsonl", "preferences.parquet", "preferences.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert DatasetVersion.objects.count() == 1
    version = DatasetVersion.objects.get()
    # 16 human-labeled pairs (humans win; on 4 of them the judge is unsure, so "human" only) and
    # 24 AI-only pairs, of which the 4 below the 0.8 confidence threshold are dropped
    assert version.counts["by_source"] == {"both": 12, "human": 4, "ai": 20}
    assert version.counts["dropped"] == {"ai_below_threshold": 4}
    assert (version.judge, version.n_rows, version.human_labels) == ("j", 36, 16)
    row = json.loads((tmp_path / "a" / "preferences.jsonl").read_text().splitlines()[0])
    assert set(row) >= {"prompt", "chosen", "rejected", "source", "weight", "p_chosen", "pair_id", "version"}
    assert row["version"] == first["version"] and row["chosen"].startswith(" Gladly")


def test_export_reads_pairs_in_chunks_and_gives_the_same_version_and_verdicts(project, tmp_path, monkeypatch):
    """Pairs, votes and verdicts are read a chunk at a time: chunks of 7 pairs give the version of
    one chunk for all, rows in pair_id order (the id as text, as the content hash needs), the AI verdicts
    routing reads (selectors.signals) and a dry run counting what the export wrote."""
    whole = datasets.export_dataset(project, None, ["jsonl"], tmp_path / "whole")
    monkeypatch.setattr(datasets, "CHUNK_PAIRS", 7)
    chunked = datasets.export_dataset(project, None, ["jsonl"], tmp_path / "chunked")
    assert chunked["version"] == whole["version"] and chunked["summary"] == whole["summary"]
    lines = (tmp_path / "chunked" / "preferences.jsonl").read_text().splitlines()
    ids = [json.loads(line)["pair_id"] for line in lines]
    assert ids == sorted(ids) and len(ids) == 36
    by_pair = {s.pair_id: s for s in selectors.signals(project, ["j"])}
    for votes in datasets.pair_votes(project, "j"):
        signal = by_pair[int(votes.pair_id)]
        assert (votes.ai.choice, votes.ai.p_a, votes.ai.flipped) == (
            signal.choice,
            signal.p_a,
            signal.flipped,
        )
    preview = datasets.preview(project)
    assert {k: preview[k] for k in whole["summary"]} == whole["summary"]


def test_dry_run_writes_nothing(project, capsys):
    call_command("export", project="ds", dry_run=True)
    assert "rows" in capsys.readouterr().out.lower()
    assert not DatasetVersion.objects.exists()


def test_calibration_from_the_latest_audit_is_applied_and_recorded(project, tmp_path):
    AuditReport.objects.create(
        project=project,
        judge="j",
        report={},
        calibration={"method": "temperature", "scale": 0.01, "bias": 0.0},
    )
    result = datasets.export_dataset(project, None, ["jsonl"], tmp_path)
    assert result["summary"]["calibrated"] is True
    # a near-flat map makes every AI verdict unsure: only the human-labeled pairs remain
    assert result["summary"]["by_source"] == {"human": 16}
    assert DatasetVersion.objects.get().calibration is not None


def test_bad_policy_key_is_a_clear_error(project, tmp_path):
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps({"ai_treshold": 0.9}))
    with pytest.raises(CommandError, match="ai_treshold"):
        call_command("export", project="ds", policy=str(policy))


def test_reward_model_trains_and_the_run_records_metrics_eval_and_artifacts(project, tmp_path, tiny_model):
    datasets.export_dataset(project, None, ["jsonl"], tmp_path / "d")
    version = DatasetVersion.objects.get()
    config = tmp_path / "reward.json"
    config.write_text(
        json.dumps(
            {
                "model": tiny_model,
                "max_steps": 6,
                "per_device_train_batch_size": 4,
                "logging_steps": 1,
                "max_length": 64,
            }
        )
    )
    call_command(
        "train",
        project="ds",
        dataset=version.version[:10],
        method="reward",
        config=str(config),
        out=str(tmp_path / "run"),
        json=True,
    )
    run = TrainingRun.objects.get()
    assert run.status == "succeeded" and run.error == ""
    assert len(run.metrics) >= 3 and "loss" in run.metrics[0]
    # The evaluation is on the human-labeled rows set aside (a seeded tenth), never trained on:
    # the run reports exactly that many, and scores the reward model on each of them.
    from training.export import read_rows

    _, held = held_out(read_rows(version.files["jsonl"]))
    assert all(row["source"] in ("human", "both") for row in held)
    assert run.final_eval["held_out_rows"] == len(held)
    if held:  # 16 human rows: a tenth is usually one or two (which ones depends on the pair ids)
        assert run.final_eval["n"] == len(held) and 0.0 <= run.final_eval["accuracy"] <= 1.0
    else:
        assert "accuracy" not in run.final_eval
    from transformers import AutoModelForSequenceClassification

    assert AutoModelForSequenceClassification.from_pretrained(run.artifacts["model"]).config.num_labels == 1


def test_bad_training_input_fails_before_any_run(project, tmp_path):
    datasets.export_dataset(project, None, ["jsonl"], tmp_path / "d")
    version = DatasetVersion.objects.get()
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"model": str(tmp_path / "no-such-model"), "max_steps": 2}))
    with pytest.raises(CommandError, match="no-such-model"):
        call_command("train", project="ds", dataset=version.version[:10], method="dpo", config=str(config))
    config.write_text(json.dumps({"modle": "x"}))
    with pytest.raises(CommandError, match="modle"):
        call_command("train", project="ds", dataset=version.version[:10], method="dpo", config=str(config))
    with pytest.raises(CommandError, match="matches no version"):
        call_command("train", project="ds", dataset="ffff", method="dpo", config=str(config))
    assert not TrainingRun.objects.exists()
