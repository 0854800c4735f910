"""``audit()``: campaign file → probes → engine → outcomes → disparities, all stored in one database."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlite_utils

from slant import store
from slant.adaptive import run_looks
from slant.errors import ScoringFailed, check_count, one_line
from slant.probes import Probe, family_of, outputs
from slant.probes.base import USABLE_STATUSES, short_hash
from slant.regress.baseline import capture, provenance
from slant.regress.gates import check_gates
from slant.run import EngineStats, RetryPolicy, execute, reply_from_row
from slant.spec import Campaign, ProbeSet, load_campaign
from slant.stats import degenerate, numerics
from slant.stats.paired import bh_adjust
from slant.store import open_db
from slant.targets import Request, Target, resolve_target

__all__ = ["AuditResult", "audit", "open_db", "plan"]
DISPARITY_COLUMNS = set(store.columns("disparities"))


@dataclass
class PlannedSet:
    """One probe set of a campaign, expanded: its probes and, per probe, its request keys."""

    spec: ProbeSet
    probes: list[Probe]
    requests: dict[str, list[tuple[str, Request]]] = field(
        default_factory=dict
    )  # probe id → [(key, request)]


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

    def outcomes(self) -> pd.DataFrame:
        """Outcomes of this run joined with their probes."""
        db = open_db(self.db_path)
        return pd.DataFrame(db.query("select * from outcomes_full where run_id = ?", [self.run_id]))


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
        planned.append(ps)
    check_gates(campaign.gates, produced, where)
    return planned


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
    """
    check_count("limit", limit)
    check_count("max_connections", max_connections)
    c = campaign if isinstance(campaign, Campaign) else load_campaign(campaign)
    overrides = {"max_connections": max_connections, "prefill": prefill}
    c = c.model_copy(update={k: v for k, v in overrides.items() if v})
    db_path = Path(db or c.db)
    tgt = resolve_target(target or c.target, base_url or c.base_url, c.prefill, c.timeout)
    if fresh:
        scope = f"{c.name}@{datetime.now(UTC).isoformat(timespec='seconds')}"
    scope = scope or c.name
    planned = plan(c, tgt, limit, scope)  # every input is validated here, before any model call
    all_requests = {k: r for ps in planned for reqs in ps.requests.values() for k, r in reqs}
    probe_ids = sorted(p.id for ps in planned for p in ps.probes)
    run_id = short_hash(c.name, tgt.id, scope, probe_ids)[:12]
    n_probes = len(probe_ids)
    if dry_run:
        done = store.done_keys(open_db(db_path), all_requests) if db_path.exists() else set()
        by_set = {ps.spec.name: _counts(ps, done) for ps in planned}
        return AuditResult(
            run_id,
            db_path,
            "dry-run",
            n_probes,
            len(all_requests),
            len(done),
            None,
            pd.DataFrame(),
            by_set=by_set,
        )

    sdb = open_db(db_path)
    pending = len(all_requests) - len(store.done_keys(sdb, all_requests))
    if not pending and _finished_as_is(sdb, run_id, c):
        # A rerun of a complete run with nothing to send: its outcomes and statistics stand as stored.
        rows = pd.DataFrame(sdb.query("select * from disparities where run_id = ?", [run_id]))
        stats = EngineStats(requested=len(all_requests), cached=len(all_requests))
        notes = provenance(sdb, run_id).get("notes", [])
        return AuditResult(
            run_id, db_path, "complete", n_probes, len(all_requests), stats.cached, stats, rows, notes
        )
    _record_run(sdb, c, tgt, planned, run_id, scope, len(all_requests))
    stats = EngineStats(requested=len(all_requests))
    try:
        if c.adaptive:
            planned, stats = asyncio.run(_execute_adaptive(sdb, tgt, planned, scope, c, progress, run_id))
            all_requests = {k: r for ps in planned for reqs in ps.requests.values() for k, r in reqs}
            n_probes = sum(len(ps.probes) for ps in planned)
            _record_target(sdb, tgt)
        elif pending:
            stats = asyncio.run(_execute(sdb, tgt, all_requests, scope, c, progress))
            _record_target(sdb, tgt)  # now with what the server reported about itself
        else:
            stats.cached = len(all_requests)
    except BaseException as e:
        interrupted = not isinstance(e, Exception)  # Ctrl-C, SIGTERM
        status = "interrupted" if interrupted else "failed"
        message = None if interrupted else one_line(e)
        sdb.table("runs").update(run_id, {"status": status, "finished": store.now(), "message": message})
        raise
    try:
        disparities = _score_and_compare(sdb, run_id, planned)
    except Exception as e:
        message = f"scoring failed: {one_line(e)}"
        sdb.table("runs").update(run_id, {"status": "failed", "finished": store.now(), "message": message})
        raise ScoringFailed(
            f"run {run_id}: {message}. This is a bug in slant; every reply is stored, so once it is fixed, "
            "rerunning the same command rescores them from the cache without new calls (--debug: traceback)"
        ) from e
    status = _run_status(sdb, run_id, all_requests)
    notes = _record_served(sdb, run_id, tgt)
    prov = json.dumps({**capture(sdb, run_id), **({"notes": notes} if notes else {})})
    sdb.table("runs").update(run_id, {"status": status, "finished": store.now(), "provenance": prov})
    return AuditResult(
        run_id, db_path, status, n_probes, len(all_requests), stats.cached, stats, disparities, notes
    )


def _counts(ps: PlannedSet, done: set[str]) -> dict[str, int]:
    """A probe set's probes, requests and requests already answered (``done``)."""
    keys = [k for reqs in ps.requests.values() for k, _ in reqs]
    return {"probes": len(ps.probes), "requests": len(keys), "cached": len(done.intersection(keys))}


async def _execute(
    db: sqlite_utils.Database,
    target: Target,
    requests: dict[str, Request],
    scope: str,
    c: Campaign,
    progress: bool,
) -> EngineStats:
    async with target:
        return await _send(db, target, requests, scope, c, progress)


async def _send(
    db: sqlite_utils.Database,
    target: Target,
    requests: dict[str, Request],
    scope: str,
    c: Campaign,
    progress: bool,
) -> EngineStats:
    """The engine with the campaign's settings, on a target that is already open."""
    return await execute(
        db,
        target,
        requests,
        scope=scope,
        max_connections=c.max_connections,
        retry=RetryPolicy(max_retries=c.max_retries),
        timeout=c.timeout,
        progress=progress,
    )


async def _execute_adaptive(
    db: sqlite_utils.Database,
    target: Target,
    planned: list[PlannedSet],
    scope: str,
    c: Campaign,
    progress: bool,
    run_id: str,
) -> tuple[list[PlannedSet], EngineStats]:
    """Ask matched sets batch by batch until each probe set's gaps are decided (see slant.adaptive);
    the run keeps only the probes it asked, and the looks are logged in ``runs.adaptive``."""
    total = EngineStats()

    async def send(requests: dict[str, Request]) -> None:
        s = await _send(db, target, requests, scope, c, progress)
        for name in ("sent", "attempts", "succeeded", "failed", "seconds", "shared"):
            setattr(total, name, getattr(total, name) + getattr(s, name))
        total.shared_with += [w for w in s.shared_with if w not in total.shared_with]

    def restrict(ps: PlannedSet, probes: list[Probe]) -> PlannedSet:
        return PlannedSet(ps.spec, probes, {p.id: ps.requests[p.id] for p in probes})

    assert c.adaptive is not None, "only an adaptive campaign is run in looks"
    async with target:
        used, log = await run_looks(
            planned, c.adaptive, send, lambda cur: _score_and_compare(db, run_id, cur), restrict
        )
    n_requests = sum(len(reqs) for ps in used for reqs in ps.requests.values())
    total.requested, total.cached = n_requests, n_requests - total.sent - total.shared
    with db.atomic():
        db.execute("delete from run_probes where run_id = ?", [run_id])
        store.upsert(
            db,
            "run_probes",
            (
                {"run_id": run_id, "probe_id": p.id, "probe_set": ps.spec.name}
                for ps in used
                for p in ps.probes
            ),
        )
        db.table("runs").update(
            run_id,
            {
                "adaptive": json.dumps(log),
                "n_probes": sum(len(ps.probes) for ps in used),
                "n_requests": n_requests,
            },
        )
    return used, total


def _record_target(db: sqlite_utils.Database, target: Target) -> None:
    d = target.describe()
    store.upsert(
        db,
        "targets",
        [
            {
                "id": target.id,
                "name": target.name,
                "provider": d["provider"],
                "model": d["model"],
                "base_url": d["base_url"],
                "prefill_mode": d["prefill_mode"],
                "server": d["server"],
                "client": d["client"],
            }
        ],
    )


def _record_served(db: sqlite_utils.Database, run_id: str, target: Target) -> list[str]:
    """Store the model name(s) the server reported on the target's row; return a note for each way the
    target's label differs from where its calls went (a server reporting another model name, an
    ``openai/…`` label sent to another URL). Notes never fail a run: servers report aliases and paths."""
    d = target.describe()
    served = store.served_models(db, run_id)
    if served:
        db.table("targets").update(target.id, {"served_model": ", ".join(served)})
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


def _record_run(
    db: sqlite_utils.Database,
    c: Campaign,
    target: Target,
    planned: list[PlannedSet],
    run_id: str,
    scope: str,
    n_requests: int,
) -> None:
    with db.atomic():
        if not db.table("targets").count_where("id = ?", [target.id]):
            _record_target(db, target)
        for ps in planned:
            store.upsert(db, "probes", (p.row() for p in ps.probes))
            store.upsert(
                db,
                "run_probes",
                ({"run_id": run_id, "probe_id": p.id, "probe_set": ps.spec.name} for p in ps.probes),
            )
        existing = db.table("runs").count_where("id = ?", [run_id])
        row = {
            "id": run_id,
            "campaign": c.name,
            "campaign_hash": c.content_hash,
            "target_id": target.id,
            "scope": scope,
            "slant_version": importlib.metadata.version("slant"),
            "status": "running",
            "message": None,
            "n_probes": sum(len(ps.probes) for ps in planned),
            "n_requests": n_requests,
            "config": c.model_dump(mode="json"),
        }
        if not existing:
            row["started"] = store.now()
        store.upsert(db, "runs", [row])


def _finished_as_is(db: sqlite_utils.Database, run_id: str, c: Campaign) -> bool:
    """The run completed before with this campaign file and this slant version (so scoring would repeat
    itself exactly)."""
    row = next(
        iter(db.query("select status, slant_version, campaign_hash from runs where id = ?", [run_id])), None
    )
    return (
        row is not None
        and row["status"] == "complete"
        and row["slant_version"] == importlib.metadata.version("slant")
        and row["campaign_hash"] == c.content_hash
        and bool(c.content_hash)
    )


def _count_errors(db: sqlite_utils.Database, requests: dict[str, Request]) -> int:
    return len(requests) - len(store.done_keys(db, requests))


def _run_status(db: sqlite_utils.Database, run_id: str, requests: dict[str, Request]) -> str:
    """``incomplete``: calls failed (rerun to retry); ``unusable``: every call answered but no outcome
    could be scored (a server that drops logprobs); ``complete``: answered, with usable outcomes."""
    if _count_errors(db, requests):
        return "incomplete"
    usable = db.execute(
        f"select count(*) from outcomes where run_id = ? and parse_status in {USABLE_STATUSES}", [run_id]
    ).fetchone()[0]
    return "complete" if usable else "unusable"


def _score_and_compare(db: sqlite_utils.Database, run_id: str, planned: list[PlannedSet]) -> pd.DataFrame:
    """Score every stored response into outcomes, then write the run's disparity rows."""
    all_rows: list[dict[str, Any]] = []
    for ps in planned:
        keys = [k for reqs in ps.requests.values() for k, _ in reqs]
        responses = store.responses_by_key(db, keys)
        outcomes, frame = [], []
        for probe in ps.probes:
            for key, request in ps.requests[probe.id]:
                row = responses.get(key)
                if row is None:
                    continue  # never sent (interrupted): not an outcome yet
                o = {
                    "run_id": run_id,
                    "probe_set": ps.spec.name,
                    "probe_id": probe.id,
                    "sample": request.sample,
                    "request_key": key,
                    **family_of(ps.spec).score(probe, ps.spec, reply_from_row(row)),
                }
                outcomes.append(o)
                frame.append({**o, **_probe_columns(probe)})
        with db.atomic():
            db.execute("delete from outcomes where run_id = ? and probe_set = ?", [run_id, ps.spec.name])
            store.upsert(db, "outcomes", outcomes)
        if not frame:
            continue
        # a numerical warning no estimator noted itself goes into the rows' method, not onto stderr
        rows = numerics.recorded(family_of(ps.spec).disparities)(pd.DataFrame(frame), ps.spec)
        ids = {"run_id": run_id, "family": ps.spec.family, "probe_set": ps.spec.name}
        all_rows += [_disparity_row(ids, degenerate.settle(r)) for r in rows]
    _adjust_p(all_rows)
    with db.atomic():
        db.execute("delete from disparities where run_id = ?", [run_id])
        store.upsert(db, "disparities", all_rows)
    return pd.DataFrame(all_rows)


def _disparity_row(keys: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """A row of the disparities table: estimator-specific keys go to ``extra``; ``reference`` is part of
    the key, so it is "" where a metric has none (a group may be compared with several references)."""
    out = {**keys, "reference": row.get("reference") or ""}
    extra = {}
    for k, v in row.items():
        if k == "reference":
            continue
        if k in DISPARITY_COLUMNS:
            out[k] = v
        else:
            extra[k] = v
    out["extra"] = extra or None
    return out


def _adjust_p(rows: list[dict[str, Any]]) -> None:
    """Benjamini-Hochberg within each probe family of the run (the family of tests), beside raw p."""
    for family in {r["family"] for r in rows}:
        mine = [r for r in rows if r["family"] == family]
        for r, adj in zip(mine, bh_adjust([r.get("p") for r in mine]), strict=True):
            r["p_adj"] = adj


def _probe_columns(probe: Probe) -> dict[str, Any]:
    """What a family's ``disparities`` sees of a probe beside its outcome."""
    return {
        "scenario_id": probe.scenario_id,
        "cue": probe.cue,
        "condition": probe.condition,
        "matched_set_id": probe.matched_set_id,
        "swap_set_id": probe.swap_set_id,
        **probe.attributes,
    }
