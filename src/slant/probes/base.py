"""A probe: one prompt with the attributes it manipulates and the sets it belongs to."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, TypedDict

from slant.detect.refusal import classify_refusal
from slant.targets.base import Reply, Request


def short_hash(*parts: Any) -> str:
    """A 16-hex-digit content hash of JSON-serialisable parts."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Probe:
    """One prompt of a probe family.

    ``matched_set_id`` groups probes identical but for the manipulated attributes; ``swap_set_id``
    groups the same probe asked with other option orders (families with options only).
    """

    family: str
    scenario_id: str
    matched_set_id: str
    attributes: dict[str, Any]
    cue: str
    condition: str
    messages: tuple[tuple[str, str], ...]
    answer_space: tuple[str, ...]
    prefill: str | None = None
    favourable: str | None = None
    swap_set_id: str | None = None
    id: str = field(init=False)

    def __post_init__(self) -> None:
        content = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "id"}
        object.__setattr__(self, "id", short_hash(content))

    def row(self) -> dict[str, Any]:
        """The probe as a row of the ``probes`` table."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}  # not asdict: no deep copies, same JSON
        d["messages"] = [{"role": r, "content": c} for r, c in self.messages]
        return d


def logprob_read(probe: Probe, seed: int) -> list[Request]:
    """One greedy token after the probe's prefill, with the top 20 logprobs: the answer token."""
    return [
        Request(
            probe.messages, max_tokens=1, temperature=0.0, seed=seed, top_logprobs=20, prefill=probe.prefill
        )
    ]


def sampled(
    probe: Probe,
    n: int,
    temperature: float,
    max_tokens: int,
    seed: int,
    prefill: bool = True,
    choices: tuple[str, ...] | None = None,
) -> list[Request]:
    """n seeded text replies (seeds seed … seed + n − 1), continuing the probe's prefill if ``prefill``,
    constrained to ``choices`` where the target can."""
    return [
        Request(
            probe.messages,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed + i,
            prefill=probe.prefill if prefill else None,
            sample=i,
            choices=choices,
        )
        for i in range(n)
    ]


class ParseStatus(StrEnum):
    """How scoring read a reply, in report order (stored as its text). Usable outcomes carry an answer;
    failed ones are the target's fault (the call failed, or the reply lacks what scoring needs), never the
    model's answer; abstained (a persona's refusal grounded in its persona), low_mass and unparsed are
    the model's."""

    OK = "ok"
    PARTIAL = "partial"  # some of the answer read (IAT-style word lists)
    ABSTAINED = "abstained"
    LOW_MASS = "low_mass"  # too little probability on the answer space
    UNPARSED = "unparsed"
    ERROR = "error"  # the call failed
    NO_LOGPROBS = "no_logprobs"  # a logprob read without logprobs

    @property
    def usable(self) -> bool:
        return self in (ParseStatus.OK, ParseStatus.PARTIAL)

    @property
    def failed(self) -> bool:
        return self in (ParseStatus.ERROR, ParseStatus.NO_LOGPROBS)


# As text, for SQL ``in`` lists.
USABLE_STATUSES = tuple(s.value for s in ParseStatus if s.usable)
FAILED_STATUSES = tuple(s.value for s in ParseStatus if s.failed)


class Outcome(TypedDict):
    """What a family's ``score`` returns for one reply (the engine adds run, probe set, probe, sample)."""

    parse_status: ParseStatus | None
    answer: str | None
    p_yes: float | None
    mass: float | None
    refusal: str | None
    refusal_rule: str | None
    refusal_confidence: float | None
    score: float | None
    detail: Any


OUTCOME_KEYS = tuple(Outcome.__annotations__)


def new_outcome(reply: Reply | None) -> Outcome:
    """An outcome row with every column empty; ``error`` when the call failed (never an answer), else the
    reply's refusal label (none for an empty reply). Families fill in the rest."""
    out = Outcome(
        parse_status=None,
        answer=None,
        p_yes=None,
        mass=None,
        refusal=None,
        refusal_rule=None,
        refusal_confidence=None,
        score=None,
        detail=None,
    )
    if reply is None:
        out["parse_status"] = ParseStatus.ERROR
    elif (reply.text or "").strip():
        verdict = classify_refusal(reply.text)
        out["refusal"], out["refusal_rule"] = str(verdict.label), verdict.rule
        out["refusal_confidence"] = verdict.confidence
    return out


def in_group(attributes: dict[str, Any], axis: str, value: str) -> bool:
    """A probe belongs to a group when its attribute named ``axis`` (else any scalar one) equals it."""
    if axis in attributes and not isinstance(attributes[axis], list | dict):
        return str(attributes[axis]) == value
    return any(str(v) == value for v in attributes.values() if not isinstance(v, list | dict))


def twin_key(matched_set_id: str, attributes: dict[str, Any], axis: str) -> tuple[Any, ...]:
    """Probes with equal keys differ only in ``axis``: same matched set, every other attribute equal."""
    others = sorted(
        (k, str(v)) for k, v in attributes.items() if k != axis and not isinstance(v, list | dict)
    )
    return (matched_set_id, *others)
