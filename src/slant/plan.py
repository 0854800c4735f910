"""Planning a campaign: every probe set expanded into probes and keyed requests, every input (gates
included) validated, before any model call."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from slant import store
from slant.errors import SlantError, SpecError
from slant.probes import Outputs, Probe, decision, family_of, outputs
from slant.run import reply_from_row
from slant.spec import Campaign, Gate, ProbeSet
from slant.targets import Request, Target, loglikelihood_unsupported

NARROWING = ("metric", "probe_set", "cue", "axis", "group")  # what a gate may narrow its estimates by


@dataclass
class PlannedSet:
    """One probe set of a campaign, expanded: its probes and, per probe, its request keys."""

    spec: ProbeSet
    probes: list[Probe]
    requests: dict[str, list[tuple[str, Request]]] = field(
        default_factory=dict
    )  # probe id → [(key, request)]
    after: dict[str, str] = field(default_factory=dict)  # chained calls: request key → its follow-up's key

    def keys(self) -> list[str]:
        """The request keys of every probe of the set."""
        return [k for reqs in self.requests.values() for k, _ in reqs]


def plan(
    campaign: Campaign, target: Target, limit: int | None = None, scope: str | None = None
) -> list[PlannedSet]:
    """Expand every probe set (validating all inputs, gates included) and key its requests; no model
    call."""
    base = campaign.path.parent if campaign.path else Path.cwd()
    where = str(campaign.path or campaign.name)
    scope = scope or campaign.name
    planned, produced = [], {}
    for i, spec in enumerate(campaign.probes):
        family = family_of(spec)
        every = list(family.expand(spec, base, f"{where}: probes[{i}]", campaign.seed))
        produced[spec.name] = outputs(spec, every)
        probes = _take_whole_sets(every, limit)
        ps = PlannedSet(spec, probes)
        for probe in probes:
            reqs = family.requests(probe, spec, campaign.seed)
            ps.requests[probe.id] = [(r.key(target.id, scope), r) for r in reqs]
        _check_loglikelihood(ps, target)
        planned.append(ps)
    check_gates(campaign.gates, produced, where)
    return planned


def model_advice(campaign: Campaign) -> list[str]:
    """Per decision probe set, whether it has the scenarios discrim-eval's mixed model needs (one line
    each, see :func:`slant.probes.decision.model_advice`); every input is validated as :func:`plan` does."""
    base = campaign.path.parent if campaign.path else Path.cwd()
    where = str(campaign.path or campaign.name)
    return [
        decision.model_advice(
            spec, list(decision.FAMILY.expand(spec, base, f"{where}: probes[{i}]", campaign.seed))
        )
        for i, spec in enumerate(campaign.probes)
        if isinstance(spec, decision.DecisionSet)
    ]


def _check_loglikelihood(ps: PlannedSet, target: Target) -> None:
    """A probe set scored by log-likelihoods cannot run on a target that cannot give them."""
    if (why := loglikelihood_unsupported(target)) and any(
        r.is_loglikelihood for reqs in ps.requests.values() for _, r in reqs
    ):
        raise SlantError(
            f"probe set {ps.spec.name!r} ({ps.spec.family}) is scored by whole-sequence log-likelihoods, "
            f"which target {target.name!r} cannot give: {why}; use a completions server that echoes "
            "prompt log-probabilities (local, llama.cpp, vLLM)"
        )


def requests_of(planned: list[PlannedSet]) -> dict[str, Request]:
    """Every request of a plan, by key."""
    return {k: r for ps in planned for reqs in ps.requests.values() for k, r in reqs}


def follow_ups(
    db: sqlite_utils.Database, planned: list[PlannedSet], target_id: str, scope: str
) -> dict[str, Request]:
    """The next calls of chained probes (families with a ``follow`` hook) whose previous call has a
    stored reply, added to the plan; a failed call has no follow-up (it is scored as an error, and a
    rerun retries it). Call again after sending them: each call returns only calls not planned before."""
    new: dict[str, Request] = {}
    for ps in planned:
        family = family_of(ps.spec)
        if family.follow is None:
            continue
        unfollowed = [k for reqs in ps.requests.values() for k, _ in reqs if k not in ps.after]
        responses = store.responses_by_key(db, unfollowed)
        for probe in ps.probes:
            for key, request in list(ps.requests[probe.id]):
                reply = reply_from_row(responses[key]) if key in responses else None
                if reply is None or (nxt := family.follow(probe, ps.spec, request, reply)) is None:
                    continue
                ps.after[key] = nxt_key = nxt.key(target_id, scope)
                ps.requests[probe.id].append((nxt_key, nxt))
                new[nxt_key] = nxt
    return new


def _take_whole_sets(probes: Any, limit: int | None) -> list[Probe]:
    """At most ``limit`` probes, keeping matched sets whole (always at least one set)."""
    out: list[Probe] = []
    for _, group in _by_set(probes):
        if limit is not None and out and len(out) + len(group) > limit:
            break
        out += group
    return out


def _by_set(probes: Any) -> list[tuple[str, list[Probe]]]:
    sets: dict[str, list[Probe]] = {}
    for p in probes:
        sets.setdefault(p.matched_set_id, []).append(p)
    return list(sets.items())


def check_gates(gates: list[Gate], produced: dict[str, Outputs], where: str) -> None:
    """Refuse (SpecError) a gate naming what the campaign cannot produce, which could never match and
    would stay inconclusive forever: a probe set it lacks, a metric none of the gate's probe sets
    writes, or a cue, axis or group none of the probe sets writing that metric has (a group on the
    gate's axis, if it names one). ``produced``: probe set name → what it can write.
    """
    for i, g in enumerate(gates):
        field = f"gates[{i}]"
        if g.max_error_rate is not None:
            if named := next((k for k in NARROWING if getattr(g, k) is not None), None):
                problem = "max_error_rate is judged on the whole run; remove it"
                raise SpecError(where, f"{field}.{named}", problem)
            continue
        campaign = "a probe set of this campaign"
        _known(where, f"{field}.probe_set", g.probe_set, campaign, "its probe sets", produced)
        scope = "this campaign" if g.probe_set is None else f"probe set {g.probe_set!r}"
        sets = [o for name, o in produced.items() if g.probe_set in (None, name)]
        metrics = _union(o.metrics for o in sets)
        _known(where, f"{field}.metric", g.metric, f"a metric {scope} produces", "it produces", metrics)
        sets = [o for o in sets if g.metric in o.metrics]  # a cue, axis or group must come with the metric
        what = f"{g.metric} in {scope}"
        _known(where, f"{field}.cue", g.cue, f"a cue of {what}", "its cues", _union(o.cues for o in sets))
        _known(where, f"{field}.axis", g.axis, f"an axis of {what}", "its axes", _union(o.axes for o in sets))
        groups = _union(grps for o in sets for axis, grps in o.axes.items() if g.axis in (None, axis))
        on_axis = "" if g.axis is None else f" on axis {g.axis}"
        _known(where, f"{field}.group", g.group, f"a group{on_axis} of {what}", "its groups", groups)


def _union(collections: Iterable[Iterable[str]]) -> set[str]:
    return set().union(*collections)


def _known(where: str, field: str, value: str | None, what: str, label: str, known: Collection[str]) -> None:
    """Refuse ``value`` unless it is None or in ``known``, listing (at most 20 of) those."""
    if value is None or value in known:
        return
    listed = sorted(known)
    names = ", ".join(listed[:20]) + (f", … ({len(listed) - 20} more)" if len(listed) > 20 else "")
    raise SpecError(where, field, f"{value!r} is not {what}; {label}: {names or 'none'}")
