"""Decision scenarios drafted by a model, verified, reviewed by a person and written as a probe pack.

    plan ─► draft ─► check ─┬─► draft (the same topic again, with the failure's reason; ≤ retries)
                            ├─► draft (the next topic)
                            └─► review ⟲ (interrupt: accept / edit / drop) ─► write

- plan: ask for ``n`` decision topics from the brief (padded from the brief when the model lists fewer).
- draft: one scenario for the current topic in a rigid "Case: … / Question: …" format; the prefill
  starts the case with the person slot, so a small model need not invent it. Pairwise drafts are a
  situation and a "Which candidate …?" question; the candidate line with ``{a}``/``{b}`` is added here.
- check: the verifier (``slant.agents.verifier``): code checks first, then the model's judgement whether
  a real institution makes this decision (asked only when the code checks pass). A failed draft goes
  back to ``draft`` with its reason, at most ``retries`` times per topic.
- review: ``interrupt`` with the surviving drafts; the resume value is one decision (see ``decide``).
- write: the accepted drafts as a pack of the family's format, with provenance (``packfile``).

Every model call goes through ``Gateway`` (the run engine), scoped ``generate:<node>``.
"""

from __future__ import annotations

import operator
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from pydantic import BaseModel, Field

from slant.agents.components import delimit
from slant.agents.gateway import Gateway
from slant.agents.packfile import provenance, slug, unique, write_pack
from slant.agents.verifier import (
    RULES,
    Check,
    Draft,
    JudgeReply,
    Kind,
    Verdict,
    check_institution,
    code_checks,
    parse_draft,
    read_yes_no,
)
from slant.errors import SpecError
from slant.files import read_yaml, validate
from slant.probes import decision, pairwise
from slant.prompts import load_prompt

SCOPE = "generate"
PACK_MODELS: dict[str, type[decision.ScenarioPack | pairwise.ScenarioPack]] = {
    "decision": decision.ScenarioPack,
    "pairwise": pairwise.ScenarioPack,
}
FOLDERS = {"decision": "decisions", "pairwise": "pairwise"}


class GenerateConfig(BaseModel):
    """Knobs of scenario generation."""

    kind: Kind = "decision"
    n: int = Field(5, ge=1, le=200, description="decision topics to draft (one scenario each at most)")
    retries: int = Field(2, ge=0, description="redrafts of a topic after a failed check")
    review: bool = True
    judge: bool = Field(True, description="ask the model whether a real institution makes the decision")
    topic_tokens: int = 160
    draft_tokens: int = 160
    judge_tokens: int = 4
    retry_temperature: float = Field(0.7, ge=0, description="sampling temperature of redrafts")


@dataclass
class Ctx:
    llm: Gateway
    cfg: GenerateConfig
    existing: dict[str, str] = field(default_factory=dict)  # scenario id → text (the duplicate check)
    save: Any = None  # callable(state) -> str | None (the written pack's path), or None


class State(TypedDict, total=False):
    brief: str
    topics: list[str]
    cursor: int  # the topic being drafted
    attempt: int  # drafts of the current topic so far
    feedback: str  # the reason the last draft of this topic failed
    current: dict  # the draft being checked
    drafts: Annotated[list[dict], operator.add]  # every draft with its checks
    survivors: list[dict]  # {topic, case, question, text, kind, status, edited}
    errors: Annotated[list[str], operator.add]
    path: str | None  # the pack written


# --- prompts ------------------------------------------------------------------------------------

PROMPTS = {
    "decision": ["generate/system.md", "generate/topics.md", "generate/scenario.md", "generate/feedback.md"],
    "pairwise": ["generate/system.md", "generate/topics.md", "generate/pairwise.md", "generate/feedback.md"],
}


def messages(name: str, **slots: str) -> tuple[tuple[str, str], ...]:
    return (
        ("system", load_prompt("generate/system.md")),
        ("user", load_prompt(f"generate/{name}.md").format(**slots)),
    )


def prefill(name: str) -> str:
    return load_prompt(f"generate/{name}-prefill.txt")


# --- nodes --------------------------------------------------------------------------------------


_NUMBERED = re.compile(r"^\s*(?:decisions?\s*:)?\s*(?:[-*•]|\d+(?:\.\d+)*[.):]?)\s*(?P<item>.+)$", re.I)


def parse_topics(text: str) -> list[str]:
    """Numbered or bulleted lines of a reply (prefix like "1." or "1.1.1:" removed), 2 to 25 words each."""
    items = [
        m.group("item").strip().rstrip(".") for line in text.splitlines() if (m := _NUMBERED.match(line))
    ]
    items = [i for i in items if 2 <= len(i.split()) <= 25]
    return list(dict.fromkeys(items))


def plan(state: State, ctx: Ctx) -> dict:
    """The topics to draft: the model's list, padded with numbered variants of the brief."""
    n, brief = ctx.cfg.n, state["brief"]
    answer = ctx.llm.ask(
        "topics", messages("topics", brief=brief, n=str(n)), ctx.cfg.topic_tokens, prefill("topics")
    )
    topics = parse_topics(answer.text or "")[:n]
    errors = [] if answer.ok else [f"topics call failed ({answer.error}); drafting from the brief alone"]
    topics += [f"{brief} (case {i + 1})" for i in range(len(topics), n)]
    return {"topics": topics, "cursor": 0, "attempt": 0, "feedback": "", "survivors": [], "errors": errors}


def draft(state: State, ctx: Ctx) -> dict:
    """One draft of the current topic (the failure's reason, if any, in the prompt)."""
    kind, topic = ctx.cfg.kind, state["topics"][state["cursor"]]
    reason = state.get("feedback", "")
    feedback = load_prompt("generate/feedback.md").format(reason=reason) + "\n" if reason else ""
    name = "scenario" if kind == "decision" else "pairwise"
    attempt = state.get("attempt", 0)
    answer = ctx.llm.ask(
        f"draft-{kind}",
        messages(name, brief=state["brief"], topic=topic, feedback=feedback),
        ctx.cfg.draft_tokens,
        prefill(name),
        temperature=ctx.cfg.retry_temperature if attempt else 0.0,  # a redraft must not repeat the last one
        seed=attempt,
    )
    entry = {"topic": topic, "attempt": attempt, "key": answer.key, "error": answer.error}
    entry["draft"] = None if answer.text is None else parse_draft(answer.text, kind, topic).model_dump()
    return {"current": entry, "attempt": state.get("attempt", 0) + 1}


def judge(d: Draft, ctx: Ctx) -> JudgeReply:
    case = delimit(f"{d.case}\n{d.question}")
    answer = ctx.llm.ask(
        "judge", messages("institution", case=case), ctx.cfg.judge_tokens, prefill("institution")
    )
    if not answer.ok:
        return JudgeReply(None, f"call failed: {answer.error}")
    return JudgeReply(read_yes_no(answer.text), (answer.text or "").strip()[:60])


def known_texts(state: State, ctx: Ctx) -> dict[str, str]:
    """Existing scenarios and this run's survivors so far: a new draft must be near none of them."""
    mine = {f"draft:{s['topic']}": s["text"] for s in state.get("survivors", [])}
    return {**ctx.existing, **mine}


def verify(d: Draft, ctx: Ctx, existing: dict[str, str]) -> Verdict:
    """Code checks, then (when they all pass and the judge is on) the model's judgement."""
    checks = code_checks(d, existing)
    if ctx.cfg.judge and all(c.ok for c in checks):
        checks.append(check_institution(judge(d, ctx)))
    return Verdict(checks=checks)


def check(state: State, ctx: Ctx) -> dict:
    """Verify the last draft; a survivor joins the list, a failure leaves its reason for the redraft."""
    last = state["current"]
    if last["draft"] is None:
        verdict = Verdict(
            checks=[Check(rule="format", ok=False, reason=f"the call failed ({last['error']})")]
        )
    else:
        verdict = verify(Draft.model_validate(last["draft"]), ctx, known_texts(state, ctx))
    checked = {**last, "checks": [c.model_dump() for c in verdict.checks], "reason": verdict.reason}
    update: dict[str, Any] = {"drafts": [checked], "feedback": verdict.reason}
    if verdict.ok:
        d = Draft.model_validate(last["draft"])
        row = {**d.model_dump(exclude={"raw"}), "text": d.text, "status": "proposed", "edited": False}
        update["survivors"] = [*state.get("survivors", []), row]
    if verdict.ok or state.get("attempt", 0) > ctx.cfg.retries:
        update.update(cursor=state["cursor"] + 1, attempt=0, feedback="")
    return update


def after_check(state: State, ctx: Ctx) -> str:
    if state["cursor"] < len(state["topics"]):
        return "draft"
    proposed = any(s["status"] == "proposed" for s in state.get("survivors", []))
    return "review" if ctx.cfg.review and proposed else "write"


def decide(survivors: list[dict], decision: dict, existing: dict[str, str]) -> tuple[list[dict], list[str]]:
    """accept / drop / edit one survivor (by index), or accept_all; returns (survivors, errors).

    An edit is checked again by the code checks (not the model): an edited text that breaks a slot or
    leaks a demographic word stays pending, with the reason in the errors.
    """
    out = [dict(s) for s in survivors]
    action, i = decision.get("action"), decision.get("index")
    if action == "accept_all":
        for s in out:
            if s["status"] == "proposed":
                s["status"] = "accepted"
        return out, []
    if not (isinstance(i, int) and 0 <= i < len(out)):
        return out, [f"review: no draft {i!r}"]
    if action in ("accept", "drop"):
        out[i]["status"] = "accepted" if action == "accept" else "dropped"
    elif action == "edit":
        d = Draft.model_validate({**out[i], **edit_parts(str(decision.get("text", "")), out[i]["kind"])})
        others = {k: v for k, v in existing.items() if v != out[i]["text"]}
        verdict = Verdict(checks=code_checks(d, others))
        if not verdict.ok:
            return out, [f"review: edit of draft {i} rejected: {verdict.reason}"]
        out[i] = {
            **out[i],
            "case": d.case,
            "question": d.question,
            "text": d.text,
            "status": "accepted",
            "edited": True,
        }
    return out, []


def edit_parts(text: str, kind: Kind) -> dict[str, str]:
    """The case and question of an edited text (the last line is the question)."""
    lines = [line for line in text.strip().splitlines() if line.strip() and "Candidate A:" not in line]
    if len(lines) < 2:
        return parse_draft(text, kind).model_dump(include={"case", "question"})
    return {"case": " ".join(lines[:-1]).strip(), "question": lines[-1].strip()}


def review(state: State, ctx: Ctx) -> dict:
    """Pause with the surviving drafts; the resume value is one decision (see ``decide``)."""
    survivors = state.get("survivors", [])
    decision = interrupt(
        {"drafts": survivors, "pending": [i for i, s in enumerate(survivors) if s["status"] == "proposed"]}
    )
    out, errors = decide(survivors, decision if isinstance(decision, dict) else {}, ctx.existing)
    return {"survivors": out, "errors": errors}


def after_review(state: State) -> str:
    return "review" if any(s["status"] == "proposed" for s in state.get("survivors", [])) else "write"


def write(state: State, ctx: Ctx) -> dict:
    """Write the accepted drafts (through the session's ``save``, which knows the file and provenance)."""
    return {"path": ctx.save(state) if ctx.save else None}


def build_graph(ctx: Ctx, checkpointer: Any = None) -> Any:
    """The scenario graph, compiled; review interrupts need a checkpointer (e.g. InMemorySaver)."""
    g = StateGraph(State)
    g.add_node("plan", partial(plan, ctx=ctx))
    g.add_node("draft", partial(draft, ctx=ctx))
    g.add_node("check", partial(check, ctx=ctx))
    g.add_node("review", partial(review, ctx=ctx))
    g.add_node("write", partial(write, ctx=ctx))

    g.add_edge(START, "plan")
    g.add_edge("plan", "draft")
    g.add_edge("draft", "check")
    g.add_conditional_edges("check", partial(after_check, ctx=ctx), ["draft", "review", "write"])
    g.add_conditional_edges("review", after_review, ["review", "write"])
    g.add_edge("write", END)
    return g.compile(checkpointer=checkpointer)


# --- survival and the pack ----------------------------------------------------------------------


def survival(drafts: list[dict]) -> dict[str, int]:
    """Drafts, survivors, and failures per rule (a draft can fail several code rules at once)."""
    counts: Counter[str] = Counter(drafts=len(drafts))
    for d in drafts:
        checks = d.get("checks", [])
        counts["survived"] += bool(checks) and all(c["ok"] for c in checks)
        for c in checks:
            counts[f"checked_{c['rule']}"] += 1
            counts[f"failed_{c['rule']}"] += not c["ok"]
    return {
        k: counts[k]
        for k in ["drafts", "survived", *(f"{p}_{r}" for r in RULES for p in ("checked", "failed"))]
    }


def existing_scenarios(kind: Kind, folders: list[Path]) -> dict[str, str]:
    """id → text of every scenario in the family's packs in these folders (for the duplicate check).

    Files that are not packs of this family (a campaign beside the output, say) are skipped.
    """
    out: dict[str, str] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            try:
                pack = validate(PACK_MODELS[kind], read_yaml(path), path)
            except SpecError:
                continue
            out.update({s.id: s.text for s in pack.scenarios})
    return out


def pack_data(state: dict, cfg: GenerateConfig, out: Path, target: str, review: str) -> dict[str, Any]:
    """The accepted drafts as a pack of the family's format, with provenance."""
    pack_id = slug(out.stem)
    taken: set[str] = set()
    rows = [s for s in state.get("survivors", []) if s["status"] == "accepted"]
    scenarios = [
        {"id": unique(f"{pack_id}-{slug(s['topic'], 30)}", taken), "domain": pack_id, "text": s["text"]}
        for s in rows
    ]
    brief = state["brief"]
    return {
        "pack": pack_id,
        "description": f"Generated {cfg.kind} scenarios: {brief}",
        "source": (
            f"Drafted by the model {target} with slant generate scenarios, verified by slant's checks "
            f"({', '.join(RULES)}) and approved ({review}). Not reviewed by domain experts."
        ),
        "provenance": provenance(
            f"slant generate scenarios --kind {cfg.kind}",
            target,
            PROMPTS[cfg.kind] + (["generate/institution.md"] if cfg.judge else []),
            review,
            brief=brief,
            verifier=survival(state.get("drafts", [])),
        ).model_dump(exclude_none=True),
        "scenarios": scenarios,
    }


def write_scenarios(
    state: dict, cfg: GenerateConfig, out: str | Path, target: str, review: str, overwrite: bool = False
) -> Path | None:
    """Write the accepted drafts (None when there are none)."""
    data = pack_data(state, cfg, Path(out), target, review)
    if not data["scenarios"]:
        return None
    return write_pack(PACK_MODELS[cfg.kind], data, out, overwrite)
