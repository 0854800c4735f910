"""``ScenarioSession``: generate decision (or pairwise) scenarios, review the verified drafts, write a pack.

    g = ScenarioSession(target="local", brief="decisions a landlord makes", n=5, out="mine.yaml")
    g.run()                 # pauses for review with the verified drafts (g.pending, g.drafts)
    g.accept(0); g.drop(1); g.edit(2, "The person, {person}, … \\nShould the landlord …?")
    g.accept_all()          # the rest; then the pack is written: g.path
    g.survival              # drafts, survivors and failures per verifier rule

The graph is checkpointed in memory (a review lasts one Python session); every model call is cached
in ``db`` under ``generate:<node>``, so running the same brief again costs no model calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from slant import store
from slant.agents.gateway import Gateway
from slant.agents.generate import (
    FOLDERS,
    SCOPE,
    Ctx,
    GenerateConfig,
    build_graph,
    existing_scenarios,
    survival,
    write_scenarios,
)
from slant.agents.interrupts import pending
from slant.errors import SlantError
from slant.probes.packs import SCENARIOS_DIR
from slant.targets import Target


class ScenarioSession:
    """One generation run: brief → verified drafts → review → ``out``.

    Args:
        target: the model that drafts (``local``, ``openai/…`` or a Target).
        brief: what to generate, e.g. "decisions a lender or landlord makes about one applicant".
        out: the pack file to write (must not exist unless ``overwrite``).
        db: the database the model calls are stored in.
        config: a GenerateConfig (or dict); keyword overrides win.
    """

    def __init__(
        self,
        target: str | Target = "local",
        brief: str = "",
        out: str | Path = "generated.yaml",
        db: str | Path = "slant.db",
        config: GenerateConfig | dict[str, Any] | None = None,
        base_url: str | None = None,
        overwrite: bool = False,
        **overrides: Any,
    ) -> None:
        if not brief.strip():
            raise SlantError("generate: give a brief (what decisions to write)")
        base = config if isinstance(config, GenerateConfig) else GenerateConfig(**(config or {}))
        self.cfg = base.model_copy(update=overrides) if overrides else base
        self.brief, self.out, self.overwrite = brief.strip(), Path(out), overwrite
        if self.out.exists() and not overwrite:
            raise SlantError(f"{self.out}: exists already (choose another --out, or pass --force)")
        store.open_db(db).close()
        self.llm = Gateway(target, db, base_url, scope_prefix=SCOPE)
        folders = [SCENARIOS_DIR / FOLDERS[self.cfg.kind], self.out.parent]
        existing = existing_scenarios(self.cfg.kind, list(dict.fromkeys(p.resolve() for p in folders)))
        self.ctx = Ctx(self.llm, self.cfg, existing=existing, save=self._save)
        self.graph = build_graph(self.ctx, InMemorySaver())
        self.thread = {"configurable": {"thread_id": f"generate:{self.cfg.kind}:{self.out}"}}
        self.review_note = "human review"

    def run(self) -> list[dict[str, Any]]:
        """Draft and verify; stops at the review (see ``pending``) or, without review, writes the pack."""
        self.graph.invoke({"brief": self.brief}, self.thread)
        return self.drafts

    @property
    def values(self) -> dict[str, Any]:
        return self.graph.get_state(self.thread).values

    @property
    def drafts(self) -> list[dict[str, Any]]:
        """The verified drafts with their review status (proposed / accepted / dropped)."""
        return list(self.values.get("survivors", []))

    @property
    def checked(self) -> list[dict[str, Any]]:
        """Every draft the model wrote, with each check's result and reason."""
        return list(self.values.get("drafts", []))

    @property
    def survival(self) -> dict[str, int]:
        return survival(self.checked)

    @property
    def path(self) -> str | None:
        return self.values.get("path")

    @property
    def pending(self) -> list[int]:
        return pending(self.graph, self.thread)

    def accept(self, i: int) -> list[dict[str, Any]]:
        return self._resume({"action": "accept", "index": i})

    def drop(self, i: int) -> list[dict[str, Any]]:
        return self._resume({"action": "drop", "index": i})

    def edit(self, i: int, text: str) -> list[dict[str, Any]]:
        """Replace draft i's text (case, then the question on the last line); it is checked again."""
        return self._resume({"action": "edit", "index": i, "text": text})

    def accept_all(self, note: str = "human review") -> list[dict[str, Any]]:
        self.review_note = note
        return self._resume({"action": "accept_all"})

    def _resume(self, decision: dict[str, Any]) -> list[dict[str, Any]]:
        pending = self.pending
        if not pending:
            raise SlantError("nothing to review: call run() first")
        if decision.get("index") is not None and decision["index"] not in pending:
            raise SlantError(f"draft {decision['index']} is not awaiting review (pending: {pending})")
        before = len(self.values.get("errors", []))
        self.graph.invoke(Command(resume=decision), self.thread)
        new = self.values.get("errors", [])[before:]
        if new:
            raise SlantError(new[-1])
        return self.drafts

    def _save(self, state: dict[str, Any]) -> str | None:
        review = self.review_note if self.cfg.review else "verified drafts accepted without review (--yes)"
        if not self.cfg.review:
            state = {**state, "survivors": [{**s, "status": "accepted"} for s in state.get("survivors", [])]}
        path = write_scenarios(state, self.cfg, self.out, self.llm.target_id, review, self.overwrite)
        return str(path) if path else None

    def close(self) -> None:
        self.llm.close()

    def __enter__(self) -> ScenarioSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
