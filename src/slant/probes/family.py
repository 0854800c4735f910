"""The contract of a probe family, and the registry a family joins.

A family is one module of this package that ends by registering itself::

    FAMILY = register(Family("iat", IatSet, expand=expand, score=score, disparities=disparities,
                             metrics=(IAT_D, IAT_D_SLANT), requests=requests, axes=axes))

Its functions (the hooks) take any of the parameters :data:`PROTOCOL` lists for them, by those names,
and leave out the ones they do not use; the contract calls every hook with all of them, in that order.
``metrics`` declares every metric the family can write (:class:`~slant.stats.metric.Metric`): reports
and ``slant diff`` read how to draw, format and compare an estimate from these declarations alone.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from slant.datasets import Dataset
from slant.probes.base import Probe, logprob_read
from slant.stats.metric import Kind, Metric
from slant.targets.base import Request

# Each hook and the parameters the contract passes it, in order (``ps``: the probe set, a ``Spec``):
PROTOCOL: dict[str, tuple[str, ...]] = {
    # every probe of a set; ``base`` is the campaign's folder, ``where`` names the set in error messages,
    # ``seed`` is the campaign seed any randomisation must derive from; all input validation happens here
    "expand": ("ps", "base", "where", "seed"),
    "requests": ("probe", "ps", "seed"),  # the calls that score one probe (default: one logprob read)
    # chained calls: the call that follows a stored ``reply`` to ``request`` (None: the chain ends there);
    # the engine sends it once that reply is stored, and only the last call of a chain is scored
    "follow": ("probe", "ps", "request", "reply"),
    "score": ("probe", "ps", "reply"),  # one outcome row (base.Outcome); ``reply`` is None if the call failed
    "disparities": ("frame", "ps"),  # rows of the disparities table from the set's outcomes and probes
    "writes": ("ps",),  # the metrics this set can write (default: every metric the family declares)
    # every axis it can write with the groups (``grp``) on it, given all of the set's probes (default:
    # the probes' scalar attributes and their values); gates are checked against these before any call
    "axes": ("ps", "probes"),
}


def attribute_axes(probes: list[Probe]) -> dict[str, set[str]]:
    """The default axes: each scalar attribute of the probes, with the values it takes."""
    out: dict[str, set[str]] = {}
    for p in probes:
        for k, v in p.attributes.items():
            if not isinstance(v, list | dict):
                out.setdefault(k, set()).add(str(v))
    return out


@dataclass(frozen=True)
class Family:
    """A probe family: its name (the ``family`` of a probe set), the pydantic model of its probe sets in
    campaign files (with ``family: Literal[name]`` and ``name``), its hooks and its metrics."""

    name: str
    Spec: type[BaseModel]
    expand: Callable[..., Iterable[Probe]]
    score: Callable[..., Mapping[str, Any]]
    disparities: Callable[..., list[dict[str, Any]]]
    metrics: tuple[Metric, ...]
    requests: Callable[..., list[Request]] = logprob_read
    axes: Callable[..., dict[str, set[str]]] = attribute_axes
    writes: Callable[..., Iterable[Metric]] | None = None
    follow: Callable[..., Request | None] | None = None
    dataset: Dataset | None = None  # the released data set it reads (benchmark families)
    also_reads: tuple[Dataset, ...] = ()  # further releases in the same format (translations)
    # the outcome and probe columns ``disparities`` reads (None: every one); the others are not held
    # for its statistics (at 100,000 outcomes each column is 0.8 MB)
    columns: tuple[str, ...] | None = None
    doc: str = field(default="", compare=False)  # default: the docstring of the module of ``expand``

    def __post_init__(self) -> None:
        set_ = functools.partial(object.__setattr__, self)
        for hook, params in PROTOCOL.items():
            if getattr(self, hook) is not None:
                set_(hook, _bound(getattr(self, hook), hook, params))
        set_("doc", self.doc or sys.modules[self.expand.__module__].__doc__ or "")

    def written(self, ps: Any) -> set[Metric]:
        """The metrics this probe set can write: its ``writes`` hook, else every declared metric."""
        return set(self.writes(ps) if self.writes else self.metrics)


def _bound(fn: Callable[..., Any], hook: str, params: tuple[str, ...]) -> Callable[..., Any]:
    """``fn`` called with all of the hook's parameters, passing on those it names (a hook bound before,
    e.g. by ``dataclasses.replace`` of a family, is kept as it is)."""
    if getattr(fn, "hook_params", None) == params:
        return fn
    takes = list(inspect.signature(fn).parameters)
    if unknown := [p for p in takes if p not in params]:
        raise TypeError(f"{fn.__qualname__}: {hook} takes {', '.join(params)}, not {', '.join(unknown)}")
    if takes == list(params):
        return fn

    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        given = dict(zip(params, args, strict=True))
        return fn(**{p: given[p] for p in takes})

    call.hook_params = params  # type: ignore[attr-defined]  # marks the wrapper as bound
    return call


FAMILIES: dict[str, Family] = {}  # by name, in the order they registered
METRICS: dict[str, Metric] = {}  # every declared metric, by name
_listeners: list[Callable[[], None]] = []


def register(family: Family) -> Family:
    """Add a family (and its metrics) to the registry; a metric two families write is declared alike."""
    if family.name in FAMILIES:
        raise ValueError(f"a probe family named {family.name!r} is registered already")
    for m in family.metrics:
        if METRICS.get(m.name, m) != m:
            raise ValueError(f"metric {m.name!r} of {family.name!r} differs from its declaration elsewhere")
    FAMILIES[family.name] = family
    METRICS.update((m.name, m) for m in family.metrics)
    _changed()
    return family


def unregister(name: str) -> None:
    """Remove a family, and the metrics no other family declares (tests that register their own)."""
    FAMILIES.pop(name)
    METRICS.clear()
    METRICS.update((m.name, m) for f in FAMILIES.values() for m in f.metrics)
    _changed()


def on_change(listener: Callable[[], None]) -> None:
    """Call ``listener`` whenever a family registers or leaves (the campaign model rebuilds its union)."""
    _listeners.append(listener)


def _changed() -> None:
    for listener in _listeners:
        listener()


def family_of(spec: Any) -> Family:
    """The family of a probe set."""
    return FAMILIES[spec.family]


def metric_of(name: str) -> Metric:
    """A metric's declaration; a name no family declares (a row from an older slant) is a shown,
    untested comparison."""
    return METRICS.get(name) or Metric(name, Kind.COEFFICIENT, name)
