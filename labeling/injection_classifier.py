"""A small classifier beside the injection rules: where no rule matches, a linear model over
hashed character and word n-grams of the de-disguised text says whether a passage addresses
the judge.

Rules catch what their author foresaw; an attacker who words the same request another way, or
in a language without rules, walks past them. The classifier generalizes from a generated
corpus (bench/injection_corpus.py: many attack ideas and phrasings, 26 languages, disguised,
inserted into real responses, against real responses and hard negatives, plus the spent
held-out sets), so it catches paraphrases the rules have no word for. It reads the same
readings as the rules (labeling/injection_text.views), cut into overlapping windows, because an
injection is a sentence or two inside a long response and a whole-response average would dilute
it; the response's score is its highest window's.

The model is a vector of weights over a fixed hashing space (no vocabulary to ship), stored in
injection_model.npz next to this file with its threshold, and loaded once, on first use.
Pure Python + numpy (scipy only to train), no Django.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from labeling.injection_text import views

MODEL_PATH = Path(__file__).with_name("injection_model.npz")
N_FEATURES = 2**19
WINDOW = 320  # characters per window: an injection of up to STRIDE characters fits in one
STRIDE = 160


_MUL = np.uint64(0x100000001B3)  # FNV prime: the rolling hash of an n-gram's characters
_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top bits of the product spread well
_SHIFT = np.uint64(64 - N_FEATURES.bit_length() + 1)
_WORD_SALT = np.uint64(0xA5A5A5A5)
_TOKEN = re.compile(r"\w+|[^\w\s]")


def _buckets(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(feature indices, L2-normalized counts) of a block of n-gram hashes."""
    index, counts = np.unique((hashes * _MIX) >> _SHIFT, return_counts=True)
    return index.astype(np.int64), counts / np.sqrt(np.dot(counts, counts))


def passage_features(passage: str) -> tuple[np.ndarray, np.ndarray]:
    """(feature indices, values) of one passage: character 2-5-grams of the lowercased text with
    whitespace runs as one space, and word 1-2-grams (punctuation counts as a word), each block
    L2-normalized; an index may repeat (its values add up).

    Hashed with numpy and crc32 rather than scikit-learn's HashingVectorizer: five times faster
    per passage, which keeps the classifier usable at routing, and the same in every process."""
    text = " " + " ".join(passage.lower().split()) + " "
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    grams, rolling = [], codes
    for n in range(2, 6):
        if len(codes) < n:
            break
        rolling = rolling[:-1] * _MUL + codes[n - 1 :]
        grams.append(rolling)
    chars = _buckets(np.concatenate(grams))
    tokens = np.array([zlib.crc32(t.encode("utf-8")) for t in _TOKEN.findall(text)], dtype=np.uint64)
    if not len(tokens):
        return chars
    tokens = tokens + _WORD_SALT
    words = _buckets(np.concatenate([tokens, tokens[:-1] * _MUL + tokens[1:]]))
    return np.concatenate([chars[0], words[0]]), np.concatenate([chars[1], words[1]])


def features(passages: list[str]):
    """The feature rows of `passages` as a scipy CSR matrix (N_FEATURES columns), for training."""
    from scipy.sparse import csr_matrix

    rows = [passage_features(p) for p in passages]
    indptr = np.cumsum([0] + [len(index) for index, _ in rows])
    indices = np.concatenate([index for index, _ in rows])
    values = np.concatenate([value for _, value in rows])
    matrix = csr_matrix((values, indices, indptr), shape=(len(rows), N_FEATURES))
    matrix.sum_duplicates()
    return matrix


_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_LETTER = re.compile(r"[^\W\d_]")  # a letter, in any script (CJK has no spaces to count words by)
MIN_LETTERS = 4  # windows with fewer letters are left to the rules


def windows(text: str) -> list[str]:
    """`text` cut at blank lines into paragraphs, and a paragraph longer than WINDOW characters
    into windows of WINDOW every STRIDE characters, each started and ended at whitespace where
    one is near, so words stay whole. An injection is usually a paragraph of its own; scored
    alone, it is not diluted by the response around it."""
    return [w for part in _PARAGRAPH.split(text) if part.strip() for w in _windows(part.strip())] or [text]


def _windows(text: str) -> list[str]:
    if len(text) <= WINDOW:
        return [text]
    out, start = [], 0
    while start < len(text):
        end = min(len(text), start + WINDOW)
        if end < len(text):
            space = text.rfind(" ", end - 40, end)
            end = space if space > start else end
        out.append(text[start:end])
        if end >= len(text):
            break
        nxt = start + STRIDE
        space = text.find(" ", nxt, nxt + 40)
        start = space + 1 if space != -1 else nxt
    return out


def passages(text: str) -> list[str]:
    """The windows of every reading of `text` that the rules also read (disguises undone,
    letter spacing closed up, base64 decoded), without repeats."""
    readings, squashed = views(text)
    out = [w for reading in readings for w in windows(reading)] + squashed
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Model:
    """Weights over the hashing space, a bias, and the score from which a text is flagged."""

    weights: np.ndarray
    bias: float
    threshold: float

    def passage_score(self, passage: str) -> float:
        """P(injection) of one passage."""
        index, values = passage_features(passage)
        return 1.0 / (1.0 + math.exp(-(float(np.dot(self.weights[index], values)) + self.bias)))

    def score(self, text: str) -> tuple[float, str]:
        """(P(injection) of `text`'s most suspicious window, that window); (0, "") when no window
        has MIN_LETTERS letters (a bare number or symbol says nothing to a judge: with almost no
        features the score is mostly the bias, and the answer "10" scored 0.99)."""
        worded = [p for p in passages(text) if len(_LETTER.findall(p)) >= MIN_LETTERS]
        scored = [(self.passage_score(p), p) for p in worded]
        return max(scored) if scored else (0.0, "")


def model() -> Model:
    """The model at MODEL_PATH (the shipped one unless a benchmark points it elsewhere), read once.

    Raises FileNotFoundError naming the file and how to rebuild it when it is missing."""
    return _load(MODEL_PATH)


@cache
def _load(path: Path) -> Model:
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: the injection classifier's weights are missing; rebuild them with "
            "`.venv/bin/python bench/injection_corpus.py --train` (needs ../shared/data)"
        )
    with np.load(path) as data:
        return Model(data["weights"].astype(np.float64), float(data["bias"]), float(data["threshold"]))


def classify(text: str) -> tuple[float, str] | None:
    """(score, the window that scored it) when `text` reaches the shipped model's threshold,
    else None."""
    current = model()
    score, window = current.score(text)
    return (score, window) if score >= current.threshold else None
