"""Probe families. Each family is one module in this package that defines:

- ``Spec``: the pydantic model of its probe sets in campaign files (with ``family: Literal[...]``
  and ``name``);
- ``expand(spec, base, where, seed) -> Iterator[Probe]``: every probe of a set (``base`` is the
  campaign's folder, ``where`` names the set in error messages, ``seed`` is the campaign seed that any
  randomisation must derive from); all input validation happens here;
- ``requests(probe, spec, seed) -> list[Request]``: the calls that score one probe;
- ``score(probe, spec, reply) -> dict``: one outcome row (``reply`` is None for a failed call);
- ``disparities(frame, spec) -> list[dict]``: rows for the ``disparities`` table from a frame of the
  set's outcomes joined with probe attributes;
- ``metrics(spec) -> set[str]``: every ``metric`` its ``disparities`` can write for this set;
- ``axes(spec, probes) -> dict[str, set[str]]``: every ``axis`` it can write, each with the groups
  (``grp``) it can write on that axis, given the set's probes. Gates are checked against these
  (with the probes' cues) before any call, and a test checks every written row against them.

Register a family by adding its module to ``FAMILIES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from slant.probes import attack, decision, fill_in, iat, pairwise, persona, usage
from slant.probes.base import Probe

FAMILIES: dict[str, ModuleType] = {
    "decision": decision,
    "iat": iat,
    "pairwise": pairwise,
    "attack": attack,
    "persona": persona,
    "fill-in": fill_in,
    "usage": usage,
}

__all__ = ["FAMILIES", "Outputs", "Probe", "family_of", "outputs"]


def family_of(spec: Any) -> ModuleType:
    """The module implementing a probe set's family."""
    return FAMILIES[spec.family]


@dataclass(frozen=True)
class Outputs:
    """What a probe set can write to the ``disparities`` table: metrics, axes with their groups, cues."""

    metrics: set[str]
    axes: dict[str, set[str]]
    cues: set[str]


def outputs(spec: Any, probes: list[Probe]) -> Outputs:
    """What a probe set with these (all of its) probes can write, as its family declares it."""
    family = family_of(spec)
    return Outputs(family.metrics(spec), family.axes(spec, probes), {p.cue for p in probes})
