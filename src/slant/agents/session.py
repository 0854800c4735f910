"""``PreferenceSession``: infer a user's writing preferences from the REPL, review them, write with them.

    s = slant.PreferenceSession(target="local", user="alice", db="prefs.db")
    s.add_samples(["Hi team & all …", …], task="email")
    print(s.infer())        # pauses for review: the proposed components, with evidence
    s.confirm(0); s.reject(1); s.edit(2, "ends with a question")
    s.write("decline the Friday meeting")
    s.persona()             # "a writer with these habits: …" (for the persona probe family)

PROSE sessions are langgraph threads checkpointed beside the database (``prefs.checkpoints.db``, by
SqliteSaver), so a new session object with the same user, method and database continues where the last
one stopped, review included.
Every saved profile version is a row of the ``profiles`` table.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from slant import store
from slant.agents.baselines import make_learner
from slant.agents.components import Component, Profile, Sample, clean_draft
from slant.agents.gateway import Gateway
from slant.agents.interrupts import pending
from slant.agents.preference import Ctx, PreferenceConfig, build_graph, draft_messages, prompt
from slant.errors import SlantError
from slant.prompts import load_prompt
from slant.targets import Target


class PreferenceSession:
    """One user's preference inference, stored in ``db``.

    Args:
        target: the model (``local``, ``openai/…``, … or a Target object).
        user: whose preferences these are.
        db: the database file (responses, profiles and checkpoints).
        config: a PreferenceConfig (or a dict of its fields); keyword overrides win.
    """

    def __init__(
        self,
        target: str | Target = "local",
        user: str = "user",
        db: str | Path = "slant.db",
        config: PreferenceConfig | dict[str, Any] | None = None,
        base_url: str | None = None,
        **overrides: Any,
    ) -> None:
        base = config if isinstance(config, PreferenceConfig) else PreferenceConfig(**(config or {}))
        self.cfg = base.model_copy(update=overrides) if overrides else base
        self.user, self.db_path = user, str(db)
        store.open_db(self.db_path).close()  # the schema, before the checkpointer adds its tables
        self.llm = Gateway(target, self.db_path, base_url)
        self.checkpoints = checkpoint_path(self.db_path)
        self._conn = sqlite3.connect(self.checkpoints, check_same_thread=False)
        self.graph = build_graph(Ctx(self.llm, self.cfg, save=self._save), SqliteSaver(self._conn))
        self.thread = {"configurable": {"thread_id": f"preference:{self.cfg.method}:{user}"}}
        self._new: list[Sample] = []
        self._learner = None if self._graph_method else make_learner(self.llm, self.cfg)
        self._baseline_profile = Profile(user=user, method=self.cfg.method)

    @property
    def _graph_method(self) -> bool:
        return self.cfg.method in ("prose", "prose-icl")

    # --- samples and inference -------------------------------------------------------------------

    def add_samples(self, samples: Sequence[str | dict[str, Any] | Sample], task: str = "") -> int:
        """Queue writing samples (texts, or dicts with text / context / task / id); returns how many are
        queued. A sample whose id, or task and text, was already seen is skipped: adding the same samples
        again is a no-op.
        """
        seen = [*self._known_samples(), *(s.model_dump() for s in self._new)]
        known = {s["id"] for s in seen}
        texts = {(s["task"], s["text"]) for s in seen}
        start = len(known)
        for i, s in enumerate(samples):
            if isinstance(s, Sample):
                sample = s
            elif isinstance(s, str):
                sample = Sample(id=f"{self.user}-{start + i}", task=task, text=s)
            else:
                sample = Sample(**{"id": f"{self.user}-{start + i}", "task": task, **s})
            if not sample.text.strip():
                raise SlantError(f"sample {sample.id}: empty text")
            if sample.id not in known and (sample.task, sample.text) not in texts:
                known.add(sample.id)
                texts.add((sample.task, sample.text))
                self._new.append(sample)
        return len(self._new)

    def infer(self) -> Profile:
        """Learn from the queued samples. PROSE with review stops at the review: see ``pending``."""
        new, self._new = self._new, []
        if not self._graph_method:
            return self._infer_baseline(new)
        if not new:
            return self.profile
        others = other_users_texts(self.db_path, self.user)
        self.graph.invoke(
            {"user": self.user, "samples": [s.model_dump() for s in new], "others": others}, self.thread
        )
        return self.profile

    @property
    def pending(self) -> list[int]:
        """Indices of components awaiting review (empty when the graph is not paused)."""
        return pending(self.graph, self.thread)

    def confirm(self, i: int) -> Profile:
        return self._resume({"action": "confirm", "index": i})

    def reject(self, i: int) -> Profile:
        return self._resume({"action": "reject", "index": i})

    def edit(self, i: int, text: str) -> Profile:
        return self._resume({"action": "edit", "index": i, "text": text})

    def confirm_all(self) -> Profile:
        return self._resume({"action": "confirm_all"})

    def _resume(self, decision: dict[str, Any]) -> Profile:
        pending = self.pending
        if not pending:
            raise SlantError("nothing to review: call infer() first")
        i = decision.get("index")
        if i is not None and i not in pending:
            raise SlantError(f"component {i} is not awaiting review (pending: {pending})")
        self.graph.invoke(Command(resume=decision), self.thread)
        return self.profile

    # --- the profile and its uses ------------------------------------------------------------------

    @property
    def profile(self) -> Profile:
        if not self._graph_method:
            return self._baseline_profile
        values = self.graph.get_state(self.thread).values
        return Profile(
            user=self.user,
            method=self.cfg.method,
            version=values.get("version", 0),
            components=[Component.model_validate(c) for c in values.get("profile", [])],
            samples=[Sample.model_validate(s) for s in values.get("samples", [])],
        )

    def write(self, task: str) -> str:
        """Write for ``task`` conditioned on the profile's components that are not rejected."""
        prefs = [c.text for c in self.profile.active]
        examples = self.profile.samples[-self.cfg.icl_examples :] if self.cfg.icl_examples else []
        if examples:
            messages = draft_messages(task, prefs, list(reversed(examples)))
        else:
            block = load_prompt("preference/draft-preferences.md").format(preferences=_bullets(prefs))
            messages = prompt("write", task=task, preferences=block + "\n" if prefs else "")
        answer = self.llm.ask("write", messages, self.cfg.draft_tokens)
        if answer.text is None:
            raise SlantError(f"write: the model call failed ({answer.error})")
        return clean_draft(answer.text)

    def persona(self) -> str:
        """A persona text for the persona family ("You are {persona}."), from the active components."""
        prefs = [c.text.rstrip(".") for c in self.profile.active]
        return load_prompt("preference/persona.md").format(preferences="; ".join(prefs) or "no stated habits")

    def close(self) -> None:
        """Stop the model (the embedded server) and close the checkpoint database."""
        self.llm.close()
        self._conn.close()

    def __enter__(self) -> PreferenceSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ---------------------------------------------------------------------------------

    def _known_samples(self) -> list[dict[str, Any]]:
        if not self._graph_method:
            return [s.model_dump() for s in self._baseline_profile.samples]
        return self.graph.get_state(self.thread).values.get("samples", [])

    def _infer_baseline(self, new: list[Sample]) -> Profile:
        assert self._learner is not None
        for sample in new:
            self._learner.observe(sample)
        p = self._baseline_profile
        p.samples += new
        p.components = [c.model_copy(update={"status": "confirmed"}) for c in self._learner.components()]
        p.version = save_profile(self.db_path, p, self.llm.target_id, self.cfg)
        return p

    def _save(self, state: dict[str, Any]) -> int:
        p = Profile(
            user=self.user,
            method=self.cfg.method,
            components=[Component.model_validate(c) for c in state.get("profile", [])],
            samples=[Sample.model_validate(s) for s in state.get("samples", [])],
        )
        return save_profile(self.db_path, p, self.llm.target_id, self.cfg)


def checkpoint_path(db_path: str | Path) -> str:
    """The session checkpoints' file, beside the database (``prefs.db`` → ``prefs.checkpoints.db``).

    A separate file because langgraph writes checkpoints while nodes write responses: two connections
    writing one SQLite file can fail with "database is locked" when a read turns into a write.
    """
    p = Path(db_path)
    return str(p.with_name(f"{p.stem}.checkpoints{p.suffix or '.db'}"))


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {i}" for i in items)


def save_profile(db_path: str, profile: Profile, target_id: str, cfg: PreferenceConfig) -> int:
    """Store a new version of the profile; returns its version number."""
    db = store.open_db(db_path)
    try:
        row = db.execute(
            "select max(version) from profiles where user = ? and method = ?", [profile.user, profile.method]
        ).fetchone()
        version = (row[0] or 0) + 1
        with db.atomic():
            store.upsert(
                db,
                "profiles",
                [
                    {
                        "user": profile.user,
                        "method": profile.method,
                        "version": version,
                        "target_id": target_id,
                        "created": store.now(),
                        "components": [c.model_dump() for c in profile.components],
                        "samples": [s.model_dump() for s in profile.samples],
                        "config": cfg.model_dump(),
                    }
                ],
            )
        return version
    finally:
        db.close()


def load_profile(db_path: str | Path, user: str, method: str = "prose") -> Profile | None:
    """The latest stored version of a user's profile, or None."""
    db = store.open_db(db_path)
    try:
        rows = list(
            db.query(
                "select * from profiles where user = ? and method = ? order by version desc limit 1",
                [user, method],
            )
        )
    finally:
        db.close()
    if not rows:
        return None
    r = rows[0]
    return Profile(
        user=user,
        method=method,
        version=r["version"],
        components=json.loads(r["components"]),
        samples=json.loads(r["samples"]),
    )


def other_users_texts(db_path: str | Path, user: str, limit: int = 5) -> list[str]:
    """Texts of other users' latest profiles in this database (the specificity check's contrast)."""
    db = store.open_db(db_path)
    try:
        rows = db.query(
            "select samples from profiles p where user != ? and version = "
            "(select max(version) from profiles q where q.user = p.user and q.method = p.method)",
            [user],
        )
        texts = [s["text"] for r in rows for s in json.loads(r["samples"])]
    finally:
        db.close()
    return texts[:limit]
