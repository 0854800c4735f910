"""Variants of decision scenarios, the moves between them, and their matched sets as probes.

A :class:`Variant` is one region of the scenario space: a scenario text (a shipped or campaign scenario,
possibly edited by moves), a cue (explicit, name), the attribute varied (``axis``: ``level`` against
``ref``) and the attributes held fixed; the other attributes are drawn per matched set from the
campaign's levels. Moves change one named dimension (:data:`DIMENSIONS`); every moved text passes the
generation verifier's code checks before it is probed.

Matched set ``i`` of a variant in a phase (``search`` or ``confirm``) asks the same case twice, about the
person at ``level`` and at ``ref``, with one person wording, one reference number and one draw of the
free attributes (seeded). Search and confirmation draw from disjoint wording and name pools, so a
confirmation prompt is never one the search saw.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from slant.agents.verifier import Verdict, code_checks, parse_draft
from slant.probes import decision
from slant.probes.base import Probe, short_hash
from slant.prompts import load_prompt

DIMENSIONS = ("attribute", "domain", "evidence", "stakes", "wording", "cue")
EDITS = {  # a text edit → the prompt file of the sentence it adds
    "stakes:high": "search/stakes-high.txt",
    "stakes:low": "search/stakes-low.txt",
    "evidence:strong": "search/evidence-strong.txt",
    "evidence:weak": "search/evidence-weak.txt",
}
PHASES = ("search", "confirm")
NAME_POOLS = {"search": (0, 1), "confirm": (2, 3)}  # name indices per gender × race, disjoint


@dataclass(frozen=True)
class Variant:
    """One region searched: a scenario text, a cue, the attribute varied and the attributes held fixed."""

    scenario: str
    domain: str
    text: str
    cue: str
    axis: str
    level: str
    ref: str
    fixed: tuple[tuple[str, str], ...] = ()
    edits: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return short_hash("search-variant", asdict(self))

    @property
    def region(self) -> tuple[Any, ...]:
        """What a finding is about, whatever the wording and the attributes held: scenario, cue, contrast."""
        return (self.scenario, self.cue, self.axis, self.level, self.ref)

    def label(self) -> str:
        """``housing-lease · age 70 vs 30 · gender=female · explicit``."""
        held = ", ".join(f"{a}={v}" for a, v in self.fixed) or "others drawn"
        edits = f" · {', '.join(self.edits)}" if self.edits else ""
        return f"{self.scenario} · {self.axis} {self.level} vs {self.ref} · {held} · {self.cue}{edits}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Variant:
        fixed = tuple((str(a), str(v)) for a, v in d.get("fixed", ()))
        return cls(**{**d, "fixed": fixed, "edits": tuple(d.get("edits", ()))})


@dataclass(frozen=True)
class Space:
    """What the moves may reach: the campaign's scenarios, levels, references, cues and names."""

    scenarios: dict[str, decision.Scenario]
    levels: dict[str, list[str]]  # axis → levels (as text)
    refs: dict[str, str]  # axis → reference level
    names: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # gender → race → names

    def cues(self) -> list[str]:
        return ["explicit", *(["name"] if self.names else [])]

    def name_levels(self, axis: str) -> list[str]:
        """The levels a name can signal (no non-binary; races with names for every pool index)."""
        if axis == "gender":
            return [g for g in self.levels["gender"] if g in self.names]
        if axis == "race":
            need = max(NAME_POOLS["confirm"]) + 1
            return [
                r
                for r in self.levels["race"]
                if all(len(self.names[g].get(r, [])) >= need for g in self.names)
            ]
        return self.levels[axis]


# --- texts ----------------------------------------------------------------------------------------


def split_case(text: str) -> tuple[str, str]:
    """(case, question) of a scenario text: the question is its last line."""
    case, _, question = text.rstrip().rpartition("\n")
    return (case, question) if case else (text, "")


def edited_text(base: str, edits: tuple[str, ...]) -> str:
    """The base scenario with each edit applied: framings before the case, other sentences after it (a
    model's rewrite is of one text: applied to another scenario, it is left out)."""
    case, question = split_case(base)
    for e in edits:
        dim, _, arg = e.partition(":")
        if dim == "rewrite":
            continue
        case = f"{framings()[int(arg)]} {case}" if dim == "wording" else f"{case} {load_prompt(EDITS[e])}"
    return f"{case}\n{question}"


def framings() -> list[str]:
    return load_prompt("search/framings.txt").splitlines()


def verify_text(text: str, others: dict[str, str]) -> Verdict:
    """The generation verifier's code checks (format, slots, demographic words, polarity, and no
    near-duplicate of another base scenario)."""
    return Verdict(checks=code_checks(parse_draft(text), others))


# --- moves ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    """A proposed variant and how it was reached from its parent."""

    variant: Variant
    dimension: str
    change: str


def seeds(space: Space, prior: dict[tuple[str, str, str], float] | None = None) -> list[Move]:
    """Per scenario and axis: the last level against the reference, every other attribute drawn. In an
    order that covers every domain and axis early: scenarios by domain in turn, and the axis rotating,
    so a budget that affords only the first seeds still spreads them; with an earlier audit's gaps
    (``prior``, :mod:`slant.search.prior`), the seeds it measured go first, largest gap first."""
    by_domain: dict[str, list[decision.Scenario]] = {}
    for sc in space.scenarios.values():
        by_domain.setdefault(sc.domain, []).append(sc)
    turns = [sc for group in itertools.zip_longest(*by_domain.values()) for sc in group if sc is not None]
    axes = [a for a, levels in space.levels.items() if any(v != space.refs[a] for v in levels)]
    out = []
    for r in range(len(axes)):
        for i, sc in enumerate(turns):
            axis = axes[(i + r) % len(axes)]
            level = next(v for v in reversed(space.levels[axis]) if v != space.refs[axis])
            v = Variant(sc.id, sc.domain, sc.text, "explicit", axis, level, space.refs[axis])
            out.append(Move(v, "seed", f"{sc.id}: {axis} {level} vs {space.refs[axis]}"))
    if prior:  # a stable sort: seeds the audit did not measure keep their spread order, after the others
        out.sort(key=lambda m: -prior.get((m.variant.scenario, m.variant.axis, m.variant.level), -1.0))
    return out


def neighbours(v: Variant, space: Space) -> dict[str, list[Move]]:
    """Every move from ``v``, by dimension, in a fixed order."""
    return {
        "attribute": list(_attribute_moves(v, space)),
        "domain": list(_domain_moves(v, space)),
        "evidence": _edit_moves(v, "evidence", ["evidence:strong", "evidence:weak"]),
        "stakes": _edit_moves(v, "stakes", ["stakes:high", "stakes:low"]),
        "wording": _edit_moves(v, "wording", [f"wording:{i}" for i in range(len(framings()))]),
        "cue": list(_cue_moves(v, space)),
    }


def _attribute_moves(v: Variant, space: Space) -> Iterator[Move]:
    """Hold a drawn attribute fixed (narrow), vary another one (pivot), compare another level, or
    draw a held one again (widen)."""
    fixed = dict(v.fixed)
    levels = {a: space.name_levels(a) if v.cue == "name" else ls for a, ls in space.levels.items()}
    for a in levels:
        if a != v.axis and a not in fixed:
            for value in levels[a]:
                yield Move(_with(v, fixed | {a: value}), "attribute", f"hold {a}={value}")
    for a in levels:
        if a != v.axis:
            rest = {k: x for k, x in fixed.items() if k != a} | {v.axis: v.level}
            for value in levels[a]:
                if value != space.refs[a] and space.refs[a] in levels[a]:
                    moved = replace(_with(v, rest), axis=a, level=value, ref=space.refs[a])
                    yield Move(
                        moved, "attribute", f"vary {a} ({value} vs {space.refs[a]}), hold {v.axis}={v.level}"
                    )
    for value in levels[v.axis]:
        if value not in (v.level, v.ref):
            yield Move(replace(v, level=value), "attribute", f"compare {v.axis} {value} vs {v.ref}")
    for a in fixed:
        yield Move(_with(v, {k: x for k, x in fixed.items() if k != a}), "attribute", f"draw {a} again")


def _with(v: Variant, fixed: dict[str, str]) -> Variant:
    return replace(v, fixed=tuple(sorted(fixed.items())))


def _domain_moves(v: Variant, space: Space) -> Iterator[Move]:
    """The same contrast and edits on another scenario, other domains first."""
    others = sorted(space.scenarios.values(), key=lambda s: (s.domain == v.domain, s.id))
    for sc in others:
        if sc.id != v.scenario:
            edits = tuple(e for e in v.edits if not e.startswith("rewrite:"))
            moved = replace(
                v, scenario=sc.id, domain=sc.domain, text=edited_text(sc.text, edits), edits=edits
            )
            yield Move(moved, "domain", f"{sc.domain}: {sc.id}")


def _edit_moves(v: Variant, dimension: str, edits: list[str]) -> list[Move]:
    """Add one sentence of a dimension the text does not edit yet (edits apply to the current text)."""
    if any(e.startswith(f"{dimension}:") for e in v.edits):
        return []
    return [
        Move(replace(v, text=edited_text(v.text, (e,)), edits=(*v.edits, e)), dimension, e) for e in edits
    ]


def _cue_moves(v: Variant, space: Space) -> Iterator[Move]:
    """Explicit ↔ name, where names can signal the compared and held levels."""
    if v.cue == "name":
        yield Move(replace(v, cue="explicit"), "cue", "explicit")
        return
    if "name" not in space.cues():
        return
    needed = {v.axis: [v.level, v.ref], **{a: [x] for a, x in v.fixed}}
    if all(x in space.name_levels(a) for a, xs in needed.items() for x in xs):
        yield Move(replace(v, cue="name"), "cue", "name")


# --- matched sets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wording:
    """How one decision set asks: system message, instruction, prefill and the separator before it."""

    system: str | None
    instruction: str
    prefill: str
    sep: str


def article(words: str) -> str:
    """``an`` before a vowel sound (an Asian, an 80-year-old), else ``a``."""
    first = words.split()[0].lower() if words.split() else ""
    vowel = first[:1] in "aeiou" or re.match(r"^(8\d*|11|18)\b", first) is not None
    return "an" if first and vowel else "a"


def person_text(template: str, attrs: dict[str, str], cue: str, name: str | None) -> str:
    """The person as the slot says it: a wording of age, race and gender, or a name and the age."""
    if cue == "name":
        return f"{name} ({attrs['age']} years old)"
    noun = decision.GENDER_NOUN[attrs["gender"]]
    text = template.format(a="{a}", age=attrs["age"], race=attrs["race"], noun=noun)
    head, _, tail = text.partition("{a} ")
    return f"{head}{article(tail)} {tail}"


def people_pool(phase: str) -> list[str]:
    return load_prompt(f"search/people-{phase}.txt").splitlines()


@dataclass(frozen=True)
class MatchedSet:
    """Matched set ``index`` of a variant: the two probes (level, ref) and what was drawn for it."""

    index: int
    level: Probe
    ref: Probe
    drawn: dict[str, Any]


def matched_set(v: Variant, space: Space, wording: Wording, phase: str, index: int, seed: int) -> MatchedSet:
    """One matched set, drawn from the phase's pools with a seed of (seed, phase, variant, index)."""
    rng = random.Random(short_hash("search-set", seed, phase, v.id, index))
    levels = {a: space.name_levels(a) if v.cue == "name" else ls for a, ls in space.levels.items()}
    drawn = {a: rng.choice(ls) for a, ls in levels.items() if a != v.axis and a not in dict(v.fixed)}
    template = rng.choice(people_pool(phase))
    k = rng.choice(NAME_POOLS[phase])
    number = rng.randint(10000, 99999)
    info = {"wording": template, "name_index": k, "reference": number, "drawn": drawn}
    set_id = short_hash("search", v.id, phase, index, seed)
    probes = []
    for value in (v.level, v.ref):
        attrs = {**drawn, **dict(v.fixed), v.axis: value}
        name = space.names[attrs["gender"]][attrs["race"]][k] if v.cue == "name" else None
        slot = person_text(template, attrs, v.cue, name)
        reference = load_prompt("search/reference.txt").format(number=number)
        user = f"{reference}\n{v.text.format(person=slot)}{wording.sep}{wording.instruction}"
        messages = ((("system", wording.system),) if wording.system else ()) + (("user", user),)
        typed = {a: int(x) if a == "age" else x for a, x in attrs.items()} | ({"name": name} if name else {})
        probes.append(
            Probe(
                family="decision",
                scenario_id=v.scenario,
                matched_set_id=set_id,
                attributes=typed,
                cue=v.cue,
                condition="none",
                messages=messages,
                answer_space=decision.ANSWERS,
                prefill=wording.prefill,
                favourable="yes",
            )
        )
    return MatchedSet(index, probes[0], probes[1], info)
