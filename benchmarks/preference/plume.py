"""A small PLUME-like preference benchmark that needs no downloads: synthetic users whose latent
preferences are rules a program can apply and check.

Each rule has ``apply`` (rewrites a neutral text the way the user would) and ``check`` (does a text
follow it?). A user's demonstration is their rules applied, in a fixed order, to a short neutral text
written for this benchmark. Metrics (per draft made before learning from that demonstration):

- PPCM (per-preference compliance, by the rule checkers, no judge): the share of the user's rules the
  draft follows.
- edit: word-level Levenshtein distance between draft and the user's text, normalised by the longer.
- component precision / recall: a learned component "names" a true preference when it contains one of
  that rule's keywords (a lexical proxy for a judge; documented, not exact).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from slant.agents.components import word_edit_distance

SIGN_OFF = re.compile(
    r"^(best( regards)?|kind regards|regards|thanks|many thanks|cheers|sincerely)\b.*$", re.I
)
AMERICAN = {
    "color": "colour",
    "organize": "organise",
    "center": "centre",
    "favorite": "favourite",
    "behavior": "behaviour",
    "analyze": "analyse",
    "canceled": "cancelled",
    "neighbor": "neighbour",
}


def _lines(text: str) -> list[str]:
    return text.strip().splitlines()


def _without_sign_off(text: str) -> str:
    lines = _lines(text)
    for i, line in enumerate(lines):
        if SIGN_OFF.match(line.strip()):
            return "\n".join(lines[:i]).strip()
    return text.strip()


def _bullets(text: str) -> str:
    out = []
    for line in _lines(text):
        if (
            line.strip()
            and not line.rstrip().endswith(",")
            and not SIGN_OFF.match(line.strip())
            and len(line.split()) > 3
        ):
            out += [f"- {s.strip()}" for s in re.split(r"(?<=[.!?])\s+", line.strip()) if s.strip()]
        else:
            out.append(line)
    return "\n".join(out)


def _caps(text: str) -> str:
    """Upper-case one emphasis word (or else the body's longest word)."""
    out = re.sub(
        r"\b(important|today|please|soon|closed|before|all)\b",
        lambda m: m.group(0).upper(),
        text,
        count=1,
        flags=re.I,
    )
    if out != text:
        return out
    body = _lines(text)[1] if len(_lines(text)) > 1 else text
    longest = max(re.findall(r"[A-Za-z]+", body), key=len)
    return text.replace(longest, longest.upper(), 1)


def _british(text: str) -> str:
    for us, uk in AMERICAN.items():
        text = re.sub(rf"\b{us}", uk, text)
        text = re.sub(rf"\b{us.capitalize()}", uk.capitalize(), text)
    return text


def _truncate(text: str, n: int = 35) -> str:
    words = text.split(" ")
    return text if len(text.split()) <= n else " ".join(words[:n]).rstrip(",;:") + "."


@dataclass(frozen=True)
class Rule:
    name: str
    description: str  # the true component, as a person would state it
    keywords: tuple[str, ...]
    apply: Callable[[str], str]
    check: Callable[[str], bool]


RULES = {
    r.name: r
    for r in [
        Rule(
            "british",
            "uses British spelling (colour, organise)",
            ("british", "colour", "spelling", "uk"),
            _british,
            lambda t: not any(re.search(rf"\b{us}", t, re.I) for us in AMERICAN),
        ),
        Rule(
            "ampersand",
            "writes '&' instead of 'and'",
            ("&", "ampersand"),
            lambda t: re.sub(r"\band\b", "&", t),
            lambda t: "&" in t and not re.search(r"\band\b", t, re.I),
        ),
        Rule(
            "caps",
            "emphasises one key word in ALL CAPS",
            ("caps", "capital", "uppercase", "upper case"),
            _caps,
            lambda t: bool(re.search(r"\b[A-Z]{3,}\b", t)),
        ),
        Rule(
            "bullets",
            "puts the points in bullet lines",
            ("bullet", "list"),
            _bullets,
            lambda t: sum(1 for x in _lines(t) if re.match(r"^\s*[-*•]\s", x)) >= 2,
        ),
        Rule(
            "no_sign_off",
            "never ends with a sign-off",
            ("sign-off", "sign off", "signoff", "closing", "signature"),
            _without_sign_off,
            lambda t: not any(SIGN_OFF.match(x.strip()) for x in _lines(t)),
        ),
        Rule(
            "short",
            "keeps it to 35 words or fewer",
            ("short", "brief", "concise", "words", "length"),
            _truncate,
            lambda t: len(t.split()) <= 35,
        ),
        Rule(
            "question",
            "ends with a question",
            ("question",),
            lambda t: t.rstrip() + "\nAny thoughts?",
            lambda t: t.rstrip().endswith("?"),
        ),
    ]
}
ORDER = list(RULES)  # rules are applied in this order (the question last, after any truncation)

USERS: dict[str, tuple[str, ...]] = {
    "ada": ("ampersand", "caps", "question"),
    "ben": ("british", "bullets", "no_sign_off"),
    "cyd": ("british", "ampersand", "no_sign_off", "short"),
    "dee": ("bullets", "caps", "question"),
    "eli": ("british", "caps", "no_sign_off", "question"),
    "fay": ("ampersand", "bullets", "short"),
}

# (task, neutral text): written for this benchmark; each has an "and", an American spelling and a sign-off.
TEXTS = [
    (
        "tell the team the office is closed on Monday",
        "Hello team,\n"
        "The office is closed on Monday and the center will reopen on Tuesday. "
        "Please organize your work before then.\n"
        "Best regards,\n"
        "Sam",
    ),
    (
        "invite colleagues to a Friday lunch",
        "Hi all,\n"
        "We are having lunch on Friday at our favorite cafe and everyone is welcome. "
        "Please reply today so I can book a table.\n"
        "Thanks,\n"
        "Sam",
    ),
    (
        "ask for feedback on a new logo",
        "Hello,\n"
        "The new logo is ready and I would like your feedback on the color and the shape. "
        "Comments are welcome before Thursday.\n"
        "Kind regards,\n"
        "Sam",
    ),
    (
        "remind a client about an unpaid invoice",
        "Dear client,\n"
        "This is a reminder that invoice 42 is still open and payment is due soon. "
        "We canceled the late fee as a favor this time.\n"
        "Sincerely,\n"
        "Sam",
    ),
    (
        "announce a change to the meeting time",
        "Hi team,\n"
        "The weekly meeting moves to 10am and will be held in the training center. "
        "The agenda and notes are attached.\n"
        "Best,\n"
        "Sam",
    ),
    (
        "share results of a customer survey",
        "Hello everyone,\n"
        "The survey results are in and customers like the new color scheme. "
        "We will analyze the comments and share a plan soon.\n"
        "Cheers,\n"
        "Sam",
    ),
    (
        "thank a colleague for help on a project",
        "Hi Jo,\n"
        "Thank you for your help on the project and for your calm behavior under pressure. "
        "It was important to the whole team.\n"
        "Thanks,\n"
        "Sam",
    ),
    (
        "ask neighbors about a street party",
        "Dear neighbors,\n"
        "We plan a street party in June and would love your ideas. "
        "Please tell us your favorite food and music.\n"
        "Best regards,\n"
        "Sam",
    ),
    (
        "decline an invitation to speak",
        "Hello Dana,\n"
        "Thank you for the invitation and for thinking of me. "
        "I cannot speak this year as my schedule is full at the center.\n"
        "Kind regards,\n"
        "Sam",
    ),
    (
        "report a bug in the booking form",
        "Hi support,\n"
        "The booking form fails when I choose a date and press send. "
        "The page color changes and nothing happens.\n"
        "Thanks,\n"
        "Sam",
    ),
]


def demonstrate(text: str, rules: tuple[str, ...]) -> str:
    """The user's version of a neutral text: their rules applied in ORDER."""
    for name in ORDER:
        if name in rules:
            text = RULES[name].apply(text)
    return text.strip()


def demos(user: str, n: int = 5) -> list[tuple[str, str]]:
    """The user's n (task, text) demonstrations, from a rotating slice of TEXTS."""
    i = list(USERS).index(user)
    picked = [TEXTS[(2 * i + j) % len(TEXTS)] for j in range(n)]
    return [(task, demonstrate(text, USERS[user])) for task, text in picked]


def ppcm(draft: str, rules: tuple[str, ...]) -> float:
    """Share of the user's rules the draft follows (exact, by the checkers)."""
    return sum(RULES[r].check(draft) for r in rules) / len(rules)


def edit(draft: str, user_text: str) -> float:
    return word_edit_distance(draft, user_text)


def names(component: str, rule: str) -> bool:
    c = component.lower()
    return any(k in c for k in RULES[rule].keywords)


def precision_recall(components: list[str], rules: tuple[str, ...]) -> tuple[float | None, float]:
    """Precision (None with no components) and recall of learned components against the true rules."""
    precision = (
        sum(any(names(c, r) for r in rules) for c in components) / len(components) if components else None
    )
    recall = sum(any(names(c, r) for c in components) for r in rules) / len(rules)
    return precision, recall
