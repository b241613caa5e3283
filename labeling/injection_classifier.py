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
from collections.abc import Callable
from dataclasses import dataclass, field
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


def passage_features(passage: str) -> tuple[np.ndarray, np.ndarray]:
    """(feature indices, values) of one passage: character 2-5-grams of the lowercased text with
    whitespace runs as one space, and word 1-2-grams (punctuation counts as a word), each block
    L2-normalized; an index may repeat (its values add up).

    Hashed with numpy and crc32 rather than scikit-learn's HashingVectorizer: five times faster
    per passage, which keeps the classifier usable at routing, and the same in every process."""
    _, index, values = batch_features([passage])
    return index, values


def batch_features(passages: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(passage number, feature index, value) of every feature of `passages` (passage_features'
    features, each passage's character block then its word block, ordered by index within a block).

    One numpy pass over all passages at once: scored a passage at a time, the fixed cost of each
    numpy call was most of routing's injection scan (bench: h1 in README's benchmarks)."""
    texts = _prepared(passages)
    # Keys of under 32 bits sort twice as fast: a small batch's group numbers leave room for them.
    dtype = np.uint32 if 2 * len(texts) <= 1 << (32 - int(_BUCKET_BITS)) else np.uint64
    keys = np.sort(np.concatenate([*_char_keys(texts), *_word_keys(texts)]).astype(dtype))
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    unique = keys[starts].astype(np.uint64)
    counts = np.diff(np.append(starts, len(keys))).astype(np.float64)
    group = (unique >> _BUCKET_BITS).astype(np.int64)  # 2 * passage number + block (0 chars, 1 words)
    norms = np.sqrt(np.bincount(group, counts * counts))
    return group >> 1, (unique & _BUCKET_MASK).astype(np.int64), counts / norms[group]


def _prepared(passages: list[str]) -> list[str]:
    """Each passage lowercased, whitespace runs as one space, a space at either end."""
    return [" " + " ".join(p.lower().split()) + " " for p in passages]


def logit_bounds(passages: list[str], lookup: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """An upper bound of each passage's logit less the bias (`lookup`: the weights at given
    feature indices), without the sort
    that batch_features needs to count repeated features (most of the classifier's time).

    A block's term is S / ||c||, with S = sum of w * c over its features (the weights summed over
    every n-gram as found, repeats included) and c the counts; since every count is at least 1,
    N <= ||c||^2 <= N^2 with N = sum of c (the n-grams found), so the term is at most S / sqrt(N)
    when S > 0 and S / N otherwise. On ordinary text almost every window's bound is below the
    threshold, and only the others need their exact score."""
    texts = _prepared(passages)
    keys = np.concatenate([*_char_keys(texts), *_word_keys(texts)])
    group = (keys >> _BUCKET_BITS).astype(np.int64)
    found = np.bincount(group, minlength=2 * len(texts)).astype(np.float64)
    total = np.bincount(group, lookup((keys & _BUCKET_MASK).astype(np.int64)), minlength=2 * len(texts))
    found = np.maximum(found, 1.0)  # a block without n-grams adds 0 either way
    term = np.where(total > 0, total / np.sqrt(found), total / found)
    return term[0::2] + term[1::2]


_BUCKET_BITS = np.uint64(N_FEATURES.bit_length() - 1)
_BUCKET_MASK = np.uint64(N_FEATURES - 1)


def _keyed(hashes: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Each n-gram hash's feature bucket (Fibonacci hashing), tagged with its group's number above
    the bucket bits, so one np.unique counts every passage's block apart."""
    return (group.astype(np.uint64) << _BUCKET_BITS) | ((hashes * _MIX) >> _SHIFT)


def _char_keys(texts: list[str]) -> list[np.ndarray]:
    """The keyed character 2-5-grams of `texts`: rolled over the texts joined, keeping only the
    n-grams that end inside the text they start in."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    owner = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    ends = np.repeat(np.cumsum(lengths), lengths)  # where each position's text ends
    starts = np.arange(len(codes), dtype=np.int64)
    out, rolling = [], codes
    for n in range(2, 6):
        rolling = rolling[:-1] * _MUL + codes[n - 1 :]
        inside = starts[: len(rolling)] + n <= ends[: len(rolling)]
        out.append(_keyed(rolling[inside], 2 * owner[: len(rolling)][inside]))
    return out


def _word_keys(texts: list[str]) -> list[np.ndarray]:
    """The keyed word 1-2-grams of `texts` (crc32 of each token; a bigram stays inside its text)."""
    per_text = [_TOKEN.findall(text) for text in texts]
    flat = [token for found in per_text for token in found]
    crc = {token: zlib.crc32(token.encode("utf-8")) for token in set(flat)}  # words repeat: hash each once
    tokens = np.fromiter(map(crc.__getitem__, flat), dtype=np.uint64, count=len(flat)) + _WORD_SALT
    owner = np.repeat(np.arange(len(texts), dtype=np.int64), [len(found) for found in per_text])
    same = owner[:-1] == owner[1:]
    bigrams = (tokens[:-1] * _MUL + tokens[1:])[same]
    return [_keyed(tokens, 2 * owner + 1), _keyed(bigrams, 2 * owner[:-1][same] + 1)]


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
MIN_LETTERS = 4  # windows with fewer letters are left to the rules
# MIN_LETTERS letters (any script: CJK has no spaces to count words by), found without listing all.
_WORDED = re.compile(rf"[^\W\d_](?:[\W\d_]*[^\W\d_]){{{MIN_LETTERS - 1}}}")
# Characters of passages scored in one numpy pass: a few responses' windows. Larger batches are
# slower (np.unique sorts: a long array sorts at half the speed per key of a short one).
BATCH_CHARS = 4_000
# Bounds need no sort, so larger batches only save numpy calls.
BOUND_BATCH_CHARS = 8_000


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


def passages(text: str, read: tuple[list[str], list[str]] | None = None) -> list[str]:
    """The windows of every reading of `text` that the rules also read (disguises undone,
    letter spacing closed up, base64 decoded), without repeats. `read`: `views(text)`, when the
    caller has it already."""
    readings, squashed = read or views(text)
    out = [w for reading in readings for w in windows(reading)] + squashed
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Model:
    """Weights over the hashing space, a bias, and the score from which a text is flagged."""

    weights: np.ndarray
    bias: float
    threshold: float
    # The weights as float32 where that loses nothing (the shipped ones are stored so): half the
    # memory, so a lookup stays in the cache; ten times faster, and the same numbers once widened.
    compact: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        narrow = self.weights.astype(np.float32)
        exact = np.array_equal(narrow.astype(np.float64), self.weights)
        object.__setattr__(self, "compact", narrow if exact else self.weights)

    def lookup(self, index: np.ndarray) -> np.ndarray:
        """The weights at `index`, as float64."""
        return self.compact[index].astype(np.float64)

    def passage_score(self, passage: str) -> float:
        """P(injection) of one passage."""
        return float(self.passage_scores([passage])[0])

    def passage_scores(self, passages: list[str]) -> np.ndarray:
        """P(injection) of each passage, scored BATCH_CHARS characters' worth at a time."""
        return _batched(passages, BATCH_CHARS, self._batch_scores)

    def reaches_threshold(self, passages: list[str]) -> np.ndarray:
        """Whether each passage's score may reach the threshold (False: it certainly does not),
        from logit_bounds, with a margin far above the bound's rounding error."""
        if not 0.0 < self.threshold < 1.0:
            return np.ones(len(passages), dtype=bool)
        floor = math.log(self.threshold / (1.0 - self.threshold)) - self.bias - 1e-6
        return _batched(passages, BOUND_BATCH_CHARS, lambda batch: logit_bounds(batch, self.lookup)) >= floor

    def _batch_scores(self, passages: list[str]) -> np.ndarray:
        owner, index, values = batch_features(passages)
        logits = np.bincount(owner, self.lookup(index) * values, minlength=len(passages)) + self.bias
        return 1.0 / (1.0 + np.exp(-logits))

    def score(self, text: str) -> tuple[float, str]:
        """(P(injection) of `text`'s most suspicious window, that window); (0, "") when no window
        has MIN_LETTERS letters (a bare number or symbol says nothing to a judge: with almost no
        features the score is mostly the bias, and the answer "10" scored 0.99)."""
        return self.scores([text])[0]

    def scores(self, texts: list[str], read: list | None = None) -> list[tuple[float, str]]:
        """`score` of each text, their windows scored together (passage_scores); `read`: each
        text's `views`, when the caller has them."""
        worded = _worded(texts, read)
        flat = self.passage_scores([p for found in worded for p in found]).tolist()
        out, start = [], 0
        for found in worded:
            scored = list(zip(flat[start : start + len(found)], found, strict=True))
            start += len(found)
            out.append(max(scored) if scored else (0.0, ""))
        return out

    def flagged(self, texts: list[str], read: list | None = None) -> list[tuple[float, str] | None]:
        """`score` of each text where it reaches the threshold, else None: the same answers as
        thresholding `scores`, but only the windows that may reach it (reaches_threshold) are
        scored exactly; the others score below the threshold, so none of them is the maximum
        of a flagged text."""
        worded = _worded(texts, read)
        flat = [p for found in worded for p in found]
        maybe = [p for p, keep in zip(flat, self.reaches_threshold(flat).tolist(), strict=True) if keep]
        exact = dict(zip(maybe, self.passage_scores(maybe).tolist(), strict=True))
        out: list[tuple[float, str] | None] = []
        for found in worded:
            best = max(((exact[p], p) for p in found if p in exact), default=None)
            out.append(best if best is not None and best[0] >= self.threshold else None)
        return out


def _worded(texts: list[str], read: list | None) -> list[list[str]]:
    """Each text's passages with MIN_LETTERS letters or more (the others are left to the rules)."""
    read = read or [None] * len(texts)
    return [
        [p for p in passages(text, seen) if _WORDED.search(p)] for text, seen in zip(texts, read, strict=True)
    ]


def _batched(passages: list[str], chars: int, score) -> np.ndarray:
    """`score` of `passages`, `chars` characters' worth at a time, concatenated."""
    out, batch, size = [], [], 0
    for passage in passages:
        batch.append(passage)
        size += len(passage)
        if size >= chars:
            out.append(score(batch))
            batch, size = [], 0
    if batch:
        out.append(score(batch))
    return np.concatenate(out) if out else np.zeros(0)


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
    return classify_many([text])[0]


def classify_many(texts: list[str], read: list | None = None) -> list[tuple[float, str] | None]:
    """`classify` of each text, scored together; `read`: each text's `views`, when known."""
    return model().flagged(texts, read)
