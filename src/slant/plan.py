"""Planning a campaign: every probe set expanded into probes and keyed requests, every input (gates
included) validated, before any model call.

A planned set does not hold a large campaign in memory: a set of at most :data:`KEEP` probes keeps its
expansion, a larger one is expanded again (deterministically: expansion may only use the campaign seed)
each time its probes are read, so that planning, the engine and scoring hold a chunk at a time.
"""

from __future__ import annotations

import array
import itertools
import json
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from slant import store
from slant.errors import SlantError, SpecError
from slant.probes import Outputs, Probe, decision, family_of, outputs
from slant.run import reply_from_row
from slant.spec import Campaign, Gate, ProbeSet
from slant.targets import Request, Target, loglikelihood_unsupported

NARROWING = ("metric", "probe_set", "cue", "axis", "group")  # what a gate may narrow its estimates by
KEEP = 10_000  # a probe set of at most this many probes keeps its expansion in memory
CHUNK = 2_000  # probes read, sent or scored at a time

Keyed = list[tuple[str, Request]]  # a probe's requests with their keys


@dataclass
class PlannedSet:
    """One probe set of a campaign, expanded on demand: its probes, and per probe its keyed requests.

    ``items()`` is the one way to read them (in the order of expansion); ``only`` narrows the set to
    some probes (adaptive looks), ``chained`` holds the follow-up calls of chained probes.
    """

    spec: ProbeSet
    source: Callable[[], Iterable[Probe]]  # the set's probes, expanded anew on each call
    target_id: str
    scope: str
    seed: int
    n_probes: int = 0
    ids: np.ndarray = field(default_factory=lambda: CODES())  # every probe's id as a 64-bit number
    codes: np.ndarray = field(default_factory=lambda: CODES())  # its distinct request keys (key_codes)
    asked: int = 0  # its requests (a key asked by two probes: twice)
    kept: list[tuple[Probe, Keyed]] | None = None  # the expansion, for a set of at most KEEP probes
    only: frozenset[str] | None = None  # probe ids: the set cut down to these probes
    chained: dict[str, Keyed] = field(default_factory=dict)  # probe id → follow-up calls, in order
    after: dict[str, str] = field(default_factory=dict)  # chained calls: request key → its follow-up's key

    def items(self) -> Iterator[tuple[Probe, Keyed]]:
        """Every probe with its keyed requests, chained calls included."""
        for probe, keyed in self.kept if self.kept is not None else self._expanded():
            if self.only is None or probe.id in self.only:
                yield probe, keyed + self.chained.get(probe.id, [])

    def _expanded(self) -> Iterator[tuple[Probe, Keyed]]:
        family = family_of(self.spec)
        for probe in self.source():
            reqs = family.requests(probe, self.spec, self.seed)
            yield probe, [(r.key(self.target_id, self.scope), r) for r in reqs]

    def chunks(self, size: int = CHUNK) -> Iterator[list[tuple[Probe, Keyed]]]:
        """``items()`` a chunk at a time."""
        return _batched(self.items(), size)

    def iter_probes(self) -> Iterator[Probe]:
        """Every probe (without keying its requests)."""
        probes = (p for p, _ in self.kept) if self.kept is not None else self.source()
        return (p for p in probes if self.only is None or p.id in self.only)

    def all_codes(self) -> np.ndarray:
        """The distinct request keys of the set as codes (:func:`key_codes`), chained calls included."""
        chained = key_codes(k for keyed in self.chained.values() for k, _ in keyed)
        return distinct(np.concatenate([self.codes, chained])) if len(chained) else self.codes

    @property
    def probes(self) -> list[Probe]:
        """Every probe of the set, in memory (for a small set; large ones stream with ``items()``)."""
        return list(self.iter_probes())

    @property
    def requests(self) -> dict[str, Keyed]:
        """Probe id → its keyed requests, in memory (for a small set; large ones stream with ``items()``)."""
        return {probe.id: keyed for probe, keyed in self.items()}

    def keys(self) -> Iterator[str]:
        """The request keys of every probe of the set (a key asked by two probes: twice)."""
        return (key for _, keyed in self.items() for key, _ in keyed)

    def restrict(self, probes: Iterable[Probe]) -> PlannedSet:
        """The set cut down to these probes (sharing its chained calls)."""
        cut = PlannedSet(**{**self.__dict__, "only": frozenset(p.id for p in probes)})
        cut.count(_Counts.of(cut.items()))
        return cut

    def count(self, counts: _Counts) -> None:
        """Set the set's numbers of probes and requests, its probe ids and its request key codes."""
        self.n_probes, self.asked = counts.n, counts.asked
        self.ids = np.frombuffer(counts.ids, np.uint64)
        self.codes = distinct(np.frombuffer(counts.keys, np.uint64))


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
        here = f"{where}: probes[{i}]"

        def every(spec: ProbeSet = spec, here: str = here) -> Iterable[Probe]:
            return family_of(spec).expand(spec, base, here, campaign.seed)

        ps = PlannedSet(spec, every, target.id, scope, campaign.seed)
        sets, counts = _SetSizes(), _Counts()
        kept: list[tuple[Probe, Keyed]] | None = []
        loglikelihood = False  # whether the set asks for log-likelihoods (see _check_loglikelihood)
        seen: dict[tuple[Any, ...], Probe] = {}  # what gates read: one probe per scenario and group
        for item in ps._expanded():  # the one pass over a set: validates its inputs, counts its probes
            probe = item[0]
            sets.add(probe.matched_set_id)
            counts.add(item)
            loglikelihood = loglikelihood or any(r.is_loglikelihood for _, r in item[1])
            if kept is not None:
                kept.append(item)
                kept = kept if len(kept) <= KEEP else None
            if campaign.gates:
                attrs = json.dumps(probe.attributes, sort_keys=True, default=str)
                seen.setdefault((probe.scenario_id, probe.cue, probe.condition, attrs), probe)
        _check_loglikelihood(ps, target, loglikelihood)
        produced[spec.name] = outputs(spec, list(seen.values()))
        if sets.contiguous and limit is None:
            ps.kept = kept
        else:  # matched sets in order (each whole, as many as the limit allows): held in memory
            taken = sets.taken(limit)
            grouped: dict[str, list[Probe]] = {s: [] for s in taken}
            for probe in every():
                if probe.matched_set_id in grouped:
                    grouped[probe.matched_set_id].append(probe)
            probes = [p for group in grouped.values() for p in group]
            ps.source = lambda probes=probes: probes  # type: ignore[misc]
            ps.kept = list(ps._expanded())
            counts = _Counts.of(ps.kept)
        ps.count(counts)
        planned.append(ps)
    check_gates(campaign.gates, produced, where)
    return planned


class _Counts:
    """A set's probes and requests counted as they are expanded, probe ids and request keys as 64-bit
    numbers (8 bytes each)."""

    def __init__(self) -> None:
        self.ids, self.keys = array.array("Q"), array.array("Q")
        self.n = self.asked = 0

    def add(self, item: tuple[Probe, Keyed]) -> None:
        self.n += 1
        self.asked += len(item[1])
        self.ids.append(int(item[0].id, 16))
        self.keys.extend(int(k[:16], 16) for k, _ in item[1])

    @staticmethod
    def of(items: Iterable[tuple[Probe, Keyed]]) -> _Counts:
        counts = _Counts()
        for item in items:
            counts.add(item)
        return counts


class _SetSizes:
    """Matched set sizes in order of first appearance, and whether each set came in one run."""

    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}
        self.last: str | None = None
        self.contiguous = True

    def add(self, set_id: str) -> None:
        if set_id != self.last:
            self.contiguous = self.contiguous and set_id not in self.sizes
            self.last = set_id
        self.sizes[set_id] = self.sizes.get(set_id, 0) + 1

    def taken(self, limit: int | None) -> list[str]:
        """The sets of at most ``limit`` probes, whole sets in order (always at least one set)."""
        out: list[str] = []
        n = 0
        for set_id, size in self.sizes.items():
            if limit is not None and out and n + size > limit:
                break
            out.append(set_id)
            n += size
        return out


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


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


def _check_loglikelihood(ps: PlannedSet, target: Target, loglikelihood: bool) -> None:
    """A probe set scored by log-likelihoods (``loglikelihood``: some request of it is one) cannot run
    on a target that cannot give them."""
    if loglikelihood and (why := loglikelihood_unsupported(target)):
        raise SlantError(
            f"probe set {ps.spec.name!r} ({ps.spec.family}) is scored by whole-sequence log-likelihoods, "
            f"which target {target.name!r} cannot give: {why}; use a completions server that echoes "
            "prompt log-probabilities (local, llama.cpp, vLLM)"
        )


def requests_of(planned: list[PlannedSet]) -> dict[str, Request]:
    """Every request of a plan, by key, in memory (adaptive looks and chained rounds: small plans)."""
    return {k: r for ps in planned for _, keyed in ps.items() for k, r in keyed}


def key_codes(keys: Iterable[str]) -> np.ndarray:
    """Request keys (hex) as their first 64 bits, sorted and distinct: a plan's keys counted and
    compared in 8 bytes each."""
    return distinct(np.fromiter((int(k[:16], 16) for k in keys), dtype=np.uint64))


def distinct(codes: np.ndarray) -> np.ndarray:
    """Codes sorted and distinct: ``np.unique``'s result without its hash table (which takes about 50
    bytes a code; this takes 17 beside the input)."""
    out = np.sort(codes)
    keep = np.empty(len(out), dtype=bool)
    keep[:1] = True
    np.not_equal(out[1:], out[:-1], out=keep[1:])
    return out[keep]


def among(codes: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Whether each of ``codes`` is one of ``known`` (sorted and distinct), as booleans."""
    if not len(known):
        return np.zeros(len(codes), dtype=bool)
    at = np.searchsorted(known, codes)
    return known[np.minimum(at, len(known) - 1)] == codes


def CODES() -> np.ndarray:  # noqa: N802
    return np.zeros(0, dtype=np.uint64)


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
        for chunk in ps.chunks():
            unfollowed = [k for _, keyed in chunk for k, _ in keyed if k not in ps.after]
            responses = store.responses_by_key(db, unfollowed)
            for probe, keyed in chunk:
                for key, request in keyed:
                    reply = reply_from_row(responses[key]) if key in responses else None
                    if reply is None or (nxt := family.follow(probe, ps.spec, request, reply)) is None:
                        continue
                    ps.after[key] = nxt_key = nxt.key(target_id, scope)
                    ps.chained.setdefault(probe.id, []).append((nxt_key, nxt))
                    new[nxt_key] = nxt
    return new


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
