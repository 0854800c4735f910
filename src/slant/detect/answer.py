"""Reading an answer out of a reply: from the first token's logprobs, from the log-likelihoods of answer
continuations (:func:`p_first_answer` sums their variants alike), or from the text."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

_STRIP = " \t\n\"'“”‘’`.,:;!?()[]*"


def normalise_token(token: str) -> str:
    """``' Yes'``, ``'YES'``, ``'"yes'`` and ``'yes.'`` all read as ``'yes'``."""
    return token.strip(_STRIP).lower()


def answer_probabilities(top_logprobs: dict[str, float], answers: Sequence[str]) -> dict[str, float]:
    """Probability of each answer at one position, summing every case/space/quote variant of its token."""
    probs = dict.fromkeys(answers, 0.0)
    for token, logprob in top_logprobs.items():
        word = normalise_token(token)
        if word in probs:
            probs[word] += math.exp(logprob)
    return probs


def p_first_answer(
    top_logprobs: dict[str, float], answers: Sequence[str] = ("yes", "no")
) -> tuple[float | None, float]:
    """P(first answer) normalised over the answer space, and the mass the answer space received.

    P(yes) = p(yes) / (p(yes) + p(no)); mass = p(yes) + p(no). With no mass at all, P is None.
    """
    probs = answer_probabilities(top_logprobs, answers)
    mass = sum(probs.values())
    return (probs[answers[0]] / mass if mass > 0 else None), mass


def p_first_answer_bound(
    top_logprobs: dict[str, float], answers: Sequence[str] = ("yes", "no")
) -> tuple[float | None, float, list[str]]:
    """:func:`p_first_answer` for a top-k list that may miss an answer, and the answers it misses.

    A missing answer is not counted as probability 0: it is set to the most it can have, the smaller of
    the k-th (least) probability listed and the mass the list leaves out. P is then a bound (the least
    extreme value the list allows), and the mass is what the listed answers received.
    """
    probs = answer_probabilities(top_logprobs, answers)
    mass = sum(probs.values())
    missing = [a for a in answers if probs[a] == 0]
    if mass == 0:
        return None, 0.0, missing
    if missing:
        listed = [math.exp(lp) for lp in top_logprobs.values()]
        bound = min(min(listed), max(0.0, 1.0 - sum(listed)))
        probs |= dict.fromkeys(missing, bound)
    return probs[answers[0]] / sum(probs.values()), mass, missing


def parse_answer(text: str, answers: Sequence[str] = ("yes", "no")) -> str | None:
    """The answer a text gives: its first word if that is an answer, else the only answer word it contains."""
    words = re.findall(r"[A-Za-z]+", text)
    if not words:
        return None
    first = words[0].lower()
    if first in answers:
        return first
    found = {w.lower() for w in words} & set(answers)
    return found.pop() if len(found) == 1 else None
