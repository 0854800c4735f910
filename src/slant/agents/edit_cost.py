"""PRELUDE's edit cost (Gao et al., 2024): the word-level Levenshtein distance between the agent's
draft and the user's edited text over Penn-Treebank-style tokens, summed over the rounds.

PRELUDE tokenises with NLTK's ``word_tokenize`` (release 3.8, of the paper's time): Punkt sentence
splitting, then per sentence the Treebank conventions (punctuation, brackets and clitics such as "n't"
and "'s" are tokens of their own, straight double quotes become `` and '', only a sentence's final
period is split off; 3.9 and later also split a leading single quote and dashes). This module
writes those conventions out without NLTK and its downloaded Punkt model; the sentence split is a
rule (a token ending in . ! or ? ends a sentence unless it is a common abbreviation or an initial),
which agrees with Punkt on ordinary prose but not on every abbreviation Punkt learned. slant's own,
length-normalised distance is ``components.word_edit_distance``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from slant.agents.components import levenshtein

# Abbreviations after which a period does not end a sentence (lower case, without the final period):
# common ones that Punkt's English model also treats as abbreviations.
ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "jr", "sr", "st", "vs", "inc", "ltd", "co", "corp", "gen", "sen"}
    | {"rep", "lt", "col", "maj", "jan", "feb", "aug", "sep", "sept", "oct", "nov", "dec"}
    | {"a.m", "p.m", "u.s", "u.k", "ph.d"}
)

_SENTENCE_END = re.compile(r"(\S*?[.!?]+[\"')\]}»”’]*)(\s+)")

# Per-sentence rules, applied in order (pattern, replacement).
_OPENING = [
    (re.compile(r"([«“‘„]|`+)"), r" \1 "),
    (re.compile(r'^"'), "``"),
    (re.compile(r"(``)"), r" \1 "),
    (re.compile(r"([ (\[{<])(\"|'{2})"), r"\1 `` "),
]
_PUNCTUATION = [
    (re.compile(r"([^.])(\.)([\]\)}>\"'»”’ ]*)\s*$"), r"\1 \2 \3 "),
    (re.compile(r"([:,])([^\d])"), r" \1 \2"),
    (re.compile(r"([:,])$"), r" \1 "),
    (re.compile(r"\.{2,}"), r" \g<0> "),
    (re.compile(r"[;@#$%&]"), r" \g<0> "),
    (re.compile(r"([^.])(\.)([\]\)}>\"']*)\s*$"), r"\1 \2\3 "),
    (re.compile(r"[?!]"), r" \g<0> "),
    (re.compile(r"([^'])' "), r"\1 ' "),
    (re.compile(r"\*"), r" \g<0> "),
    (re.compile(r"[\]\[(){}<>]"), r" \g<0> "),
    (re.compile(r"--"), r" -- "),
]
_CLOSING = [
    (re.compile(r"([»”’])"), r" \1 "),
    (re.compile(r"''"), " '' "),
    (re.compile(r'"'), " '' "),
    (re.compile(r"\s+"), " "),
    (re.compile(r"([^' ])('[sS]|'[mM]|'[dD]|') "), r"\1 \2 "),
    (re.compile(r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), r"\1 \2 "),
    (re.compile(r"(?i)\b(can)(not)\b"), r" \1 \2 "),
    (re.compile(r"(?i)\b(gon|got|wan)(na|ta)\s"), r" \1 \2 "),
    (re.compile(r"(?i)\b(gim|lem)(me)\b"), r" \1 \2 "),
    (re.compile(r"(?i)\b(d)('ye)\b"), r" \1 \2 "),
    (re.compile(r"(?i)\b(more)('n)\b"), r" \1 \2 "),
]


def _ends_sentence(token: str) -> bool:
    """A token ending in . ! or ? ends its sentence unless it is an abbreviation or an initial."""
    core = token.rstrip("\"')]}»”’")
    if not core.endswith("."):
        return core.endswith(("!", "?"))
    stem = core[:-1].lower().lstrip("\"'([{«“‘")
    return not (stem in ABBREVIATIONS or re.fullmatch(r"[a-z]", stem))


def sentences(text: str) -> list[str]:
    """The text split after each sentence-ending token."""
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        if _ends_sentence(m.group(1)):
            out.append(text[start : m.end(1)])
            start = m.end()
    out.append(text[start:])
    return [s for s in out if s.strip()]


def _apply(rules: Iterable[tuple[re.Pattern[str], str]], text: str) -> str:
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


def treebank_words(text: str) -> list[str]:
    """Penn-Treebank-style word tokens of a text, sentence by sentence (as PRELUDE's word_tokenize)."""
    tokens: list[str] = []
    for sentence in sentences(text):
        padded = " " + _apply(_PUNCTUATION, _apply(_OPENING, sentence)) + " "
        tokens += _apply(_CLOSING, padded).split()
    return tokens


def edit_cost(draft: str, edited: str) -> int:
    """PRELUDE's cost of one round: word-level edit distance between the draft and the user's text."""
    return levenshtein(treebank_words(draft), treebank_words(edited))


def cumulative_edit_cost(pairs: Iterable[tuple[str, str]]) -> int:
    """PRELUDE's reported cost: the sum of ``edit_cost`` over the rounds (draft, user's text)."""
    return sum(edit_cost(d, e) for d, e in pairs)
