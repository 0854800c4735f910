"""The audit pipeline: plan → execute → score → compare, every step stored in the campaign's database.

:func:`audit` is the one entry point, for ``slant.audit`` and for scheduled audits
(:mod:`slant.regress.check`). Planning is :mod:`slant.plan`, scoring :mod:`slant.scoring`, the engine
:mod:`slant.run`, and every read and write of the database :mod:`slant.store`.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlite_utils

from slant import cost, store
from slant.adaptive import run_looks
from slant.cost import Meter, Prices
from slant.errors import ScoringFailed, SpecError, check_count, one_line
from slant.plan import CHUNK, CODES, PlannedSet, among, distinct, follow_ups, key_codes, plan
from slant.probes import family_of
from slant.probes.base import USABLE_STATUSES
from slant.run import EngineStats, RetryPolicy, execute
from slant.scoring import score_and_compare
from slant.spec import Campaign, load_campaign
from slant.store import open_db
from slant.targets import Request, Target, resolve_target


@dataclass
class AuditResult:
    """What ``audit()`` returns: counts, status and the per-group disparity table."""

    run_id: str
    db_path: Path
    status: str  # complete · incomplete (some calls failed; rerun to resume) · dry-run
    n_probes: int
    n_requests: int
    n_cached: int
    engine: EngineStats | None
    disparities: pd.DataFrame
    notes: list[str] = field(default_factory=list)  # warnings about where calls went (also in provenance)
    by_set: dict[str, dict[str, int]] = field(default_factory=dict)  # dry run: probes, requests, cached
    # tokens (slant.cost.run_tokens): per probe set, the run, cost saved; a dry run: the estimate
    tokens: dict[str, Any] = field(default_factory=dict)

    def outcomes(self) -> pd.DataFrame:
        """Outcomes of this run joined with their probes."""
        return pd.DataFrame(store.outcomes_of(open_db(self.db_path), self.run_id))


def audit(
    campaign: str | Path | Campaign,
    *,
    target: str | None = None,
    base_url: str | None = None,
    db: str | Path | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    fresh: bool = False,
    scope: str | None = None,
    progress: bool = True,
    max_connections: int | None = None,
    prefill: str | None = None,
    send: bool = True,
    prices: Prices | dict[str, float] | None = None,
) -> AuditResult:
    """Run (or resume) a campaign and store everything in its database.

    Args:
        campaign: a campaign file or a loaded Campaign.
        target: overrides the campaign's target (``local``, ``openai/<model>``, ``vllm/<model>`` …).
        base_url: overrides the campaign's base URL.
        db: overrides the campaign's database path.
        limit: at most this many probes per probe set, keeping matched sets whole.
        dry_run: count probes and calls (and what is cached) without sending anything.
        fresh: use a new cache scope so that nothing is reused (a new run).
        scope: name the cache scope (default: the campaign name): a run with a new scope sends every
            call again, a rerun with the same scope resumes (scheduled audits use campaign@date).
        progress: show a progress bar.
        max_connections: overrides the campaign's number of concurrent requests.
        prefill: overrides how the target sends assistant prefills (auto, chatml, continue, none).
        send: False scores what is stored without sending anything (replies imported from a batch).
        prices: overrides the campaign's ``prices`` (USD per 1M prompt, completion, cached tokens).
    """
    check_count("limit", limit)
    check_count("max_connections", max_connections)
    c = campaign if isinstance(campaign, Campaign) else load_campaign(campaign)
    overrides = {"max_connections": max_connections, "prefill": prefill, "prices": cost.prices_of(prices)}
    c = c.model_copy(update={k: v for k, v in overrides.items() if v})
    cost.check_budget(c)
    db_path = Path(db or c.db)
    tgt = resolve_target(target or c.target, base_url or c.base_url, c.prefill, c.timeout)
    if fresh:
        scope = f"{c.name}@{datetime.now(UTC).isoformat(timespec='seconds')}"
    scope = scope or c.name
    planned = plan(c, tgt, limit, scope)  # every input is validated here, before any model call
    # a family's sets chain when it has a follow hook, unless the set says otherwise (usage: ``chained``)
    chains = [
        ps.spec.name for ps in planned if family_of(ps.spec).follow and getattr(ps.spec, "chained", True)
    ]
    if c.adaptive and (chained := chains):
        problem = f"probe set {chained[0]!r} asks in chained calls, which adaptive runs do not support"
        raise SpecError(str(c.path or c.name), "adaptive", problem)
    run_id = run_id_of(c.name, tgt.id, scope, planned)
    n_probes = sum(ps.n_probes for ps in planned)
    if dry_run:
        tallies = {
            ps.spec.name: _tally(open_db(db_path) if db_path.exists() else None, [ps]) for ps in planned
        }
        by_set = {
            ps.spec.name: {
                "probes": ps.n_probes,
                "requests": ps.asked,
                "cached": len(tallies[ps.spec.name].done),
            }
            for ps in planned
        }
        total = _tally(open_db(db_path) if db_path.exists() else None, planned)
        n, cached = len(total.codes), len(total.done)
        estimate = cost.dry_run_estimate(planned, total.done, tgt, c.prices)
        return AuditResult(
            run_id, db_path, "dry-run", n_probes, n, cached, None, pd.DataFrame(), [], by_set, estimate
        )

    sdb = open_db(db_path)
    _stored_chains(sdb, planned, tgt.id, scope)
    tally = _tally(sdb, planned)
    if not tally.pending and _finished_as_is(sdb, run_id, c):
        # A rerun of a complete run with nothing to send: its outcomes and statistics stand as stored.
        rows = pd.DataFrame(store.disparities_of(sdb, run_id))
        n = len(tally.codes)
        stats = EngineStats(requested=n, cached=n)
        notes = store.provenance(sdb, run_id).get("notes", [])
        result = AuditResult(run_id, db_path, "complete", n_probes, n, stats.cached, stats, rows, notes)
        result.tokens = json.loads((store.run_row(sdb, run_id) or {}).get("tokens") or "{}")
        return result
    row = _run_row(c, tgt, planned, run_id, scope, len(tally.codes))
    store.record_run(sdb, row, tgt, {ps.spec.name: ps.iter_probes() for ps in planned})
    stats = EngineStats(requested=len(tally.codes))
    meter = cost.meter_for(sdb, c, (k for k, _ in _distinct(planned, tally.codes)))
    asked = planned  # adaptive runs narrow the plan to what they asked
    try:
        if c.adaptive:
            sending = _execute_adaptive(sdb, tgt, planned, scope, c, progress, run_id, meter)
            asked, stats = asyncio.run(sending)
            n_probes = sum(ps.n_probes for ps in asked)
            store.record_target(sdb, tgt)
        elif tally.pending and send:
            stats = asyncio.run(_execute(sdb, tgt, planned, tally, scope, c, progress, meter))
            store.record_target(sdb, tgt)  # now with what the server reported about itself
        else:
            stats.cached = len(tally.codes)
    except BaseException as e:
        interrupted = not isinstance(e, Exception)  # Ctrl-C, SIGTERM
        status = "interrupted" if interrupted else "failed"
        store.finish_run(sdb, run_id, status, message=None if interrupted else one_line(e))
        raise
    try:
        disparities = score_and_compare(sdb, run_id, asked)
    except Exception as e:
        message = f"scoring failed: {one_line(e)}"
        store.finish_run(sdb, run_id, "failed", message=message)
        raise ScoringFailed(
            f"run {run_id}: {message}. This is a bug in slant; every reply is stored, so once it is fixed, "
            "rerunning the same command rescores them from the cache without new calls (--debug: traceback)"
        ) from e
    tally = _tally(sdb, asked)  # with the chained calls sent meanwhile
    status = _run_status(sdb, run_id, tally.pending)
    notes = _record_served(sdb, run_id, tgt)
    tokens = cost.run_tokens(sdb, planned, asked, c, tally.codes)
    prov = json.dumps({**store.capture_provenance(sdb, run_id), **({"notes": notes} if notes else {})})
    if stopped := cost.budget_message(c, meter, stats.over_budget):
        tokens["stopped"] = stopped
    store.finish_run(sdb, run_id, status, provenance=prov, tokens=json.dumps(tokens), message=stopped)
    result = AuditResult(
        run_id, db_path, status, n_probes, len(tally.codes), stats.cached, stats, disparities, notes
    )
    result.tokens = tokens
    return result


@dataclass
class _Tally:
    """The distinct request keys of planned sets as codes (:func:`slant.plan.key_codes`), and those
    with a successful response."""

    codes: np.ndarray
    done: np.ndarray

    @property
    def pending(self) -> int:
        return len(self.codes) - len(self.done)


def _tally(db: sqlite_utils.Database | None, planned: list[PlannedSet]) -> _Tally:
    """The request keys of planned sets and which of them are answered in ``db``."""
    parts = [ps.all_codes() for ps in planned]
    codes = parts[0] if len(parts) == 1 else distinct(np.concatenate([CODES(), *parts]))
    answered = key_codes(store.answered_keys(db)) if db is not None else codes[:0]
    return _Tally(codes, codes[among(codes, answered)])


def run_id_of(name: str, target_id: str, scope: str, planned: list[PlannedSet]) -> str:
    """A run's id: ``short_hash(name, target_id, scope, sorted ids of every probe)[:12]``, the ids held
    as 64-bit numbers."""
    ids = np.concatenate([CODES(), *(ps.ids for ps in planned)])
    ids.sort()
    h = hashlib.sha256(json.dumps([name, target_id, scope], sort_keys=True)[:-1].encode() + b", [")
    for i in range(0, len(ids), CHUNK):
        part = ", ".join(f'"{c:016x}"' for c in ids[i : i + CHUNK].tolist())
        h.update(f"{', ' if i else ''}{part}".encode())
    h.update(b"]]")
    return h.hexdigest()[:12]


def _run_row(
    c: Campaign, target: Target, planned: list[PlannedSet], run_id: str, scope: str, n_requests: int
) -> dict[str, Any]:
    """The ``runs`` row of a run about to be sent (status and times are the store's)."""
    return {
        "id": run_id,
        "campaign": c.name,
        "campaign_hash": c.content_hash,
        "target_id": target.id,
        "scope": scope,
        "slant_version": importlib.metadata.version("slant"),
        "n_probes": sum(ps.n_probes for ps in planned),
        "n_requests": n_requests,
        "config": c.model_dump(mode="json"),
    }


async def _execute(
    db: sqlite_utils.Database,
    target: Target,
    planned: list[PlannedSet],
    tally: _Tally,
    scope: str,
    c: Campaign,
    progress: bool,
    meter: Meter | None = None,
) -> EngineStats:
    """Send the plan's pending requests (streamed), then the chained calls that follow their replies,
    round by round."""
    async with target:
        stats = await _send(
            db, target, _distinct(planned, tally.codes), scope, c, progress, meter, tally.pending
        )
        while chained := follow_ups(db, planned, target.id, scope):
            more = await _send(db, target, chained, scope, c, progress, meter)
            _add(stats, more)
            stats.requested, stats.cached = stats.requested + more.requested, stats.cached + more.cached
        return stats


def _distinct(planned: list[PlannedSet], codes: np.ndarray) -> Iterator[tuple[str, Request]]:
    """Every request of a plan once (``codes``: the plan's key codes, sorted), in the plan's order."""
    seen = np.zeros(len(codes), dtype=bool)
    for ps in planned:
        for chunk in ps.chunks():
            keyed = [kr for _, pairs in chunk for kr in pairs]
            at = np.searchsorted(codes, np.fromiter((int(k[:16], 16) for k, _ in keyed), dtype=np.uint64))
            for kr, i in zip(keyed, at.tolist(), strict=True):
                if not seen[i]:
                    seen[i] = True
                    yield kr


def _add(total: EngineStats, more: EngineStats) -> None:
    """Add the calls of another round of sending to ``total``."""
    for name in ("sent", "attempts", "succeeded", "failed", "seconds", "shared", "over_budget"):
        setattr(total, name, getattr(total, name) + getattr(more, name))
    for kind, n in more.errors.items():
        total.errors[kind] = total.errors.get(kind, 0) + n
    total.shared_with += [w for w in more.shared_with if w not in total.shared_with]


def _stored_chains(
    db: sqlite_utils.Database, planned: list[PlannedSet], target_id: str, scope: str
) -> dict[str, Request]:
    """Add to the plan (and return) the chained calls that follow replies stored before (a rerun),
    round by round while every call of a round is stored too; the calls of the last round found may
    still have to be sent."""
    found: dict[str, Request] = {}
    while chained := follow_ups(db, planned, target_id, scope):
        found |= chained
        if len(store.done_keys(db, chained)) < len(chained):
            break
    return found


async def _send(
    db: sqlite_utils.Database,
    target: Target,
    requests: Mapping[str, Request] | Iterable[tuple[str, Request]],
    scope: str,
    c: Campaign,
    progress: bool,
    meter: Meter | None = None,
    pending: int | None = None,
) -> EngineStats:
    """The engine with the campaign's settings, on a target that is already open."""
    return await execute(
        db,
        target,
        requests,
        pending=pending,
        scope=scope,
        max_connections=c.max_connections,
        retry=RetryPolicy(max_retries=c.max_retries),
        timeout=c.timeout,
        progress=progress,
        meter=meter,
    )


async def _execute_adaptive(
    db: sqlite_utils.Database,
    target: Target,
    planned: list[PlannedSet],
    scope: str,
    c: Campaign,
    progress: bool,
    run_id: str,
    meter: Meter | None = None,
) -> tuple[list[PlannedSet], EngineStats]:
    """Ask matched sets batch by batch until each probe set's gaps are decided (see slant.adaptive);
    the run keeps only the probes it asked, and the looks are logged in ``runs.adaptive``."""
    total = EngineStats()

    async def send(requests: dict[str, Request]) -> None:
        _add(total, await _send(db, target, requests, scope, c, progress, meter))

    assert c.adaptive is not None, "only an adaptive campaign is run in looks"
    async with target:
        used, log = await run_looks(
            planned, c.adaptive, send, lambda cur: score_and_compare(db, run_id, cur), PlannedSet.restrict
        )
    n_requests = sum(len(keyed) for ps in used for _, keyed in ps.items())
    total.requested, total.cached = n_requests, n_requests - total.sent - total.shared
    fields = {
        "adaptive": json.dumps(log),
        "n_probes": sum(ps.n_probes for ps in used),
        "n_requests": n_requests,
    }
    store.narrow_run(db, run_id, {ps.spec.name: ps.iter_probes() for ps in used}, fields)
    return used, total


def _record_served(db: sqlite_utils.Database, run_id: str, target: Target) -> list[str]:
    """Store the model name(s) the server reported on the target's row; return a note for each way the
    target's label differs from where its calls went (a server reporting another model name, an
    ``openai/…`` label sent to another URL). Notes never fail a run: servers report aliases and paths."""
    d = target.describe()
    served = store.served_models(db, run_id)
    if served:
        store.record_served(db, target.id, served)
    notes = []
    if other := [m for m in served if m != d["model"]]:
        notes.append(
            f"target {target.name}: the server at {d['base_url']} reported model {', '.join(other)}, "
            f"not {d['model']} (stored as served_model)"
        )
    if d["provider"] != target.name.partition("/")[0]:
        notes.append(
            f"target {target.name}: calls went to {d['base_url']}, not the hosted API "
            f"(recorded as provider {d['provider']})"
        )
    return notes


def _finished_as_is(db: sqlite_utils.Database, run_id: str, c: Campaign) -> bool:
    """The run completed before with this campaign file and this slant version (so scoring would repeat
    itself exactly)."""
    row = store.run_row(db, run_id)
    return (
        row is not None
        and row["status"] == "complete"
        and row["slant_version"] == importlib.metadata.version("slant")
        and row["campaign_hash"] == c.content_hash
        and bool(c.content_hash)
    )


def _run_status(db: sqlite_utils.Database, run_id: str, unanswered: int) -> str:
    """``incomplete``: calls failed (rerun to retry); ``unusable``: every call answered but no outcome
    could be scored (a server that drops logprobs); ``complete``: answered, with usable outcomes."""
    if unanswered:
        return "incomplete"
    return "complete" if store.count_usable(db, run_id, USABLE_STATUSES) else "unusable"
