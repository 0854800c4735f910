"""The inferred profile (components with evidence) and the tolerant parsers of model replies.

Everything here is plain data and text: no model calls. Parsers never raise on odd replies; they
return what they can read, or None / an empty list when nothing was readable (never a made-up
preference or verdict).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

Status = Literal["proposed", "confirmed", "rejected"]
VERDICT_MIN, VERDICT_MAX = -2, 2


class Sample(BaseModel):
    """One writing sample of a user: the task it answers (context) and the text they wrote."""

    id: str
    task: str = ""  # a label such as "email"; also the component scope
    context: str = ""  # what the text was written for, e.g. "decline the Friday meeting"
    text: str

    @property
    def task_text(self) -> str:
        """The instruction a draft for this sample answers."""
        if self.task and self.context:
            return f"{self.task}: {self.context}"
        return self.context or self.task or "a short text"


class Evidence(BaseModel):
    """One verdict on one component: does this sample (or contrast text) follow it?"""

    sample_id: str
    score: int | None  # +2 strongly confirms … −2 strongly contradicts; None: the call failed / unparsed
    kind: Literal["user", "default", "other-user"] = "user"
    request_key: str | None = None
    problem: str | None = None  # "error" (the call failed) or "unparsed"


class Component(BaseModel):
    """One atomic preference, with the evidence that confirmed or contradicted it."""

    text: str
    status: Status = "proposed"
    scope: str = ""  # the task(s) it was learned from, e.g. "email"; "" = any
    mean: float | None = None  # mean verdict over the user's samples that gave one
    generic: bool = False  # the model's default output or another user's sample also follows it
    evidence: list[Evidence] = Field(default_factory=list)
    source_sample: str | None = None

    @property
    def confirmed_by(self) -> list[str]:
        return [e.sample_id for e in self.user_scores() if (e.score or 0) > 0]

    @property
    def contradicted_by(self) -> list[str]:
        return [e.sample_id for e in self.user_scores() if (e.score or 0) < 0]

    def user_scores(self) -> list[Evidence]:
        return [e for e in self.evidence if e.kind == "user" and e.score is not None]


class Profile(BaseModel):
    """A user's preferences as inferred by one method, versioned in the ``profiles`` table."""

    user: str
    method: str = "prose"
    version: int = 0
    components: list[Component] = Field(default_factory=list)
    samples: list[Sample] = Field(default_factory=list)

    @property
    def active(self) -> list[Component]:
        """Components that are not rejected (confirmed or still proposed)."""
        return [c for c in self.components if c.status != "rejected"]

    def lines(self) -> list[str]:
        """One printable line per component: status, mean verdict, evidence, flags."""
        out = []
        for i, c in enumerate(self.components):
            mean = "   n/a" if c.mean is None else f"{c.mean:+.2f}"
            flags = " [generic]" if c.generic else ""
            scope = f" (scope: {c.scope})" if c.scope else ""
            ev = f"+{len(c.confirmed_by)}/-{len(c.contradicted_by)}"
            out.append(f"{i}. [{c.status}] {c.text}{scope}  mean {mean}, samples {ev}{flags}")
        return out

    def __str__(self) -> str:
        head = f"profile of {self.user} ({self.method}, version {self.version}, {len(self.samples)} samples)"
        return "\n".join([head, *self.lines()] if self.components else [head, "(no components)"])


# --- delimiting samples -------------------------------------------------------------------------

# Whatever could read as a <text> tag: any case and spacing, with attributes or a slash (</text x>).
_TAG = re.compile(r"<\s*/?\s*text\b[^<>]*>", re.IGNORECASE)


def delimit(text: str) -> str:
    """Wrap a sample in <text> … </text>, neutralising any such tag inside it.

    A sample can then neither close its delimiter early nor open a new one, so whatever it says stays
    inside the quoted data (tags in the sample become ‹text› / ‹/text›).
    """
    safe, before = text.strip(), None
    while safe != before:  # neutralising "<text<text>>"'s inner tag leaves an outer one: repeat
        before, safe = safe, _TAG.sub(lambda m: m.group(0).replace("<", "‹").replace(">", "›"), safe)
    return f"<text>\n{safe}\n</text>"


# --- parsers ------------------------------------------------------------------------------------

_BULLET = re.compile(r"^\s*(?:[-*•+]|\(?\d+[.)])\s+(?P<item>.+)$")
_HEADER = re.compile(r"^\s*\**\s*preferences?\s*\**\s*:\s*(?P<rest>.*)$", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"^(?:<[^>]*>|preference (?:one|two|three|\d)|\.\.\.|…|none|n/?a)$", re.IGNORECASE)


def _clean_item(item: str) -> str:
    item = item.replace("**", "").strip().strip("\"'`“”").strip()
    return re.sub(r"\s+", " ", item).rstrip(".;,").strip()


def _keep(items: list[str]) -> list[str]:
    """Drop empties, placeholders echoed from the prompt and case-insensitive duplicates."""
    out: list[str] = []
    seen: set[str] = set()
    for raw in items:
        item = _clean_item(raw)
        if len(item) < 3 or _PLACEHOLDER.match(item) or item.lower() in seen:
            continue
        seen.add(item.lower())
        out.append(item)
    return out


def parse_preferences(text: str) -> list[str]:
    """Read a list of preferences from a reply.

    Tried in order: a JSON list of strings (anywhere in the reply); bullet or numbered lines after a
    "Preferences:" header (or anywhere, when there is no header); items on the header line itself,
    separated by ";". Returns [] when nothing list-shaped is found: a reply of prose is not a profile.
    """
    match = re.search(r"\[.*?\]", text, re.S)
    if match:
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            data = None
        if isinstance(data, list) and all(isinstance(x, str) for x in data):
            return _keep(data)
    lines = text.splitlines()
    start, inline = 0, ""
    for i, line in enumerate(lines):
        m = _HEADER.match(line)
        if m:
            start, inline = i + 1, m.group("rest")
            break
    bullets = []
    for line in lines[start:]:
        m = _BULLET.match(line)
        if m:
            bullets.append(m.group("item"))
        elif bullets and not line.strip():
            continue
        elif bullets:
            break  # the list ended; what follows is commentary
    if bullets:
        return _keep(bullets)
    if inline.strip():
        return _keep(re.split(r";", inline))
    return []


_VERDICT = re.compile(r"verdict\s*[:=]?\s*\**\s*(?P<n>[+\-−]?\s?\d)", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])(?P<n>[+\-−]?\d)(?![\w.])")
_WORDS = [  # PROSE's verdict words (its prompt asks for them; slant's asks for the number)
    ("strongly contradicts", -2),
    ("strongly confirms", 2),
    ("contradicts", -1),
    ("confirms", 1),
    ("neutral", 0),
]


def parse_verdict(text: str) -> int | None:
    """A 5-point verdict (+2 … −2) from a reply, or None when it gives none.

    "Verdict: N" wins; otherwise a reply that is only a number; otherwise the scale's words ("strongly
    confirms", "somewhat confirms", "neutral" …, as PROSE reads them). Numbers outside −2 … +2 are not
    verdicts.
    """

    def value(raw: str) -> int | None:
        n = int(raw.replace("−", "-").replace(" ", ""))
        return n if VERDICT_MIN <= n <= VERDICT_MAX else None

    m = _VERDICT.search(text)
    if m:
        return value(m.group("n"))
    stripped = text.strip().rstrip(".")
    m = _NUMBER.fullmatch(stripped)
    if m:
        return value(m.group("n"))
    lower = text.lower()
    for words, n in _WORDS:
        if words in lower:
            return n
    return None


def clean_draft(text: str) -> str:
    """The text of a drafted reply without a chatty lead-in ("Here's the email:") or wrapping quotes."""
    lines = text.strip().splitlines()
    if lines and re.match(r"^(here('s| is)|sure|certainly)\b.*:\s*$", lines[0].strip(), re.IGNORECASE):
        lines = lines[1:]
    out = "\n".join(lines).strip()
    if len(out) > 1 and out[0] in '"“' and out[-1] in '"”':
        out = out[1:-1].strip()
    return out


# --- text similarity ----------------------------------------------------------------------------


def words(text: str) -> list[str]:
    return re.findall(r"\S+", text)


def levenshtein(x: Sequence[str], y: Sequence[str]) -> int:
    """Edit distance of two token sequences (insertions, deletions and substitutions cost 1)."""
    prev = list(range(len(y) + 1))
    for i, wx in enumerate(x, 1):
        cur = [i] + [0] * len(y)
        for j, wy in enumerate(y, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (wx != wy))
        prev = cur
    return prev[-1]


def word_edit_distance(a: str, b: str) -> float:
    """Word-level Levenshtein distance normalised by the longer text's length (0 same … 1 different).

    slant's length-normalised distance over whitespace tokens (a metric, not a test); two empty texts are 0.
    """
    x, y = words(a), words(b)
    return levenshtein(x, y) / max(len(x), len(y)) if x or y else 0.0


def similarity(a: str, b: str) -> float:
    """1 − normalised word-level edit distance."""
    return 1.0 - word_edit_distance(a, b)


def lexical_overlap(a: str, b: str) -> float:
    """Jaccard overlap of lower-cased word sets: the download-free stand-in for an embedding."""
    x, y = set(re.findall(r"[a-z0-9']+", a.lower())), set(re.findall(r"[a-z0-9']+", b.lower()))
    return len(x & y) / len(x | y) if x | y else 0.0


def coalesce_exact(items: list[str], threshold: float = 0.8) -> list[str]:
    """Drop items that nearly repeat an earlier one (word similarity ≥ threshold, case ignored)."""
    out: list[str] = []
    for item in items:
        if all(similarity(item.lower(), o.lower()) < threshold for o in out):
            out.append(item)
    return out
