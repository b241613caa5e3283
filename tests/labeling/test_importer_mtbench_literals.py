"""MT-Bench's conversation literals: the fast scanner reads exactly what `ast.literal_eval` reads,
and everything it does not read gets literal_eval's own answer and message."""

from __future__ import annotations

import re
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeling.importers import mtbench


def reference(raw: str) -> tuple | str:
    """What the importer answered before the scanner: literal_eval, then the shape check."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mtbench.literal_turns(raw)


def parsed(raw: str) -> tuple | str:
    mtbench._turns.cache_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escapes warn on both paths alike
        return mtbench._turns(raw)


def compact(turns: list[tuple[str, str]]) -> str:
    """The MT-Bench file's own spelling: no space after the commas."""
    return "[" + ",".join(f"({text!r},{role!r})" for text, role in turns) + "]"


turns = st.lists(st.tuples(st.text(), st.sampled_from(["user", "assistant", ""])), max_size=4)


@settings(max_examples=300, deadline=None)
@given(turns)
def test_any_conversation_reads_back_exactly(conversation):
    for raw in (repr(conversation), compact(conversation)):
        expected = reference(raw)
        assert parsed(raw) == expected == tuple(conversation)


@pytest.mark.parametrize(
    "raw",
    [
        r"""[('tab\there \x41 \N{BULLET} \u00e9 \U0001F680 \101 \'q\' "d" \\', 'user')]""",
        r"""[("it's \"both\" \\\\", 'assistant'), ('a\\', 'user')]""",
        r"""[('invalid \d escape and \ line', 'user')]""",
        "[('backslash before \\é and \\中', 'user')]",
        "[('lone \\ud800 surrogate escape', 'user')]",
        "[('raw lone \ud800 surrogate', 'user')]",
        "[]",
        "[ ( 'a' , 'user' ) , ]",
        "[('a', 'user'),]",
        "[('a', 'user',)]",
        "[('a' 'b', 'user')]",
        "[(r'a\\n', 'user')]",
        "[(b'a', 'user')]",
        "[('''a''', 'user')]",
        "[('a', 'user')]  # comment",
        "[('a\nb', 'user')]",
        "[('a', 'user')\n, ('b', 'assistant')]",
        "[('a', 'user') ('b', 'assistant')]",
        "[('a', 'user'),, ]",
        "[('a', 'user', 'extra')]",
        "[('a', 1)]",
        "[('unclosed, 'user')]",
        "[('\\x4', 'user')]",
        "('a', 'user')",
        "{'a': 'user'}",
        "[('a', 'user')] x",
        "",
    ],
)
def test_awkward_literals_get_literal_evals_answer(raw):
    def same(answer):  # literal_eval names a bad node with its address
        return re.sub(" at 0x[0-9a-f]+", "", answer) if isinstance(answer, str) else answer

    assert same(parsed(raw)) == same(reference(raw))
