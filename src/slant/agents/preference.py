"""PROSE preference inference as a langgraph graph (Aroca-Ouellette et al., ICML 2025; PREDICT).

Per new writing sample (task x, user text y):

    retrieve ─► draft ─► refine ─► draft ─► … (≤ S refinements, or stop when the draft is close to y)
                  └──► breakdown ─► verify_round ⇄ verify (Send fan-out)
                                         └─► aggregate ─► next sample (retrieve) / review ⟲ ─► save

- retrieve: the stored components learned from the user's last k samples (confirmed ones always),
  coalesced (near-repeats dropped; an LLM merge when they come from several samples).
- draft / refine: draft y' for x with the current components; ask for the fewest component changes
  that explain y' → y; re-draft. The budget is explicit: at most ``steps`` refinements, and the loop stops
  early when the word similarity of y' and y reaches ``similarity_stop`` (1.0 by default: y' = y, as
  PROSE) or when a refinement leaves the components unchanged.
- breakdown: split the candidates (as PROSE: the retrieved components and every step's) into atomic
  ones (PREDICT).
- verify: a 5-point verdict per (component, sample) over the current and up to k earlier samples, in
  waves fanned out with ``Send``; a component is skipped once its mean is decisive (the verdicts still
  to come could not move it across τ); kept when its mean exceeds τ. Beyond PROSE, each kept component
  carries its evidence, and is checked against the model's default output and another user's sample
  (specificity): a component those also follow is flagged ``generic``.
- review: ``interrupt`` with the proposed components; confirm / reject / edit resume the graph.

Nodes are plain functions of (state, ctx); ``build_graph`` binds ctx and wires them. Every model call
goes through ``Gateway`` (the run engine), scoped ``preference:<node>``.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send, interrupt
from pydantic import BaseModel, Field

from slant.agents.components import (
    Component,
    Evidence,
    Sample,
    clean_draft,
    coalesce_exact,
    delimit,
    parse_preferences,
    parse_verdict,
    similarity,
)
from slant.agents.gateway import Gateway
from slant.prompts import load_prompt

Method = Literal["prose", "prose-icl", "cipher-1", "cipher-n", "cipher-k", "icl", "no-learning", "oracle"]


class PreferenceConfig(BaseModel):
    """Every knob of preference inference, in one place."""

    method: Method = "prose"
    steps: int = Field(3, ge=0, description="S: refinement steps per sample")
    tau: float = Field(0.5, ge=-2, le=2, description="τ: keep a component whose mean verdict exceeds this")
    k: int = Field(5, ge=0, description="earlier samples used for retrieval, verification and ICL examples")
    candidate: Literal["union", "iterate"] = Field(
        "union", description="union: the retrieved and every step's components (PROSE); iterate: the last"
    )
    validation: bool = True
    specificity: bool = True
    similarity_stop: float = Field(1.0, ge=0, le=1, description="stop refining at this word similarity")
    coalesce: bool = True
    review: bool = True
    max_components: int = Field(8, ge=1, description="at most this many atomic components are verified")
    draft_tokens: int = 120
    list_tokens: int = 80
    verdict_tokens: int = 6

    @property
    def icl_examples(self) -> int:
        return self.k if self.method in ("prose-icl", "icl") else 0


@dataclass
class Ctx:
    """What nodes need besides the state: the model, the config and where profiles are saved."""

    llm: Gateway
    cfg: PreferenceConfig
    save: Any = None  # callable(state) -> int (the saved version), or None


class State(TypedDict, total=False):
    user: str
    samples: Annotated[list[dict], operator.add]  # Sample dicts, in the order they are learned
    others: list[str]  # other users' texts, for the specificity check
    cursor: int  # index of the sample being learned
    components: list[str]  # the working components of the current sample
    starting: list[str]  # the components retrieved for the current sample
    history: list[list[str]]  # the components after each refinement of the current sample
    step: int
    drafts: Annotated[list[dict], operator.add]  # {sample_id, step, text, similarity, key}
    candidates: list[str]
    contrasts: list[dict]  # {id, kind, text}: default output and another user's text
    verdicts: Annotated[list[dict], operator.add]  # Evidence dicts + component + round
    profile: list[dict]  # Component dicts
    errors: Annotated[list[str], operator.add]
    version: int


# --- prompts ------------------------------------------------------------------------------------


def prompt(name: str, **slots: str) -> tuple[tuple[str, str], ...]:
    """The system message and one filled-in user message from ``prompts/preference/<name>.md``."""
    user = load_prompt(f"preference/{name}.md").format(**slots)
    return (("system", load_prompt("preference/system.md")), ("user", user))


def bullet_list(items: list[str]) -> str:
    return "\n".join(f"- {i}" for i in items) if items else "(none)"


def draft_messages(task: str, preferences: list[str], examples: Sequence[Sample] = ()) -> tuple:
    """Write for ``task``, conditioned on preferences and in-context examples (each delimited)."""
    ex = "".join(
        load_prompt("preference/draft-example.md").format(task=s.task_text, text=delimit(s.text)) + "\n"
        for s in examples
    )
    prefs = load_prompt("preference/draft-preferences.md").format(preferences=bullet_list(preferences))
    return prompt("draft", task=task, examples=ex, preferences=prefs + "\n" if preferences else "")


LIST_PREFILL = "Preferences:\n-"


def list_call(ctx: Ctx, node: str, name: str, **slots: str) -> list[str] | None:
    """A call whose reply is a preference list: the parsed items, or None when the call failed."""
    answer = ctx.llm.ask(node, prompt(name, **slots), ctx.cfg.list_tokens, prefill=LIST_PREFILL)
    return None if answer.text is None else parse_preferences(answer.text)


# --- nodes --------------------------------------------------------------------------------------


def current(state: State) -> Sample:
    return Sample.model_validate(state["samples"][state.get("cursor", 0)])


def earlier(state: State, n: int) -> list[Sample]:
    """The n samples learned just before the current one (most recent first)."""
    cursor = state.get("cursor", 0)
    return [Sample.model_validate(s) for s in reversed(state["samples"][max(0, cursor - n) : cursor])]


def retrieve(state: State, ctx: Ctx) -> dict:
    """Components learned from the last k samples (and every confirmed one), coalesced."""
    recent = {s.id for s in earlier(state, ctx.cfg.k)}
    stored = [Component.model_validate(c) for c in state.get("profile", [])]
    keep = [
        c.text
        for c in stored
        if c.status == "confirmed" or (c.status == "proposed" and c.source_sample in recent)
    ]
    keep = coalesce_exact(keep)
    errors: list[str] = []
    sources = {c.source_sample for c in stored if c.text in keep}
    if ctx.cfg.coalesce and len(keep) > 1 and len(sources) > 1:
        merged = list_call(ctx, "coalesce", "coalesce", preferences=bullet_list(keep))
        if merged is None:
            errors.append(f"{current(state).id}: coalesce call failed; kept the components unmerged")
        elif merged:
            keep = coalesce_exact(merged)
    return {"components": keep, "starting": keep, "history": [], "step": 0, "errors": errors}


def draft(state: State, ctx: Ctx) -> dict:
    """Draft the current sample's task with the working components; measure it against the user's text."""
    sample = current(state)
    examples = earlier(state, ctx.cfg.icl_examples)
    answer = ctx.llm.ask(
        "draft", draft_messages(sample.task_text, state.get("components", []), examples), ctx.cfg.draft_tokens
    )
    if answer.text is None:
        return {"errors": [f"{sample.id}: draft call failed ({answer.error}); stopped refining"]}
    text = clean_draft(answer.text)
    sim = similarity(text, sample.text)
    entry = {
        "sample_id": sample.id,
        "step": state.get("step", 0),
        "text": text,
        "similarity": sim,
        "key": answer.key,
    }
    return {"drafts": [entry]}


def last_draft(state: State) -> dict | None:
    sample_id, step = current(state).id, state.get("step", 0)
    found = [d for d in state.get("drafts", []) if d["sample_id"] == sample_id and d["step"] == step]
    return found[-1] if found else None


def after_draft(state: State, ctx: Ctx) -> str:
    """Refine unless the draft failed, the budget is spent or the draft is close enough."""
    d = last_draft(state)
    if d is None or state.get("step", 0) >= ctx.cfg.steps or d["similarity"] >= ctx.cfg.similarity_stop:
        return "breakdown"
    return "refine"


def refine(state: State, ctx: Ctx) -> dict:
    """The fewest component changes that explain how the user's text differs from the draft."""
    sample, d = current(state), last_draft(state)
    step = state.get("step", 0) + 1
    comps = state.get("components", [])
    found = list_call(
        ctx,
        "refine",
        "refine",
        task=sample.task_text,
        draft=delimit(d["text"] if d else ""),
        user=delimit(sample.text),
        preferences=bullet_list(comps),
    )
    if found is None:
        return {"step": ctx.cfg.steps, "errors": [f"{sample.id}: refine call failed; kept the components"]}
    if not found:
        return {
            "step": step,
            "history": [*state.get("history", []), comps],
            "errors": [f"{sample.id}: refine step {step}: no preference list in the reply"],
        }
    return {"step": step, "components": found, "history": [*state.get("history", []), found]}


def after_refine(state: State, ctx: Ctx) -> str:
    """Draft again, unless the budget is spent or the refinement changed nothing (temperature 0: a
    re-draft would repeat the last one)."""
    history = state.get("history", [])
    unchanged = len(history) >= 2 and history[-1] == history[-2]
    return "breakdown" if state.get("step", 0) >= ctx.cfg.steps or unchanged else "draft"


def breakdown(state: State, ctx: Ctx) -> dict:
    """Atomic candidates from the retrieved and every step's components (union), or the last step's."""
    sample = current(state)
    pool = state.get("components", [])
    if ctx.cfg.candidate == "union":
        steps = [c for step in state.get("history", []) for c in step]
        pool = state.get("starting", []) + steps + pool
    pool = coalesce_exact(pool)
    rejected = {c["text"].lower() for c in state.get("profile", []) if c["status"] == "rejected"}
    errors: list[str] = []
    atoms = pool
    if pool:
        found = list_call(ctx, "breakdown", "breakdown", preferences=bullet_list(pool))
        if found is None:
            errors.append(f"{sample.id}: breakdown call failed; verified the components whole")
        elif found:
            atoms = found
    atoms = [a for a in coalesce_exact(atoms) if a.lower() not in rejected][: ctx.cfg.max_components]
    return {"candidates": atoms, "contrasts": contrasts(state, ctx) if atoms else [], "errors": errors}


def contrasts(state: State, ctx: Ctx) -> list[dict]:
    """Texts a user-specific component should not describe: the model's default output, another user's."""
    if not (ctx.cfg.validation and ctx.cfg.specificity):
        return []
    sample = current(state)
    out = []
    answer = ctx.llm.ask("draft", draft_messages(sample.task_text, []), ctx.cfg.draft_tokens)
    if answer.text is not None:
        out.append({"id": f"default:{sample.id}", "kind": "default", "text": clean_draft(answer.text)})
    others = state.get("others") or []
    if others:
        i = state.get("cursor", 0) % len(others)
        out.append({"id": f"other-user:{i}", "kind": "other-user", "text": others[i]})
    return out


def decided(scores: list[int], remaining: int, tau: float) -> bool:
    """True when the verdicts still to come cannot move the mean across τ (so they can be skipped)."""
    n = len(scores) + remaining
    if n == 0:
        return True
    low, high = (sum(scores) - 2 * remaining) / n, (sum(scores) + 2 * remaining) / n
    return low > tau or high <= tau


def verification_samples(state: State, ctx: Ctx) -> list[Sample]:
    """The current sample first, then up to k earlier ones."""
    return [current(state), *earlier(state, ctx.cfg.k)]


def pending_checks(state: State, ctx: Ctx) -> list[dict]:
    """The next wave of (component, text) checks: one per undecided component; contrasts once decided."""
    if not ctx.cfg.validation:
        return []
    rnd = state.get("cursor", 0)
    mine = [v for v in state.get("verdicts", []) if v["round"] == rnd]
    samples = verification_samples(state, ctx)
    waves = []
    for comp in state.get("candidates", []):
        done = [v for v in mine if v["component"] == comp]
        tried = {v["sample_id"] for v in done if v["kind"] == "user"}
        scores = [v["score"] for v in done if v["kind"] == "user" and v["score"] is not None]
        todo = [s for s in samples if s.id not in tried]
        if todo and not decided(scores, len(todo), ctx.cfg.tau):
            waves.append(
                {
                    "component": comp,
                    "sample_id": todo[0].id,
                    "kind": "user",
                    "text": todo[0].text,
                    "round": rnd,
                }
            )
    if waves:
        return waves
    accepted = [
        c
        for c in state.get("candidates", [])
        if (mean := mean_of(mine, c)) is not None and mean > ctx.cfg.tau
    ]
    checked = {(v["component"], v["sample_id"]) for v in mine if v["kind"] != "user"}
    return [
        {"component": c, "sample_id": x["id"], "kind": x["kind"], "text": x["text"], "round": rnd}
        for c in accepted
        for x in state.get("contrasts", [])
        if (c, x["id"]) not in checked
    ]


def mean_of(verdicts: list[dict], component: str) -> float | None:
    scores = [
        v["score"]
        for v in verdicts
        if v["component"] == component and v["kind"] == "user" and v["score"] is not None
    ]
    return sum(scores) / len(scores) if scores else None


def verify_round(state: State) -> dict:
    """The join point of each verification wave (no work of its own)."""
    return {}


def dispatch_checks(state: State, ctx: Ctx) -> list[Send] | str:
    checks = pending_checks(state, ctx)
    return [Send("verify", c) for c in checks] if checks else "aggregate"


def verify(check: dict, ctx: Ctx) -> dict:
    """One verdict: does this text follow this component? Failed or unreadable replies are no verdict."""
    answer = ctx.llm.ask(
        "verify",
        prompt("validate", preference=check["component"], text=delimit(check["text"])),
        ctx.cfg.verdict_tokens,
        prefill="Verdict:",
    )
    score = None if answer.text is None else parse_verdict(answer.text)
    problem = "error" if answer.text is None else (None if score is not None else "unparsed")
    row = {k: v for k, v in check.items() if k != "text"}
    return {"verdicts": [{**row, "score": score, "request_key": answer.key, "problem": problem}]}


def aggregate(state: State, ctx: Ctx) -> dict:
    """Keep candidates whose mean verdict exceeds τ, with their evidence; merge them into the profile."""
    rnd, sample = state.get("cursor", 0), current(state)
    mine = [v for v in state.get("verdicts", []) if v["round"] == rnd]
    profile = [Component.model_validate(c) for c in state.get("profile", [])]
    by_text = {c.text.lower(): c for c in profile}
    errors = []
    for text in state.get("candidates", []):
        evidence = [Evidence.model_validate(v) for v in mine if v["component"] == text]
        mean = mean_of(mine, text)
        if ctx.cfg.validation and (mean is None or mean <= ctx.cfg.tau):
            if mean is None and evidence:
                errors.append(f"{sample.id}: no usable verdict for {text!r}; not kept")
            continue
        generic = any(e.kind != "user" and (e.score or 0) > 0 for e in evidence)
        comp = by_text.get(text.lower())
        if comp is None:
            comp = Component(text=text, scope=sample.task, source_sample=sample.id)
            profile.append(comp)
            by_text[text.lower()] = comp
        fresh = {(e.sample_id, e.kind) for e in evidence}  # a sample verified again replaces its verdict
        comp.evidence = [e for e in comp.evidence if (e.sample_id, e.kind) not in fresh] + evidence
        comp.generic = comp.generic or generic
        scores = [e.score for e in comp.user_scores() if e.score is not None]
        comp.mean = sum(scores) / len(scores) if scores else None
    return {"profile": [c.model_dump() for c in profile], "cursor": rnd + 1, "errors": errors}


def after_aggregate(state: State, ctx: Ctx) -> str:
    if state.get("cursor", 0) < len(state.get("samples", [])):
        return "retrieve"
    proposed = any(c["status"] == "proposed" for c in state.get("profile", []))
    return "review" if ctx.cfg.review and proposed else "save"


def apply_decision(profile: list[dict], decision: dict) -> list[dict]:
    """confirm / reject / edit one component (by index), or confirm_all; unknown decisions change nothing."""
    out = [dict(c) for c in profile]
    action, i = decision.get("action"), decision.get("index")
    if action == "confirm_all":
        for c in out:
            if c["status"] == "proposed":
                c["status"] = "confirmed"
    elif isinstance(i, int) and 0 <= i < len(out):
        if action == "confirm":
            out[i]["status"] = "confirmed"
        elif action == "reject":
            out[i]["status"] = "rejected"
        elif action == "edit" and str(decision.get("text", "")).strip():
            out[i]["text"], out[i]["status"] = str(decision["text"]).strip(), "confirmed"
    return out


def review(state: State) -> dict:
    """Pause with the proposed components; the resume value is one decision (see apply_decision)."""
    profile = state.get("profile", [])
    decision = interrupt(
        {
            "user": state.get("user"),
            "components": profile,
            "pending": [i for i, c in enumerate(profile) if c["status"] == "proposed"],
        }
    )
    return {"profile": apply_decision(profile, decision if isinstance(decision, dict) else {})}


def after_review(state: State) -> str:
    return "review" if any(c["status"] == "proposed" for c in state.get("profile", [])) else "save"


def save(state: State, ctx: Ctx) -> dict:
    """Store this version of the profile (when the session gave a place to store it)."""
    return {"version": ctx.save(state) if ctx.save else state.get("version", 0)}


# --- the graph ----------------------------------------------------------------------------------


def build_graph(ctx: Ctx, checkpointer: Any = None) -> Any:
    """The PROSE graph, compiled. ``checkpointer`` (e.g. SqliteSaver) is needed for review interrupts."""
    g = StateGraph(State)
    g.add_node("retrieve", partial(retrieve, ctx=ctx))
    g.add_node("draft", partial(draft, ctx=ctx))
    g.add_node("refine", partial(refine, ctx=ctx))
    g.add_node("breakdown", partial(breakdown, ctx=ctx))
    g.add_node("verify_round", verify_round)
    g.add_node("verify", partial(verify, ctx=ctx))
    g.add_node("aggregate", partial(aggregate, ctx=ctx))
    g.add_node("review", review)
    g.add_node("save", partial(save, ctx=ctx))

    g.add_edge(START, "retrieve")
    g.add_edge("retrieve", "draft")
    g.add_conditional_edges("draft", partial(after_draft, ctx=ctx), ["refine", "breakdown"])
    g.add_conditional_edges("refine", partial(after_refine, ctx=ctx), ["draft", "breakdown"])
    g.add_edge("breakdown", "verify_round")
    g.add_conditional_edges("verify_round", partial(dispatch_checks, ctx=ctx), ["verify", "aggregate"])
    g.add_edge("verify", "verify_round")
    g.add_conditional_edges("aggregate", partial(after_aggregate, ctx=ctx), ["retrieve", "review", "save"])
    g.add_conditional_edges("review", after_review, ["review", "save"])
    g.add_edge("save", END)
    return g.compile(checkpointer=checkpointer)
