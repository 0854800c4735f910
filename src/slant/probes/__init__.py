"""Probe families. Each family is one module in this package: the pydantic model of its probe sets, its
hooks (``expand``, ``requests``, ``score``, ``disparities``, ``writes``, ``axes``) and the metrics it
can write, joined to the registry by ``FAMILY = register(Family(...))`` at its end (see
:mod:`slant.probes.family` for the contract and its defaults).

To add a family: write its module, then import it below. Campaign files accept it, reports draw its
metrics and ``slant diff`` compares them from its declarations; nothing else changes. A family defined
elsewhere (a test, a plugin) registers the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slant.probes.base import Probe
from slant.probes.family import FAMILIES, Family, family_of, metric_of, register

# isort: off
# The built-in families: importing one registers it, so they are imported in the order `slant probes` lists.
from slant.probes import decision, iat, pairwise, attack, persona, fill_in, usage, bbq  # noqa: F401
from slant.probes import crows_pairs, stereoset, winogender, winobias  # noqa: F401
# isort: on

__all__ = ["FAMILIES", "Family", "Outputs", "Probe", "family_of", "metric_of", "outputs", "register"]


@dataclass(frozen=True)
class Outputs:
    """What a probe set can write to the ``disparities`` table: metrics, axes with their groups, cues."""

    metrics: set[str]
    axes: dict[str, set[str]]
    cues: set[str]


def outputs(spec: Any, probes: list[Probe]) -> Outputs:
    """What a probe set with these (all of its) probes can write, as its family declares it."""
    family = family_of(spec)
    metrics = family.written(spec)
    if undeclared := sorted(m.name for m in metrics - set(family.metrics)):
        raise ValueError(f"family {family.name!r} writes undeclared metrics: {', '.join(undeclared)}")
    return Outputs({m.name for m in metrics}, family.axes(spec, probes), {p.cue for p in probes})
