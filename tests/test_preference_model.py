"""One user through PROSE end to end on the embedded model (slow: a few dozen short generations)."""

from __future__ import annotations

import time

import pytest

from slant import PreferenceSession, open_db

SAMPLES = [
    {
        "context": "tell the team the office is closed on Monday",
        "text": "Hi team & all: office CLOSED Monday. Questions?",
    },
    {"context": "invite the team to lunch on Friday", "text": "Lunch & drinks on Friday? Who is IN?"},
]


@pytest.mark.model
def test_prose_end_to_end_on_the_embedded_model(tmp_path):
    start = time.monotonic()
    s = PreferenceSession(
        target="local", user="alice", db=tmp_path / "p.db", steps=1, k=1, draft_tokens=48, list_tokens=40
    )
    try:
        s.add_samples(SAMPLES, task="email")
        proposed = s.infer()
        db = open_db(tmp_path / "p.db")
        calls = list(db.query("select scope, error_kind, text from responses"))
        assert calls and all(c["error_kind"] is None for c in calls)
        scopes = {c["scope"] for c in calls}
        assert {"preference:draft", "preference:refine"} <= scopes
        if s.pending:  # the tiny model may or may not produce components that survive verification
            assert all(c.status == "proposed" and c.evidence for c in proposed.components)
            profile = s.confirm_all()
            assert {c.status for c in profile.components} == {"confirmed"}
        else:
            profile = s.profile
        assert profile.version == 1 and db.table("profiles").count == 1
        text = s.write("ask the team to send their reports by Thursday")
        assert text.strip()
        assert s.persona().startswith("a writer with these habits:")
    finally:
        s.close()
    print(f"PROSE on the embedded model: {len(calls)} calls, {time.monotonic() - start:.0f} s")
