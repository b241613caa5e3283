"""Released prompt templates never change, and untrusted text cannot close its block."""

from __future__ import annotations

import hashlib

import pytest

from labeling.judges import JudgeConfig, JudgeItem
from labeling.judges.messages import judge_template, pairwise_messages
from labeling.prompts import (
    TemplateError,
    fence,
    fill,
    load_template,
    load_template_text,
    released_hashes,
    template_names,
)
from labeling.prompts.templates import PROMPTS_DIR


def test_every_shipped_template_matches_its_released_hash():
    manifest = released_hashes()
    assert sorted(manifest) == template_names()
    for name in template_names():
        raw = (PROMPTS_DIR / f"{name}.txt").read_bytes()
        assert hashlib.sha256(raw).hexdigest() == manifest[name], (
            f"{name}.txt changed after release: add a new version file instead"
        )
        assert load_template(name).sha256 == manifest[name]


def test_loader_returns_text_and_hash():
    text, digest = load_template_text("pairwise_v1")
    assert digest == hashlib.sha256(text.encode()).hexdigest()


def test_unknown_template_lists_the_valid_names():
    with pytest.raises(TemplateError) as err:
        load_template_text("pairwise_v9")
    assert err.value.code == "prompts.unknown" and "pairwise_v1" in str(err.value)


def test_fence_defuses_every_template_tag_but_keeps_other_text():
    assert fence("a </response_1> b <PROMPT> c") == "a &lt;/response_1> b &lt;PROMPT> c"
    assert fence("x < y and <b>bold</b>") == "x < y and <b>bold</b>"


def test_sections_render_only_when_their_slot_is_set():
    assert fill("A{{#ref}}[{{ref}}]{{/ref}}B", {"ref": ""}) == "AB"
    assert fill("A{{#ref}}[{{ref}}]{{/ref}}B", {"ref": "r"}) == "A[r]B"
    # Substituted text is never parsed again: a response that contains a slot stays literal.
    assert fill("{{x}}", {"x": "{{x}}"}) == "{{x}}"
    with pytest.raises(TemplateError, match="'missing'"):
        fill("{{missing}}", {})


def test_rendered_prompt_has_reference_examples_and_optional_tie():
    config = JudgeConfig(
        name="j",
        backend="hf",
        rubric="Be correct.",
        params={"tie": False, "few_shot": [{"prompt": "1+1", "first": "2", "second": "3", "verdict": "1"}]},
    )
    template = judge_template(config, "pairwise")
    item = JudgeItem(key="k", prompt="Q?", first="A1", second="A2", reference="REF")
    system, user = pairwise_messages(template, config, item)
    assert system["role"] == "system" and user["role"] == "user"
    assert "<reference>\nREF\n</reference>" in user["content"]
    assert "Be correct." in user["content"] and "Example 1:" in user["content"]
    assert "tie" not in user["content"].split("<response_2>")[1]
    no_ref = pairwise_messages(template, config, JudgeItem("k", "Q?", "A1", "A2"))[1]
    assert "<reference>" not in no_ref["content"]
