# ruff: noqa: RUF001, RUF003 -- the rules are written in other scripts on purpose
"""What the injection detector reads: a response's text with the disguises taken off.

An attacker who knows the detector's words writes them so that a person or a model still reads
them but a regular expression does not: full-width or mathematical letters (NFKC folds them),
zero-width characters inside words, invisible Unicode tag characters spelling ASCII, Cyrillic
or Greek look-alikes mixed into Latin words, digits for letters ("1gn0r3"), letters spaced out
("i g n o r e"), or the whole instruction in base64, HTML character references, URL escapes,
rot13 or written backwards (the last two only where the text says so, as a reader would need to
be told). `views` undoes each of these once and
returns every reading worth matching, so the rules (labeling/injection_rules.py) are written
once, for plain text.

Pure Python, no Django.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import re
import unicodedata
import urllib.parse

# Characters that render as nothing (or as a join) and split a word for a regex but not for a
# reader: zero-width space / joiners, soft hyphen, word joiner, bidi marks, variation selectors.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e001f\U000e007f-\U000e0fff]"
)
# Unicode tag characters U+E0020..U+E007E are invisible copies of ASCII ("ASCII smuggling"):
# a model's tokenizer still sees them, so they are read as the ASCII they copy.
_TAGS = {cp: cp - 0xE0000 for cp in range(0xE0020, 0xE007F)}

# Look-alikes of Latin letters (Unicode's confusables for the letters attackers use), applied
# only inside words that also hold a Latin letter, or consist only of look-alikes in mostly Latin
# text, so Russian or Greek text stays what it is for the rules written for it.
_CONFUSABLE = str.maketrans(
    "аеорсуxхіјѕԁһԛԝӏАВЕКМНОРСТХУІЈЅԜαβεικνορτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧɑɡıȷℓᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ",
    "aeopcyxxijsdhqwlABEKMHOPCTXYIJSWabeiknoptuxABEZHIKMNOPTYXagijlabcdefghijklmnoprstuvwyz",
)
_LATIN = re.compile(r"[A-Za-z]")
_NON_LATIN = re.compile(r"[\u0370-\u03ff\u0400-\u04ff]")
_WORD = re.compile(r"[^\W\d_]*[^\W\d_a-zA-Z][^\W\d_]*")
_LOOKALIKES = frozenset(
    "аеорсуxхіјѕԁһԛԝӏАВЕКМНОРСТХУІЈЅԜαβεικνορτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧɑɡıȷℓᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ"
)

# Look-alikes whose mere presence in a Latin word is a signal: not the dotless `ı`, a letter of
# Turkish and Azerbaijani words ("ışık"). `normalize` still reads it as `i` for the rules.
_MIXED_SIGNAL = _LOOKALIKES - {"ı"}

# Digits and symbols for letters, read only in words that mix them with letters ("ch00se").
_LEET = str.maketrans("013457@$", "oieastas")
_LEET_WORD = re.compile(r"\b(?=[A-Za-z@$]*[0-9@$])(?=[0-9@$]*[A-Za-z])[A-Za-z0-9@$]{3,}\b")

# Two or more single letters (any script) each joined to the next by one separator: "i g n o r e",
# "c-h-o-o-s-e", "p.i.c.k m.e". Words stay apart where the writer left two spaces between them.
_SPACED = re.compile(r"(?<![^\W_])(?:[^\W_][ .\-_*·•|/])+[^\W_](?![^\W_])")
# The same across the wider gaps left between spaced words, for the squashed reading.
_SPACED_PHRASE = re.compile(r"(?<![^\W_])(?:[^\W_][ .\-_*·•|/]{1,3})+[^\W_](?![^\W_])")
_SEPARATORS = re.compile(r"[ .\-_*·•|/]")
# Whether _SPACED matches anywhere, found from the separator (a character class the regular
# expression engine skips ahead to) rather than from a lookbehind tried at every position: three
# times faster. Any match of _SPACED ends with a lone letter (or digit), a separator and a letter
# no other follows, which is what this finds: the same texts (tests/labeling/test_injection_speed.py).
_SPACED_ANY = re.compile(r"[ .\-_*·•|/](?<=[^\W_].)(?<![^\W_]..)[^\W_](?![^\W_])")
# A leet word needs one of these; most responses have none, and a class search is fast.
_LEET_SIGN = re.compile(r"[0-9@$]")

# A base64 run long enough to hold a sentence; decoded and read too when it is text.
_BASE64_SHORTEST = 24
_BASE64 = re.compile(rf"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{{{_BASE64_SHORTEST},}}={{0,2}}(?![A-Za-z0-9+/=])")


# Encodings a model reads through: three or more character references ("&#105;gnore"), three or
# more URL escapes ("ignore%20the%20rubric"); rot13 and reversed text only when named, since any
# text has a rot13 and a reversed reading.
_ENTITIES = re.compile(r"(?:&#x?[0-9a-f]+;|&[a-z]+;)(?:.{0,40}?(?:&#x?[0-9a-f]+;|&[a-z]+;)){2}", re.I | re.S)
_ESCAPES = re.compile(r"(?:%[0-9a-f]{2}.{0,20}?){3}", re.I | re.S)
_ROT13 = re.compile(r"rot[\s_-]?13|caesar", re.I)
_REVERSED = re.compile(r"backwards?|revers|right[\s-]to[\s-]left|\bdrawkcab\b|\besrever", re.I)


# Words one of which each match of _ROT13 / _REVERSED holds, lowercased: in ASCII text (where
# ignoring case is lowercasing) without any of them, those case-blind searches, slow on every
# response, cannot match.
_ROT13_WORDS = ("rot", "caesar")
_REVERSED_WORDS = ("backward", "revers", "right", "drawkcab", "esrever")


def _decoded(text: str) -> list[str]:
    """The readings of `text` through each encoding it shows signs of, where they differ."""
    out = []
    if "&" in text and _ENTITIES.search(text):
        out.append(html.unescape(text))
    if "%" in text and _ESCAPES.search(text):
        out.append(urllib.parse.unquote(text))
    lowered = text.lower() if text.isascii() else None
    if _may_match(lowered, _ROT13_WORDS) and _ROT13.search(text):
        out.append(codecs.encode(text, "rot13"))
    if _may_match(lowered, _REVERSED_WORDS) and _REVERSED.search(text):
        out.append(text[::-1])
    return [d for d in out if d != text]


def _may_match(lowered: str | None, words: tuple[str, ...]) -> bool:
    """False when `lowered` (an ASCII text lowercased; None for other text) holds none of `words`."""
    return lowered is None or any(word in lowered for word in words)


def _confusables(text: str) -> str:
    # A word made only of look-alikes ("сhооsе" in Cyrillic) is read as Latin where the text is
    # mostly Latin; in Russian text "Не" stays Russian.
    latin_text = len(_LATIN.findall(text)) > len(_NON_LATIN.findall(text))

    def latinize(match: re.Match[str]) -> str:
        word = match.group(0)
        if _LATIN.search(word) or (latin_text and all(ch in _LOOKALIKES for ch in word)):
            return word.translate(_CONFUSABLE)
        return word

    return _WORD.sub(latinize, text)


# Letters inside a word split by an invisible character ("ig\u200bnore"); soft hyphens are left
# out, as text copied from the web has them legitimately.
_SPLIT_WORD = re.compile("[^\\W\\d_][\u200b-\u200d\u2060\u2062-\u2064\ufeff]+(?=[^\\W\\d_])")
_TAG_CHARACTER = re.compile("[\U000e0000-\U000e007f]")


def disguise(text: str) -> str | None:
    """What in `text` is disguised, when it is (None otherwise): two or more words mixing Latin
    letters with look-alikes, two or more words split by invisible characters, or any invisible
    tag character. Ordinary text has none of these, so they are a signal on their own, whatever
    the disguised words say."""
    if text.isascii():
        return None
    if _TAG_CHARACTER.search(text):
        return "invisible tag characters"
    split = _SPLIT_WORD.findall(text)
    if len(split) >= 2:
        return f"{len(split)} words split by invisible characters"
    folded = unicodedata.normalize("NFKC", text)
    mixed = [w for w in _WORD.findall(folded) if _LATIN.search(w) and any(ch in _MIXED_SIGNAL for ch in w)]
    if len(mixed) >= 2:
        return f"{len(mixed)} words mixing Latin and look-alike letters, e.g. {mixed[0]!r}"
    return None


def normalize(text: str) -> str:
    """`text` folded (NFKC), without invisible characters, tag characters read as ASCII and
    look-alike letters mapped to Latin inside Latin words. Plain ASCII comes back unchanged."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKC", text).translate(_TAGS)
    text = _INVISIBLE.sub("", text)
    return _confusables(text)


def _decoded_base64(text: str) -> list[str]:
    out: list[str] = []
    # A run long enough has no whitespace: text without a chunk that long has none (faster than
    # the regular expression's search on ordinary text).
    if max(map(len, text.split()), default=0) < _BASE64_SHORTEST:
        return out
    for match in _BASE64.finditer(text):
        blob = match.group(0)
        try:
            decoded = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        if decoded.isprintable() and " " in decoded:
            out.append(decoded)
    return out


def views(text: str) -> tuple[list[str], list[str]]:
    """(readings of `text` to match the rules on, letter-spaced runs with the spaces removed).

    The first reading is `normalize(text)`; others are added only where they differ: digits read
    as letters, letter spacing closed up, accents dropped, base64 runs decoded, character
    references and URL escapes decoded, rot13 and reversed text read where the text names them.
    The runs of the second list have no word boundaries left, so they are matched by the rules
    written for that (injection_rules.SQUASHED)."""
    base = normalize(text)
    readings = [base]
    if _LEET_SIGN.search(base):
        leet = _LEET_WORD.sub(lambda m: m.group(0).lower().translate(_LEET), base)
        if leet != base:
            readings.append(leet)
    squashed = []
    if _SPACED_ANY.search(base):
        readings.append(_SPACED.sub(lambda m: _SEPARATORS.sub("", m.group(0)), base))
        squashed = [_SEPARATORS.sub("", m.group(0)) for m in _SPACED_PHRASE.finditer(base)]
        squashed = [s for s in squashed if len(s) >= 6]
    if not base.isascii():
        # Accents dropped ("Ignórez" -> "Ignorez"), for rules of languages written with them.
        plain = "".join(ch for ch in unicodedata.normalize("NFKD", base) if not unicodedata.combining(ch))
        if plain != base:
            readings.append(unicodedata.normalize("NFC", plain))
    readings += [normalize(d) for d in _decoded_base64(base)]
    readings += [normalize(d) for d in _decoded(base)]
    return readings, squashed
