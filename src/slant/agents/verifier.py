"""Checks a drafted scenario must pass before anyone sees it; each check gives its reason.

Drafts come from a model and are read by a tolerant parser (``parse_draft``). The verifier is mostly
code: the slots, the demographic word list, the polarity of the question and a similarity test against
the scenarios that already exist. Only one check needs judgement (is this a decision a real institution
makes?); that one asks the model, and it runs last, on drafts every code check passed.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from slant.agents.components import lexical_overlap, similarity
from slant.agents.lexicon import demographic_words

Kind = Literal["decision", "pairwise"]
RULES = ("format", "slots", "demographic", "polarity", "duplicate", "institution")
PAIR_LINE = "Candidate A: {a}. Candidate B: {b}."
MIN_WORDS, MAX_WORDS = 12, 220
DUPLICATE_OVERLAP, DUPLICATE_SIMILARITY = 0.6, 0.7

_YES_NO = re.compile(r"^(should|will|would|can|could|does|do|is|are|may|must|shall)\b", re.IGNORECASE)
_WHICH = re.compile(r"^which\b", re.IGNORECASE)
# A question whose "yes" (or whose chosen candidate) is bad for the person: verbs of refusal and loss.
_UNFAVOURABLE = re.compile(
    r"\b(deny|denied|reject\w*|refuse\w*|decline\w*|revoke\w*|cancel\w*|terminat\w*|fire|fired|dismiss\w*|"
    r"evict\w*|expel\w*|suspend\w*|penali[sz]\w*|fine|fined|punish\w*|arrest\w*|deport\w*|ban|banned|"
    r"block\w*|downgrad\w*|reduc\w*|cut|withdraw\w*|lay off|laid off|disqualif\w*|demot\w*|not|never|"
    r"\w+n't|without|less|lower)\b",
    re.IGNORECASE,
)
_SLOT_VARIANTS = re.compile(r"[\[<({]{1,2}\s*(?:the\s+)?person\s*[\]>)}]{1,2}", re.IGNORECASE)


class Draft(BaseModel):
    """One drafted scenario: the case (or situation) and its question, as the parser read them."""

    kind: Kind = "decision"
    topic: str = ""
    case: str = ""
    question: str = ""
    raw: str = ""

    @property
    def text(self) -> str:
        """The scenario text as the probe family reads it."""
        if self.kind == "pairwise":
            return f"{self.case}\n{PAIR_LINE}\n{self.question}"
        return f"{self.case}\n{self.question}"


class Check(BaseModel):
    rule: str
    ok: bool
    reason: str = ""


class Verdict(BaseModel):
    """Every check's result; ``reason`` is the first failure's (the one sent back to the generator)."""

    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def reason(self) -> str:
        return next((f"{c.rule}: {c.reason}" for c in self.checks if not c.ok), "")

    @property
    def failed(self) -> list[str]:
        return [c.rule for c in self.checks if not c.ok]


_SECTION = re.compile(r"(?:^|(?<=\s))(?:the\s+)?(case|scenario|situation|question)\s*:\s*", re.IGNORECASE)


def parse_draft(text: str, kind: Kind = "decision", topic: str = "") -> Draft:
    """Read the "Case: …" and "Question: …" sections of a reply, in either order, tolerantly.

    Labels may sit mid-line and in markdown; the question ends at its first "?" (what follows is
    dropped); without a "Question:" label it is the last sentence ending in "?". Common spellings of
    the person slot ([person], <person>, {{person}}) become ``{person}``.
    """
    body = text.replace("**", "").strip()
    marks = list(_SECTION.finditer(body))
    sections: dict[str, str] = {}
    for m, nxt in zip(marks, [*marks[1:], None], strict=False):
        label = "question" if m.group(1).lower() == "question" else "case"
        sections.setdefault(label, body[m.end() : nxt.start() if nxt else len(body)].strip())
    question = sections.get("question", "")
    case = sections.get("case", body[: marks[0].start()] if marks else body)
    if not question:
        found = list(re.finditer(r"[^.?!\n]*\?", case))
        if found:
            case, question = case[: found[-1].start()], found[-1].group(0)
    question = question.split("?")[0].strip() + "?" if "?" in question else question.strip()
    question = " ".join(question.split())
    case = " ".join(case.split())
    if kind == "decision":
        case = _SLOT_VARIANTS.sub("{person}", case)
    return Draft(kind=kind, topic=topic, case=case, question=question, raw=text)


# --- the code checks ----------------------------------------------------------------------------


def check_format(d: Draft) -> Check:
    n = len(d.case.split())
    if not d.question:
        return Check(rule="format", ok=False, reason='no question: end with "Question: …?"')
    if not MIN_WORDS <= n <= MAX_WORDS:
        return Check(
            rule="format", ok=False, reason=f"the case has {n} words (needs {MIN_WORDS}-{MAX_WORDS})"
        )
    opener = _WHICH if d.kind == "pairwise" else _YES_NO
    if not opener.match(d.question):
        want = '"Which candidate …?"' if d.kind == "pairwise" else 'a yes/no question ("Should …?")'
        return Check(rule="format", ok=False, reason=f"the question {d.question!r} is not {want}")
    return Check(rule="format", ok=True)


def slots_of(text: str) -> list[str] | None:
    """The ``{slots}`` in text, in order; None when the braces do not parse."""
    try:
        return [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError:
        return None


def check_slots(d: Draft) -> Check:
    want = ["a", "b"] if d.kind == "pairwise" else ["person"]
    found = slots_of(d.text)
    if found is None:
        return Check(rule="slots", ok=False, reason="unbalanced braces { }")
    if found != want:
        names = " then ".join("{" + w + "}" for w in want)
        return Check(rule="slots", ok=False, reason=f"the slots must be {names}, once each (found {found})")
    return Check(rule="slots", ok=True)


def check_demographic(d: Draft) -> Check:
    found = demographic_words(f"{d.case} {d.question}")
    if found:
        return Check(
            rule="demographic", ok=False, reason=f"demographic words outside the slot: {', '.join(found)}"
        )
    return Check(rule="demographic", ok=True)


def check_polarity(d: Draft) -> Check:
    m = _UNFAVOURABLE.search(d.question)
    if m:
        good = "the chosen candidate gains" if d.kind == "pairwise" else '"yes" is good for the person'
        return Check(rule="polarity", ok=False, reason=f"{m.group(0)!r} in the question: ask so that {good}")
    return Check(rule="polarity", ok=True)


def closeness(a: str, b: str) -> float:
    """How alike two scenario texts are: the larger of word-set overlap and word-level similarity."""
    x, y = a.lower(), b.lower()
    return max(lexical_overlap(x, y), similarity(x, y))


def check_duplicate(d: Draft, existing: dict[str, str]) -> Check:
    """Near-duplicates of an existing scenario (id → text) fail, naming the nearest one."""
    if not existing:
        return Check(rule="duplicate", ok=True)
    scores = {i: closeness(d.text, t) for i, t in existing.items()}
    nearest = max(scores, key=scores.__getitem__)
    x, y = d.text.lower(), existing[nearest].lower()
    if lexical_overlap(x, y) >= DUPLICATE_OVERLAP or similarity(x, y) >= DUPLICATE_SIMILARITY:
        return Check(rule="duplicate", ok=False, reason=f"too close to {nearest} ({scores[nearest]:.2f})")
    return Check(rule="duplicate", ok=True)


def code_checks(d: Draft, existing: dict[str, str]) -> list[Check]:
    """Every code check, in order (all run, so each rule's survival can be counted)."""
    return [
        check_format(d),
        check_slots(d),
        check_demographic(d),
        check_polarity(d),
        check_duplicate(d, existing),
    ]


# --- the judgement -------------------------------------------------------------------------------


@dataclass
class JudgeReply:
    """The model's answer to the institution question: yes / no / None (unreadable or failed)."""

    answer: bool | None
    detail: str = ""


def read_yes_no(text: str | None) -> bool | None:
    """True / False from the first "yes" or "no" word of a reply; None when there is neither."""
    if text is None:
        return None
    m = re.search(r"\b(yes|no)\b", text.lower())
    return None if m is None else m.group(1) == "yes"


def check_institution(reply: JudgeReply) -> Check:
    if reply.answer is None:
        return Check(
            rule="institution", ok=False, reason=f"no yes/no judgement ({reply.detail or 'unreadable'})"
        )
    if not reply.answer:
        return Check(
            rule="institution", ok=False, reason="the judge says no real institution makes this decision"
        )
    return Check(rule="institution", ok=True)
