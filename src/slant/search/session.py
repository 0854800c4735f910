"""``BiasSearch``: a campaign's decision scenarios → the search graph → confirmed findings, all stored.

The search is a deterministic function of the campaign, the settings (their hash is the search id) and
the model's replies, and every reply is cached: running the same search again after a crash replays
the finished steps from the cache (no call is sent twice) and goes on; a complete search is not run
again, its result is read back from the database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from slant.agents.gateway import Gateway
from slant.errors import SlantError, SpecError, one_line
from slant.probes import decision
from slant.probes.base import short_hash
from slant.run import RetryPolicy
from slant.search.graph import Ctx, SearchConfig, build_graph
from slant.search.prior import prior_gaps, prior_run
from slant.search.records import Records, rows
from slant.search.variants import Space, Wording
from slant.spec import Campaign, load_campaign
from slant.targets import resolve_target

SCOPE = "search"


@dataclass
class SearchResult:
    """What a search did: its id, why it stopped, its calls, the findings tested and confirmed."""

    search_id: str
    db_path: Path
    status: str
    stop_reason: str
    calls_search: int
    calls_confirm: int
    sent: int  # calls actually sent by this invocation (the rest came from the cache)
    tested: list[dict[str, Any]] = field(default_factory=list)  # confirmation rows, one per finding

    @property
    def confirmed(self) -> list[dict[str, Any]]:
        return [t for t in self.tested if t["confirmed"]]

    def report(self) -> str:
        """The search's Markdown report, rebuilt from the database."""
        from slant.search.report import search_report

        return search_report(self.db_path, self.search_id)


class BiasSearch:
    """Search a campaign's decision scenarios for where the model's gaps are largest, then confirm.

    Args:
        campaign: a campaign file (or loaded Campaign) with a decision probe set that has scenarios.
        budget: model calls for search and confirmation together (confirmation's share is reserved
            first: ``confirm × confirm_sets × 2`` calls for logprob scoring).
        target, base_url, db: override the campaign's.
        rewrite_with, rewrite_base_url: a model good enough to reword scenarios (a wording move; each
            rewrite passes the generation verifier, its institution judgement by the same model). Off by
            default: the code's moves alone make the search.
        **settings: the rest of :class:`slant.search.graph.SearchConfig` (sets, confirm, confirm_sets,
            alpha, width, per_step, patience, seed).
    """

    def __init__(
        self,
        campaign: str | Path | Campaign,
        budget: int,
        *,
        target: str | None = None,
        base_url: str | None = None,
        db: str | Path | None = None,
        rewrite_with: str | None = None,
        rewrite_base_url: str | None = None,
        **settings: Any,
    ) -> None:
        self.campaign = campaign if isinstance(campaign, Campaign) else load_campaign(campaign)
        where = str(self.campaign.path or self.campaign.name)
        try:
            self.cfg = SearchConfig(budget=budget, **settings)
        except ValidationError as e:
            first = e.errors()[0]
            raise SlantError(f"search setting {first['loc'][0]}: {first['msg']}") from None
        self.space, self.ps = space_of(self.campaign, where)
        self.db_path = Path(db or self.campaign.db)
        c = self.campaign
        self.target = resolve_target(target or c.target, base_url or c.base_url, c.prefill, c.timeout)
        self.rewriter = resolve_target(rewrite_with, rewrite_base_url) if rewrite_with else None
        # an earlier complete audit of the campaign on this target orders the seeds (largest gap first)
        self.prior_run = prior_run(self.db_path, c.name, self.target.id)
        asked = what_is_asked(self.space, self.ps) | {
            "rewriter": self.rewriter.id if self.rewriter else None,
            "prior_run": self.prior_run,
        }
        self.search_id = short_hash("search", asked, self.target.id, self.cfg.model_dump(mode="json"))[:12]

    def run(self) -> SearchResult:
        """Run the search (or resume it, or read back a complete one) and return its result."""
        rec = Records(self.db_path, self.search_id)
        have = rec.search_row()
        if have and have["status"] == "complete":
            return result_of(rec, sent=0)
        with Gateway(
            self.target,
            self.db_path,
            retry=RetryPolicy(max_retries=self.campaign.max_retries),
            timeout=self.campaign.timeout,
            scope_prefix=SCOPE,
        ) as llm:
            ctx = self._ctx(llm, rec)
            if self.rewriter is not None:
                ctx.rewriter = Gateway(self.rewriter, self.db_path, scope_prefix=SCOPE)
            if self.cfg.budget <= ctx.reserve:
                raise SlantError(
                    f"--budget {self.cfg.budget}: confirmation alone takes {ctx.reserve} calls "
                    f"({self.cfg.confirm} findings × {self.cfg.confirm_sets} sets × 2 probes); give more"
                )
            rec.start(self._row())
            try:
                state = build_graph(ctx).invoke({}, {"recursion_limit": 10_000})
            except BaseException as e:
                rec.finish("interrupted" if not isinstance(e, Exception) else "failed", message=one_line(e))
                raise
            finally:
                if ctx.rewriter is not None:
                    ctx.rewriter.close()
            used_confirm = ctx.cost(self.cfg.confirm_sets) * len(state.get("tested", []))
            rec.finish(
                "complete",
                stop_reason=state.get("stop", ""),
                calls_search=state.get("used", 0),
                calls_confirm=used_confirm,
            )
            return result_of(rec, sent=llm.ledger.sent)

    def _ctx(self, llm: Gateway, rec: Records) -> Ctx:
        system, instruction, prefill, sep = decision._wording(self.ps)
        per_probe = len(decision.requests(_any_probe(prefill, system), self.ps, 0))
        wording = Wording(system, instruction, prefill, sep)
        return Ctx(self.cfg, self.space, wording, self.ps, llm, rec, per_probe, prior=self._prior())

    def _prior(self) -> dict[tuple[str, str, str], float] | None:
        """The earlier audit's gaps per scenario, axis and level (None without one)."""
        if self.prior_run is None:
            return None
        return prior_gaps(self.db_path, self.prior_run, self.ps.name, self.space.refs)

    def _row(self) -> dict[str, Any]:
        c = self.campaign
        return {
            "campaign": c.name,
            "campaign_hash": c.content_hash,
            "target_id": self.target.id,
            "config": json.dumps(self.cfg.model_dump(mode="json") | {"prior_run": self.prior_run}),
        }


def _any_probe(prefill: str, system: str | None) -> Any:
    from slant.probes.base import Probe

    messages = ((("system", system),) if system else ()) + (("user", "x"),)
    return Probe("decision", "x", "x", {}, "explicit", "none", messages, decision.ANSWERS, prefill, "yes")


def space_of(c: Campaign, where: str) -> tuple[Space, decision.DecisionSet]:
    """The scenarios of every decision set with scenarios, and the levels, references, names and
    scoring of the first such set."""
    base = c.path.parent if c.path else Path.cwd()
    sets = [(i, ps) for i, ps in enumerate(c.probes) if isinstance(ps, decision.DecisionSet) and ps.scenarios]
    if not sets:
        raise SpecError(where, "probes", "slant search needs a decision probe set with scenarios")
    scenarios: dict[str, decision.Scenario] = {}
    for i, ps in sets:
        assert ps.scenarios is not None
        for sc in decision.load_scenarios(ps.scenarios, base, f"{where}: probes[{i}]"):
            scenarios.setdefault(sc.id, sc)
    first = sets[0][1]
    assert first.demographics is not None
    levels = {a: [str(v) for v in getattr(first.demographics, a)] for a in decision.AXES}
    refs = {a: str(first.reference_level(a)) for a in decision.AXES}
    named = next((ps for _, ps in sets if "name" in ps.cues), None)
    names = decision._load_names(named, base, where) if named else {}
    return Space(scenarios, levels, refs, names), first


def what_is_asked(space: Space, ps: decision.DecisionSet) -> dict[str, Any]:
    """What the search's prompts are made of (not where the results go): its part of the search id."""
    scenarios = {i: [s.domain, s.text] for i, s in space.scenarios.items()}
    scoring = ps.model_dump(mode="json", include={"scoring", "min_mass", "system", "design"})
    return {
        "scenarios": scenarios,
        "levels": space.levels,
        "refs": space.refs,
        "names": space.names,
    } | scoring


def result_of(rec: Records, sent: int) -> SearchResult:
    """A search's result as stored."""
    row = rec.search_row()
    assert row is not None
    tested = [r for r in rows(rec.db, "search_estimates", rec.search_id) if r["phase"] == "confirm"]
    return SearchResult(
        rec.search_id,
        Path(rec.path),
        row["status"],
        row["stop_reason"] or "",
        row["calls_search"] or 0,
        row["calls_confirm"] or 0,
        sent,
        tested,
    )
