"""Text normalisation before anything reads user text.

`clean_text` is what every input gets: invisible characters (zero-width spaces and joiners, soft hyphens,
byte-order marks, control characters) removed, so "\u200b" alone is no message and NUL bytes reach no model.

`screening_form` is what the safety screens read. It undoes the tricks people use, on purpose or not, to write
a word a filter would catch: compatibility forms (fullwidth letters, ligatures) by Unicode NFKC, accents,
Cyrillic and Greek letters that look Latin, leetspeak inside words ("k1ll", "su1c1de"), letters spread out
("k i l l", "s.u.i.c.i.d.e", "my self"), letters held ("dieeee"), and the abbreviations of self-harm talk
("kms", "kys", "unalive", "sh"). The result is lower case; it is for matching and classifying, never shown.
"""

from __future__ import annotations

import re
import unicodedata

_KEEP_CONTROL = {"\n", "\t", "\r"}


def clean_text(text: str) -> str:
    """`text` without invisible format characters (Unicode Cf) and controls (Cc) other than tab and newlines."""
    return "".join(ch for ch in text if ch in _KEEP_CONTROL or unicodedata.category(ch) not in ("Cf", "Cc"))


# Letters of other scripts drawn like Latin ones (Unicode's confusables, the ones seen in evasions).
_CONFUSABLES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
        "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w",
        "һ": "h", "ӏ": "l", "ɡ": "g", "ѵ": "v", "ь": "b", "ո": "n", "ս": "u",
        # Greek
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
        "υ": "u", "χ": "x", "γ": "y", "ω": "w", "ϲ": "c", "ϳ": "j",
    }
)  # fmt: skip
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l", "€": "e"})  # fmt: skip
_LEET_WORD = re.compile(r"[a-z0-9@$!|€]*[0-9@$!|€][a-z0-9@$!|€]*")
_UNIT = re.compile(r"\d+[a-z]{0,3}")  # 50mg, 10pm, 3rd: numbers, not leetspeak
_TRAILING = re.compile(r"[.,!?;:)\]\"']+$")
_SPREAD = re.compile(r"(?<![\w@$])(?:[a-z0-9@$][ .\-_*]{1,2}){2,}[a-z0-9@$](?![\w@$])")
_HELD = re.compile(r"([a-z])\1{2,}")
_SPLIT_SELF = re.compile(r"\b(my|your|him|her|them|our)\s+(self|selves)\b")
_ABBREVIATIONS = [
    (re.compile(p), r)
    for p, r in [
        (r"\bkms\b", "kill myself"),
        (r"\bkys\b", "kill yourself"),
        (r"\bun\s*alive\b", "kill"),
        (r"\bun\s*aliving\b", "killing"),
        (r"\bun\s*alived\b", "killed"),
        (r"\bsewer\s*slid(e|ing)\b", "suicide"),
        (r"\bsooicide\b|\bsuicid\b|\bsuiside\b|\bsuicde\b", "suicide"),
        (r"\bctb\b", "suicide"),
        (r"\bsh\b", "self harm"),
        (r"\bself[\s\-]*harm", "self harm"),
        (r"\bod(?:'?d|ing)?\b", "overdose"),
        (r"\bpro[\s\-]*ana\b", "pro anorexia"),
        (r"\bpro[\s\-]*mia\b", "pro bulimia"),
    ]
]


def _has_latin(text: str) -> bool:
    return any("a" <= ch <= "z" for ch in text)


def _unconfuse(word: str, latin_text: bool) -> str:
    """Map look-alike letters inside words that mix them with Latin letters, or that consist of them alone in a
    text written in Latin letters (a Russian "как" in Russian text stays as it is)."""
    mapped = word.translate(_CONFUSABLES)
    all_confusable = all(not ch.isalpha() or "a" <= m <= "z" for ch, m in zip(word, mapped, strict=True))
    return mapped if _has_latin(word) or (latin_text and all_confusable) else word


def _unleet(word: str) -> str:
    trailing = _TRAILING.search(word)
    core, tail = (word[: trailing.start()], trailing.group(0)) if trailing else (word, "")
    if (
        _UNIT.fullmatch(core)
        or len(core) < 2
        or not any(ch.isalpha() for ch in core)
        or not _LEET_WORD.fullmatch(core)
    ):
        return word
    return core.translate(_LEET) + tail


def screening_form(text: str) -> str:
    """The lower-case form of `text` the safety screens read (see the module's description)."""
    text = unicodedata.normalize("NFKC", clean_text(text))
    # accents off: decompose and drop combining marks ("kíll" -> "kill")
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    text = text.casefold().replace("’", "'").replace("‘", "'")
    latin_text = _has_latin(text)
    text = "".join(_unconfuse(word, latin_text) for word in re.split(r"(\s+)", text))
    text = _SPREAD.sub(lambda m: re.sub(r"[ .\-_*]", "", m.group(0)), text)  # letters spread out, first
    text = "".join(_unleet(word) for word in re.split(r"(\s+)", text))
    text = _HELD.sub(r"\1", text)
    text = _SPLIT_SELF.sub(r"\1\2", text)
    for pattern, replacement in _ABBREVIATIONS:
        text = pattern.sub(replacement, text)
    return re.sub(r"\s+", " ", text).strip()
