"""Plain records that flow between the pure packages and the platform.

An importer turns a file into `ImportRow`s; the platform maps them to database rows. Nothing
here knows about Django. Choices are always in the pair's own terms (`a` = `response_a`),
whatever order the responses were shown in; `p_first` is the probability that the
*first-shown* response is better, so it only means something together with `order`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum

import orjson

_json_string = json.encoder.encode_basestring  # a str as json.dumps(ensure_ascii=False) writes it


class Choice(StrEnum):
    A = "a"
    B = "b"
    TIE = "tie"


class Order(StrEnum):
    """Presentation order: `ab` shows response_a first, `ba` shows response_b first."""

    AB = "ab"
    BA = "ba"


class VerdictStatus(StrEnum):
    OK = "ok"
    UNPARSABLE = "unparsable"
    ERROR = "error"


@dataclass(frozen=True)
class PairRecord:
    prompt: str
    response_a: str
    response_b: str
    model_a: str = ""
    model_b: str = ""
    category: str = ""
    external_id: str = ""
    metadata: dict = field(default_factory=dict)

    def content_hash(self) -> str:
        """Identity of the pair inside a project: its texts and, where known, the models.

        Two models that happen to write the same text are still two pairs (MT-Bench has such
        items), so the model names are part of the identity; metadata and category are not.
        """
        texts = (self.prompt, self.response_a, self.response_b, self.model_a, self.model_b)
        # The stored hashes' definition is json.dumps(list(texts), ensure_ascii=False,
        # separators=(",", ":")) in UTF-8. orjson writes exactly those bytes (the same escapes,
        # tests hold it to that) 4x faster: this was a fifth of a large import's reader CPU.
        # It refuses what that definition cannot encode either (a lone surrogate): the standard
        # library's path then raises, as before.
        try:
            key = orjson.dumps(texts)
        except TypeError:
            key = ("[" + ",".join(map(_json_string, texts)) + "]").encode("utf-8")
        return hashlib.sha256(key).hexdigest()


@dataclass(frozen=True)
class HumanVote:
    """One human's preference on a pair, as recorded by some data set or annotation tool."""

    annotator: str
    choice: Choice
    rationale: str = ""


@dataclass(frozen=True)
class RecordedVerdict:
    """A verdict some judge already gave (replayed, never re-computed).

    `choice` is None exactly when `status` is not OK.
    """

    judge: str
    order: Order
    status: VerdictStatus
    choice: Choice | None
    p_first: float | None
    rationale: str = ""
    model: str = ""
    template: str = ""
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Location:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class ImportRow:
    location: Location
    pair: PairRecord
    votes: tuple[HumanVote, ...] = ()
    verdicts: tuple[RecordedVerdict, ...] = ()
    gold: Choice | None = None  # a gold item's known answer (the pairs format's `gold`; core.gold)


def hard_p_first(choice: Choice | None, order: Order) -> float | None:
    """The probability a hard verdict implies for the first-shown response (1, 0 or 0.5)."""
    if choice is None:
        return None
    if choice is Choice.TIE:
        return 0.5
    first = Choice.A if order is Order.AB else Choice.B
    return 1.0 if choice is first else 0.0
