"""A pair's content hash is the one stored by every earlier import: re-imports must match it."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeling.records import PairRecord


def stored_definition(pair: PairRecord) -> str:
    """The hash as the first importer computed it (and as every stored pair carries it)."""
    texts = [pair.prompt, pair.response_a, pair.response_b, pair.model_a, pair.model_b]
    key = json.dumps(texts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(), min_size=5, max_size=5))
def test_the_hash_matches_the_stored_definition_for_any_text(texts):
    pair = PairRecord(*texts)
    assert pair.content_hash() == stored_definition(pair)


def test_awkward_text_hashes_as_stored():
    awkward = 'tab\there\nnew "quoted" \\ back \x1f \x7f é 🚀 \u2028'
    pair = PairRecord(awkward, awkward + "a", "", "model", "")
    assert pair.content_hash() == stored_definition(pair)


def test_every_character_hashes_as_stored():
    # orjson writes the key: each code point must come out as json.dumps writes it (escapes
    # of control characters, quotes, backslashes; everything else as UTF-8), astral ones too
    every = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(every), 4096):
        text = "".join(every[start : start + 4096])
        pair = PairRecord(text, text[::-1], text[:7], "m", "")
        assert pair.content_hash() == stored_definition(pair), f"characters from {ord(text[0]):#x}"


def test_str_subclasses_and_lone_surrogates_behave_as_the_definition():
    class Name(StrEnum):
        GPT = "gpt-4"

    pair = PairRecord("p", "a", "b", Name.GPT, "m")  # a judge or model name given as an enum
    assert pair.content_hash() == stored_definition(pair)
    broken = PairRecord("p \ud800", "a", "b")  # no UTF-8 for it in either
    with pytest.raises(UnicodeEncodeError):
        stored_definition(broken)
    with pytest.raises(UnicodeEncodeError):
        broken.content_hash()
