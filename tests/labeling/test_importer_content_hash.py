"""A pair's content hash is the one stored by every earlier import: re-imports must match it."""

from __future__ import annotations

import hashlib
import json

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
