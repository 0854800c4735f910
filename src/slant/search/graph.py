"""Where does a model's bias show? A search over decision-scenario variants, then a separate confirmation.

    propose ─► probe ─► estimate ─► select ─┬─► propose (the next step)
                                            └─► confirm ─► END (budget spent, nothing improved, or
                                                                nothing left to propose)

- propose: at step 0 the seeds (each campaign scenario × each axis, the other attributes drawn; at
  most half the search's calls, domains and axes in turn); then
  the moves (:mod:`slant.search.variants`) around the ``width`` best variants of the frontier, at most
  ``per_step`` new variants a step, taking the dimensions in turn. Every moved text passes the
  generation verifier's code checks; a variant already proposed is never proposed again.
- probe: ``sets`` matched sets of each variant through the engine (cached: a replayed step sends
  nothing), as long as the search's part of the budget lasts.
- estimate: each probed variant's paired gap and 95% interval (:mod:`slant.search.estimate`).
- select: rank the frontier by score; stop after ``patience`` steps without a better score.
- confirm: the ``confirm`` best findings of distinct regions whose interval excludes 0, each asked on
  ``confirm_sets`` fresh matched sets (wordings, names and reference numbers the search never drew),
  a one-sided paired t-test in the search's direction, Holm over the findings tested.

Everything each node does is written to the database (:mod:`slant.search.records`) as it happens.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, replace
from functools import partial
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, Field

from slant import store
from slant.agents import generate
from slant.agents.components import delimit
from slant.agents.gateway import Gateway
from slant.agents.verifier import Verdict, parse_draft
from slant.probes import decision
from slant.probes.base import ParseStatus
from slant.prompts import load_prompt
from slant.run import reply_from_row
from slant.search.estimate import estimate, holm, one_sided_p
from slant.search.records import Records
from slant.search.variants import (
    DIMENSIONS,
    MatchedSet,
    Move,
    Space,
    Variant,
    Wording,
    matched_set,
    neighbours,
    seeds,
    split_case,
    verify_text,
)


class SearchConfig(BaseModel):
    """Knobs of a search (all part of the search's id: another setting is another search)."""

    budget: int = Field(ge=1, description="model calls for search and confirmation together")
    sets: int = Field(3, ge=2, description="matched sets per variant in the search")
    confirm: int = Field(3, ge=1, description="findings re-tested on fresh matched sets")
    confirm_sets: int = Field(8, ge=2, description="fresh matched sets per finding")
    alpha: float = Field(0.05, gt=0, lt=1, description="family-wise error rate of the confirmation")
    width: int = Field(2, ge=1, description="frontier variants whose neighbours are proposed each step")
    per_step: int = Field(8, ge=1, description="new variants probed per step at most")
    patience: int = Field(3, ge=1, description="steps without a better score before stopping")
    seed: int = Field(0, description="seeds every draw of the search and of the confirmation")


@dataclass
class Ctx:
    cfg: SearchConfig
    space: Space
    wording: Wording
    ps: decision.DecisionSet  # how probes are scored (the campaign's first decision set)
    llm: Gateway
    rec: Records
    per_probe: int  # requests that score one probe
    rewriter: Gateway | None = None  # a model good enough to reword scenarios (off: code moves only)
    prior: dict[tuple[str, str, str], float] | None = None  # an earlier audit's gaps (search.prior)

    def cost(self, n_sets: int) -> int:
        return n_sets * 2 * self.per_probe

    @property
    def first_step(self) -> int:
        """Seeds probed at step 0: at most half the search's calls, so that moves follow."""
        return max(1, (self.cfg.budget - self.reserve) // 2 // self.cost(self.cfg.sets))

    @property
    def reserve(self) -> int:
        """Calls kept for the confirmation."""
        return self.cfg.confirm * self.cost(self.cfg.confirm_sets)


class State(TypedDict, total=False):
    step: int
    proposed: list[dict]  # this step's verified moves: {variant, parent, dimension, change}
    probed: list[str]  # variant ids probed this step
    frontier: list[dict]  # every estimated variant, best first
    seen: Annotated[list[str], operator.add]  # every variant id ever proposed
    used: int  # search calls so far (distinct requests, cached ones included)
    best: float | None
    stale: int
    stop: str
    tested: list[dict]  # the confirmation's rows, one per finding tested


# --- nodes --------------------------------------------------------------------------------------


def propose(state: State, ctx: Ctx) -> dict:
    """Seeds first; then the moves around the best variants of the frontier, dimensions in turn."""
    step, seen = state.get("step", 0), set(state.get("seen", []))
    candidates = [(m, None) for m in seeds(ctx.space, ctx.prior)] if step == 0 else _around(state, ctx, seen)
    kept: list[dict[str, Any]] = []
    rows, new_ids = [], []
    for move, parent in candidates:
        v = move.variant
        if v.id in seen or v.id in new_ids:
            continue
        new_ids.append(v.id)
        verdict = check(v, ctx)
        rows.append(_variant_row(step, move, parent, verdict))
        if verdict.ok:
            kept.append(
                {"variant": v.to_dict(), "parent": parent, "dimension": move.dimension, "change": move.change}
            )
        if len(kept) >= (ctx.first_step if step == 0 else ctx.cfg.per_step):
            break
    ctx.rec.put("search_variants", rows)
    parents = sorted({str(k["parent"]) for k in kept if k["parent"]})
    ctx.rec.step(step, "propose", 0, proposed=len(rows), verified=len(kept), parents=parents)
    return {"proposed": kept, "seen": new_ids, "step": step}


def check(v: Variant, ctx: Ctx) -> Verdict:
    """The generation verifier: its code checks (no near-duplicate of another base scenario), and for a
    model's rewrite also the model's judgement that a real institution makes this decision."""
    others = {s.id: s.text for s in ctx.space.scenarios.values() if s.id != v.scenario}
    if ctx.rewriter is None or not any(e.startswith("rewrite:") for e in v.edits):
        return verify_text(v.text, others)
    gctx = generate.Ctx(ctx.rewriter, generate.GenerateConfig(review=False))
    return generate.verify(parse_draft(v.text), gctx, others)


def rewrite(v: Variant, ctx: Ctx, attempt: int) -> Move | None:
    """The model's rewording of a variant's text (None when the call failed)."""
    assert ctx.rewriter is not None
    case, question = split_case(v.text)
    prompt = load_prompt("search/rewrite.md").format(case=delimit(f"{case}\n{question}"))
    answer = ctx.rewriter.ask(
        "rewrite",
        (("system", load_prompt("generate/system.md")), ("user", prompt)),
        max_tokens=2 * len(v.text.split()) + 40,
        prefill=load_prompt("search/rewrite-prefill.txt"),
        temperature=0.7 if attempt else 0.0,
        seed=attempt,
    )
    if answer.text is None:
        return None
    text = parse_draft(answer.text).text
    return Move(
        replace(v, text=text, edits=(*v.edits, f"rewrite:{attempt}")), "wording", f"model rewrite {attempt}"
    )


def _around(state: State, ctx: Ctx, seen: set[str]) -> list[tuple[Move, str | None]]:
    """Unseen moves of the ``width`` best frontier variants that have any, round-robin by dimension
    (then by parent), so each step tries every dimension."""
    queues = []
    for entry in state.get("frontier", []):
        if entry.get("score") is None:
            continue
        moves = neighbours(Variant.from_dict(entry["variant"]), ctx.space)
        if ctx.rewriter is not None:
            model = rewrite(Variant.from_dict(entry["variant"]), ctx, state.get("step", 0))
            moves["wording"] = [m for m in [model] if m] + moves["wording"]
        left = {d: [m for m in moves[d] if m.variant.id not in seen] for d in DIMENSIONS}
        if any(left.values()):
            queues.append((entry["id"], left))
        if len(queues) == ctx.cfg.width:
            break
    out: list[tuple[Move, str | None]] = []
    while any(q for _, left in queues for q in left.values()):
        for d in DIMENSIONS:
            for parent, left in queues:
                if left[d]:
                    out.append((left[d].pop(0), parent))
    return out


def _variant_row(step: int, move: Move, parent: str | None, verdict: Any) -> dict[str, Any]:
    v = move.variant
    return {
        "variant_id": v.id,
        "step": step,
        "parent": parent,
        "dimension": move.dimension,
        "change": move.change,
        "label": v.label(),
        "spec": v.to_dict(),
        "checks": [c.model_dump() for c in verdict.checks],
        "status": "proposed" if verdict.ok else f"rejected: {verdict.reason}",
    }


def probe(state: State, ctx: Ctx) -> dict:
    """The proposed variants' matched sets, while the search's share of the budget lasts."""
    step, used = state["step"], state.get("used", 0)
    left = ctx.cfg.budget - ctx.reserve - used
    cost = ctx.cost(ctx.cfg.sets)
    proposed = state.get("proposed", [])
    chosen = proposed[: max(0, left // cost)]
    over = [p["variant"] for p in proposed[len(chosen) :]]
    variants = [Variant.from_dict(p["variant"]) for p in chosen]
    ask(ctx, variants, "search", ctx.cfg.sets)
    ctx.rec.put(
        "search_variants",
        [{"variant_id": v.id, "status": "probed"} for v in variants]
        + [{"variant_id": Variant.from_dict(v).id, "status": "over budget"} for v in over],
    )
    used += cost * len(variants)
    stop = "budget spent" if over else "" if proposed else "nothing left to propose"
    ctx.rec.step(step, "probe", cost * len(variants), probed=[v.id for v in variants], over_budget=len(over))
    return {"probed": [v.id for v in variants], "used": used, "stop": stop}


def ask(ctx: Ctx, variants: list[Variant], phase: str, n_sets: int) -> dict[str, list[float]]:
    """Ask ``n_sets`` matched sets of each variant; store probes, sets and differences; return the
    usable differences per variant id."""
    sets = {
        v.id: [matched_set(v, ctx.space, ctx.wording, phase, i, ctx.cfg.seed) for i in range(n_sets)]
        for v in variants
    }
    probes = [p for ms in sets.values() for s in ms for p in (s.level, s.ref)]
    requests = {p.id: decision.requests(p, ctx.ps, 0) for p in probes}
    rows = ctx.llm.send(phase, [r for reqs in requests.values() for r in reqs])
    with ctx.rec.db.atomic():
        store.upsert(ctx.rec.db, "probes", (p.row() for p in probes))
    out: dict[str, list[float]] = {}
    records = []
    for vid, ms in sets.items():
        out[vid] = []
        for s in ms:
            row = _set_row(ctx, vid, phase, s, requests, rows)
            records.append(row)
            if row["diff"] is not None:
                out[vid].append(row["diff"])
    ctx.rec.put("search_sets", records)
    return out


def _set_row(
    ctx: Ctx, vid: str, phase: str, s: MatchedSet, requests: dict[str, list[Any]], rows: dict[str, Any]
) -> dict[str, Any]:
    """One matched set's row: P(yes) of each probe (None when unusable) and their difference."""
    keys = {p.id: [ctx.llm.key(phase, r) for r in requests[p.id]] for p in (s.level, s.ref)}
    p_level, p_ref = (p_yes(ctx, p, keys[p.id], rows) for p in (s.level, s.ref))
    diff = None if p_level is None or p_ref is None else p_level - p_ref
    return {
        "variant_id": vid,
        "phase": phase,
        "idx": s.index,
        "drawn": s.drawn,
        "level_probe": s.level.id,
        "ref_probe": s.ref.id,
        "level_keys": keys[s.level.id],
        "ref_keys": keys[s.ref.id],
        "p_level": p_level,
        "p_ref": p_ref,
        "diff": diff,
    }


def p_yes(ctx: Ctx, p: Any, keys: list[str], rows: dict[str, Any]) -> float | None:
    """Mean P(yes) of a probe's usable outcomes (one per request), scored as the decision family does."""
    values = []
    for key in keys:
        row = rows.get(key)
        out = decision.score(p, ctx.ps, reply_from_row(row) if row else None)
        if out["parse_status"] == ParseStatus.OK and out.get("p_yes") is not None:
            values.append(float(out["p_yes"]))
    return sum(values) / len(values) if values else None


def estimate_node(state: State, ctx: Ctx) -> dict:
    """Each probed variant's paired gap and interval, added to the frontier (best score first)."""
    step = state["step"]
    moves = {Variant.from_dict(p["variant"]).id: p for p in state.get("proposed", [])}
    diffs = {vid: _diffs(ctx, vid, "search") for vid in state.get("probed", [])}
    new = []
    for vid, d in diffs.items():
        e = estimate(d)
        m = moves[vid]
        new.append({"id": vid, **m, **e.as_row(), "step": step})
        ctx.rec.put("search_estimates", [{"variant_id": vid, "phase": "search", "step": step, **e.as_row()}])
    frontier = sorted([*state.get("frontier", []), *new], key=_rank_key)
    ctx.rec.step(step, "estimate", 0, estimated=len(new))
    return {"frontier": frontier}


def _diffs(ctx: Ctx, vid: str, phase: str) -> list[float]:
    sql = "select diff from search_sets where search_id = ? and variant_id = ? and phase = ? order by idx"
    return [
        r[0] for r in ctx.rec.db.execute(sql, [ctx.rec.search_id, vid, phase]).fetchall() if r[0] is not None
    ]


def _rank_key(entry: dict) -> tuple[Any, ...]:
    score = entry.get("score")
    return (score is None, -(score or 0.0), entry["step"], entry["id"])


def select(state: State, ctx: Ctx) -> dict:
    """Rank the frontier, note whether the best score improved, decide whether to go on."""
    step, frontier = state["step"], state.get("frontier", [])
    best = frontier[0]["score"] if frontier and frontier[0].get("score") is not None else None
    before = state.get("best")
    improved = best is not None and (before is None or best > before + 1e-12)
    stale = 0 if improved else state.get("stale", 0) + 1
    stop = state.get("stop") or (f"no better score in {stale} steps" if stale >= ctx.cfg.patience else "")
    ctx.rec.put(
        "search_estimates",
        [{"variant_id": e["id"], "phase": "search", "rank": i + 1} for i, e in enumerate(frontier)],
    )
    top = frontier[0]["id"] if frontier else None
    ctx.rec.step(step, "select", 0, best=best, best_variant=top, improved=improved, stale=stale, stop=stop)
    return {"best": best if improved else before, "stale": stale, "stop": stop, "step": step + 1}


def after_select(state: State) -> str:
    return "confirm" if state.get("stop") else "propose"


def findings(frontier: list[dict], k: int) -> list[dict]:
    """The ``k`` findings to confirm: variants whose 95% interval excludes 0, by the interval's end
    nearest 0 (the most certain gaps first), one per region (scenario, cue and contrast)."""
    eligible = [e for e in frontier if e.get("ci_low") is not None and not e["ci_low"] <= 0 <= e["ci_high"]]
    eligible.sort(key=lambda e: (-min(abs(e["ci_low"]), abs(e["ci_high"])), e["id"]))
    out, regions = [], set()
    for e in eligible:
        region = Variant.from_dict(e["variant"]).region
        if region not in regions:
            regions.add(region)
            out.append(e)
    return out[:k]


def confirm(state: State, ctx: Ctx) -> dict:
    """Re-test the findings on fresh matched sets; Holm over the findings tested."""
    step = state["step"]
    tested = findings(state.get("frontier", []), ctx.cfg.confirm)
    variants = [Variant.from_dict(e["variant"]) for e in tested]
    diffs = ask(ctx, variants, "confirm", ctx.cfg.confirm_sets)
    _check_fresh(ctx)
    directions = [1 if (e["estimate"] or 0) > 0 else -1 for e in tested]
    pvalues = [one_sided_p(diffs[v.id], d) for v, d in zip(variants, directions, strict=True)]
    adjusted, rejected = holm(pvalues, ctx.cfg.alpha)
    out, rows = [], []
    for v, d, p, adj, ok in zip(variants, directions, pvalues, adjusted, rejected, strict=True):
        e = estimate(diffs[v.id])
        row = {"variant_id": v.id, "phase": "confirm", "step": step, **e.as_row(), "direction": d}
        row |= {"p_one_sided": p, "p_holm": adj, "confirmed": int(ok)}
        rows.append(row)
        out.append(row)
    ctx.rec.put("search_estimates", rows)
    calls = ctx.cost(ctx.cfg.confirm_sets) * len(variants)
    ctx.rec.step(
        step,
        "confirm",
        calls,
        tested=[v.id for v in variants],
        confirmed=[r["variant_id"] for r in out if r["confirmed"]],
    )
    return {"tested": out}


def _check_fresh(ctx: Ctx) -> None:
    """No confirmation probe is a probe the search asked (the pools are disjoint; this proves it)."""
    sql = """select count(*) from search_sets c join search_sets s on s.search_id = c.search_id
             and s.phase = 'search' and (s.level_probe in (c.level_probe, c.ref_probe)
             or s.ref_probe in (c.level_probe, c.ref_probe))
             where c.search_id = ? and c.phase = 'confirm'"""
    n = ctx.rec.db.execute(sql, [ctx.rec.search_id]).fetchone()[0]
    if n:
        raise AssertionError(f"{n} confirmation sets repeat a search probe")


def build_graph(ctx: Ctx, checkpointer: Any = None) -> Any:
    """The search graph, compiled."""
    g = StateGraph(State)
    g.add_node("propose", partial(propose, ctx=ctx))
    g.add_node("probe", partial(probe, ctx=ctx))
    g.add_node("estimate", partial(estimate_node, ctx=ctx))
    g.add_node("select", partial(select, ctx=ctx))
    g.add_node("confirm", partial(confirm, ctx=ctx))

    g.add_edge(START, "propose")
    g.add_edge("propose", "probe")
    g.add_edge("probe", "estimate")
    g.add_edge("estimate", "select")
    g.add_conditional_edges("select", after_select, ["propose", "confirm"])
    g.add_edge("confirm", END)
    return g.compile(checkpointer=checkpointer)
