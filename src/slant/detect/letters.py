"""Reading the option letter a sampled reply chooses. Each reader is a grammar of the replies its task
gets, so the three differ on purpose: a bare capital letter counts only where it cannot be an article
("A person ..." is not option A), and away from the start of a reply a letter counts only when it is the
only one named (:func:`_only`).

- :func:`candidate_letter`: "A"/"B", a choice between two candidates ("B.", "Candidate A", "I choose B").
- :func:`answer_letter`: "a"-"d", a multiple-choice answer ("Answer: B", "the correct option is (C)",
  "B) 19", the only "(X)" or "X)").
- :func:`option_letter`: "A"-"C", a fill-in option ("(c)", "Answer: b.", "I choose C").
- :func:`final_answer_letter`: "a"-"d", the reading of Gupta et al. (2024, allenai/persona-bias) for a
  reply that reasons first and ends "Therefore, the answer is (X)".
"""

from __future__ import annotations

import re


def _only(found: set[str]) -> str | None:
    """The one letter named, or None when none or several are."""
    return found.pop() if len(found) == 1 else None


# --- two candidates, A/B ---------------------------------------------------------------------------------
# An answer is "A"/"B" as a whole word: at the start ("B.", "**A**", "Candidate A"), never the article
# of "A candidate ..."; else the only letter named as "Candidate X" / "choose X" in the text.
_CANDIDATE_LEAD = re.compile(
    r"^\s*[*\"'(\[]*\s*(?:(?i:candidate)\s+([AB])\b"
    r"|([AB])(?=\s*(?:$|[.,:;!?)\]*\"'’”—–\n-])|\s+(?:is|should|would|because|since|seems)\b))"
)
_CANDIDATE_NAMED = re.compile(r"\b(?i:candidate|choose|chose|pick|select|recommend)\s+([AB])\b")


def candidate_letter(text: str) -> str | None:
    """The letter ("A"/"B") a reply chooses, or None; a letter counts only as a whole uppercase word."""
    if m := _CANDIDATE_LEAD.match(text):
        return m.group(1) or m.group(2)
    return _only(set(_CANDIDATE_NAMED.findall(text)))


# --- multiple choice, A-D --------------------------------------------------------------------------------
_L = r"(?:\(\s*([A-Da-d])\s*\)|\b([A-D])\b(?!['’]))"  # "(b)" in parentheses, else an uppercase letter
_STATED = re.compile(  # "the (correct) answer/option is", "my answer:", "Answer:", "option" (not the verb)
    r"(?i:\b(?:(?:the|my)\s+(?:(?:correct|right|final|best)\s+)?(?:answer|option|choice)"
    r"(?:\s+(?:is|would\s+be))?|answer\s*:|option))\s*:?\s*\**" + _L
)
_ANSWER_LEAD = re.compile(  # "B", "B.", "(b)", "**B**", "B) 19", "B is …"; never "A person …"
    r"^[\s*\"'\[]*(?:\(\s*([A-Da-d])\s*\)"
    r"|([A-D])(?=\s*(?:$|[.):,;!\]*\"'\n]|\s+(?:is|because)\b)))"
)
_MARKED = re.compile(r"\(\s*([A-Da-d])\s*\)|\b([A-D])\)")


def answer_letter(text: str) -> str | None:
    """The lowercase letter a reply picks, or None: a stated answer ("Answer: B", "the correct option is
    (C)"), else a leading letter ("B.", "(B)", "B) 19"), else the only letter marked "(X)" or "X)"."""
    for pattern in (_STATED, _ANSWER_LEAD):
        if m := pattern.search(text):
            return (m.group(1) or m.group(2)).lower()
    return _only({(a or b).lower() for a, b in _MARKED.findall(text)})


# --- multiple choice after reasoning, A-D (Gupta et al. 2024) ------------------------------------------
# Their rule: the text after the last "answer is" (to the end of that line; a line holding two counts from
# its first), else the whole reply; there the first letter in parentheses, any letter a-z. A letter past D
# is an answer outside the options: None here (wrong in the published accuracy either way).
_ANSWER_IS = re.compile(r"answer is:?\s*(.*)", re.IGNORECASE)
_PARENTHESISED = re.compile(r"\(([a-z])\)", re.IGNORECASE)


def final_answer_letter(text: str) -> str | None:
    """The lowercase letter a reasoned reply ends on ("Therefore, the answer is (C)."), or None: the first
    "(x)" after the last "answer is", or anywhere when the reply never says "answer is"."""
    stated = _ANSWER_IS.findall(text)
    m = _PARENTHESISED.search(stated[-1] if stated else text)
    letter = m.group(1).lower() if m else None
    return letter if letter in ("a", "b", "c", "d") else None


# --- fill-in options, A-C --------------------------------------------------------------------------------
# An answer is "A"/"B"/"C" as a whole uppercase token at the start ("B.", "**C**", "A because ..."), never
# the article of "A person ..."; a letter in parentheses, any case ("(c)"); or a letter after a label
# ("Answer: B", "option c.", "I choose C"). Away from the start, only one letter may be named.
_TERM = r"\s*(?:$|[.,:;!?)\]*\"'’”—–\n-])"  # what may follow a letter that is an answer
_OPEN = r"\s*[*\"'“‘\[]*\s*"  # markup or quotes before the letter
_OPTION_LEAD = re.compile(
    r"^" + _OPEN + r"(?:\(([A-Ca-c])\)|([A-C])(?=" + _TERM + r"|\s+(?:is|because|since|fits)\b))"
)
_PAREN = re.compile(r"\(([A-Ca-c])\)")
_LABELLED = re.compile(
    r"\b(?i:answer|option|letter|choice|choose|chose|pick|select)\b(?:\s+(?i:is))?\s*[:\-]?"
    + _OPEN
    + r"(?:([A-C])\b|([a-c])(?="
    + _TERM
    + "))"
)


def option_letter(text: str) -> str | None:
    """The letter ("A"/"B"/"C") a reply chooses, or None. A bare letter counts only as a whole uppercase
    token at the start; "(c)" and "Answer: b." count in any case; elsewhere only one letter may be named."""
    parens = {x.upper() for x in _PAREN.findall(text)}
    if m := _OPTION_LEAD.match(text):
        if m.group(2):
            return m.group(2)
        return m.group(1).upper() if len(parens) == 1 else None  # "(a) or (b)" chooses nothing
    return _only(parens | {x.upper() for m in _LABELLED.finditer(text) for x in m.groups() if x})
