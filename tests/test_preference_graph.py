"""The PROSE graph with a scripted model: the loop's budget, verification, review and checkpoints."""

from __future__ import annotations

import pytest
from scripted_model import USER_TEXT, ScriptedTarget, default_script

from slant import open_db
from slant.agents import PreferenceSession
from slant.agents.components import Sample
from slant.agents.gateway import Gateway
from slant.agents.preference import Ctx, PreferenceConfig, draft, pending_checks, refine, verify

SAMPLES = [USER_TEXT, "lunch & drinks on friday? who is in?", "the report is late & i am sorry. ok?"]
REFINE = "How does the user write differently"
VERIFY = "Does the text follow the preference"


def session(tmp_path, target=None, **cfg):
    tmp_path.mkdir(parents=True, exist_ok=True)
    return PreferenceSession(target=target or ScriptedTarget(), user="alice", db=tmp_path / "p.db", **cfg)


def test_refinement_stops_after_s_steps(tmp_path):
    def script(u: str) -> str:  # every refinement adds a rule; drafts never get close
        if REFINE in u:
            n = u.count("\n- rule")
            return "Preferences:\n" + "\n".join(f"- rule {i}" for i in range(n + 1))
        return "Dear all, noted." if "Write the text" in u else default_script(u)

    t = ScriptedTarget(script)
    with session(tmp_path, t, steps=3, review=False, validation=False) as s:
        s.add_samples(SAMPLES[:1], task="email")
        s.infer()
        values = s.graph.get_state(s.thread).values
    assert t.count(REFINE) == 3 and values["step"] == 3  # the whole budget is spent
    assert [d["step"] for d in values["drafts"]] == [0, 1, 2]  # no draft after the last refinement
    assert values["candidates"] == ["rule 0", "rule 1", "rule 2"]


def test_refinement_stops_when_it_changes_nothing(tmp_path):
    t = ScriptedTarget(lambda u: "Dear all, noted." if "Write the text" in u else default_script(u))
    with session(tmp_path, t, steps=4, review=False, validation=False) as s:
        s.add_samples(SAMPLES[:1], task="email")
        s.infer()
        assert s.graph.get_state(s.thread).values["step"] == 2  # step 2 repeated step 1's components
    assert t.count(REFINE) == 2


def test_refinement_stops_when_the_draft_is_close_enough(tmp_path):
    def script(u: str) -> str:
        if "Write the text" in u:
            return USER_TEXT if "&" in u.split("Write the text")[0] else "Dear colleagues, closed Monday."
        return default_script(u)

    t = ScriptedTarget(script)
    with session(tmp_path, t, steps=5, similarity_stop=0.9, review=False, validation=False) as s:
        s.add_samples(SAMPLES[:1], task="email")
        s.infer()
        drafts = s.graph.get_state(s.thread).values["drafts"]
    assert t.count(REFINE) == 1  # one refinement added "&", the next draft matched the user's text
    assert [round(d["similarity"], 2) for d in drafts][-1] == 1.0


def test_verification_keeps_components_above_tau_with_evidence(tmp_path):
    with session(tmp_path, steps=1, k=1, review=False, specificity=False) as s:
        s.add_samples(SAMPLES[:2], task="email")
        p = s.infer()
    by_text = {c.text: c for c in p.components}
    # "writes in lower case" scores +1 on the lower-case samples; & and the question score +2
    assert set(by_text) == {"uses & instead of and", "ends with a question", "writes in lower case"}
    amp = by_text["uses & instead of and"]
    assert amp.mean == 2.0 and amp.confirmed_by == ["alice-1", "alice-0"] and amp.contradicted_by == []
    assert p.version == 1  # saved without review

    with session(tmp_path / "strict", steps=1, k=1, review=False, specificity=False, tau=1.5) as s:
        s.add_samples(SAMPLES[:2], task="email")
        assert {c.text for c in s.infer().components} == {"uses & instead of and", "ends with a question"}


def test_a_contradicted_component_is_dropped(tmp_path):
    def script(u: str) -> str:
        if REFINE in u:
            return "Preferences:\n- uses & instead of and\n- signs off with Best"
        return default_script(u)

    with session(tmp_path, ScriptedTarget(script), steps=1, review=False, specificity=False) as s:
        s.add_samples(SAMPLES[:1])
        assert [c.text for c in s.infer().components] == ["uses & instead of and"]
        kept_out = [
            v
            for v in s.graph.get_state(s.thread).values["verdicts"]
            if v["component"] == "signs off with Best"
        ]
        assert [v["score"] for v in kept_out] == [-1]


def test_decisive_components_skip_the_remaining_samples(tmp_path):
    t = ScriptedTarget()
    with session(tmp_path, t, steps=1, k=2, review=False, specificity=False) as s:
        s.add_samples(SAMPLES, task="email")
        s.infer()
        values = s.graph.get_state(s.thread).values
    amp = [v for v in values["verdicts"] if v["component"] == "uses & instead of and"]
    # sample 0: 1 check; sample 1: 2 checks; sample 2: +2, +2 decide it, the third sample is skipped
    assert [sum(v["round"] == r for v in amp) for r in (0, 1, 2)] == [1, 2, 2]
    last = [v for v in values["verdicts"] if v["round"] == 2 and v["component"] == "uses & instead of and"]
    assert [v["sample_id"] for v in last] == ["alice-2", "alice-1"]


def test_specificity_flags_components_the_default_output_also_follows(tmp_path):
    def script(u: str) -> str:
        if REFINE in u:
            return "Preferences:\n- uses & instead of and\n- mentions the office"
        return default_script(u)

    with session(tmp_path, ScriptedTarget(script), steps=1, review=False) as s:
        s.add_samples(SAMPLES[:1])
        flags = {c.text: c.generic for c in s.infer().components}
    assert flags == {"uses & instead of and": False, "mentions the office": True}


def test_failed_verdicts_are_errors_never_verdicts(tmp_path):
    t = ScriptedTarget(fail_when=VERIFY)
    with session(tmp_path, t, steps=1, review=False) as s:
        s.add_samples(SAMPLES[:1])
        p = s.infer()
        values = s.graph.get_state(s.thread).values
    assert p.components == []
    assert {v["problem"] for v in values["verdicts"]} == {"error"} and all(
        v["score"] is None for v in values["verdicts"]
    )
    assert any("no usable verdict" in e for e in values["errors"])
    assert s.llm.ledger.failed == len(values["verdicts"])
    db = open_db(tmp_path / "p.db")
    assert db.table("responses").count_where("scope = 'preference:verify' and error_kind is not null") == 3


def test_a_failed_refine_keeps_the_components_and_stops(tmp_path):
    t = ScriptedTarget(fail_when=REFINE)
    with session(tmp_path, t, steps=3, review=False, validation=False) as s:
        s.add_samples(SAMPLES[:1])
        p = s.infer()
        errors = s.graph.get_state(s.thread).values["errors"]
    assert p.components == [] and t.count(REFINE) == 1  # not retried by the node (the engine retried it)
    assert errors == ["alice-0: refine call failed; kept the components"]


def test_review_confirm_reject_edit_and_resume_in_a_new_session(tmp_path):
    s = session(tmp_path, steps=1, k=1)
    s.add_samples(SAMPLES[:2], task="email")
    p = s.infer()
    assert s.pending == [0, 1, 2] and {c.status for c in p.components} == {"proposed"}
    assert open_db(tmp_path / "p.db").table("profiles").count == 0  # nothing saved before review
    s.confirm(0)
    with pytest.raises(Exception, match="not awaiting review"):
        s.confirm(0)
    s.close()

    again = session(tmp_path, steps=1, k=1)  # a new Python session: the checkpoint has the review
    assert again.pending == [1, 2]
    again.reject(1)
    p = again.edit(2, "writes everything in lower case")
    assert again.pending == []
    assert [(c.text, c.status) for c in p.components] == [
        ("uses & instead of and", "confirmed"),
        ("ends with a question", "rejected"),
        ("writes everything in lower case", "confirmed"),
    ]
    assert p.version == 1
    row = next(open_db(tmp_path / "p.db").query("select * from profiles"))
    assert (row["user"], row["method"], row["version"]) == ("alice", "prose", 1)
    assert "writes everything in lower case" in again.persona() and "question" not in again.persona()
    assert "&" in again.write("decline the Friday meeting")
    # adding the same samples again is a no-op; a rejected component is not proposed again
    assert again.add_samples(SAMPLES[:2], task="email") == 0
    again.add_samples(SAMPLES[2:], task="email")
    p = again.infer()
    assert [c.text for c in p.components].count("ends with a question") == 1
    again.close()


def test_every_call_is_stored_under_its_node_and_cached(tmp_path):
    with session(tmp_path, steps=1, k=1, review=False) as s:
        s.add_samples(SAMPLES[:2])
        s.infer()
        first = len(s.llm.ledger.keys)
    scopes = {r["scope"] for r in open_db(tmp_path / "p.db").query("select distinct scope from responses")}
    assert scopes == {
        "preference:draft",
        "preference:refine",
        "preference:breakdown",
        "preference:verify",
    }
    t = ScriptedTarget()
    bob = PreferenceSession(target=t, user="bob", db=tmp_path / "p.db", steps=1, k=1, review=False)
    bob.add_samples(SAMPLES[:2])
    bob.infer()
    assert bob.llm.ledger.sent < len(bob.llm.ledger.keys)  # alice's identical calls came from the cache
    assert first > 0
    bob.close()


def test_nodes_are_plain_functions(tmp_path):
    with Gateway(ScriptedTarget(), tmp_path / "n.db") as llm:
        ctx = Ctx(llm, PreferenceConfig(steps=1, k=1, specificity=False))
        state = {
            "samples": [Sample(id="s0", text=USER_TEXT).model_dump()],
            "cursor": 0,
            "components": [],
            "step": 0,
        }
        out = draft(state, ctx)
        assert out["drafts"][0]["step"] == 0 and 0 <= out["drafts"][0]["similarity"] < 0.5
        state |= out
        assert refine(state, ctx)["components"] == [
            "uses & instead of and",
            "ends with a question",
            "writes in lower case",
        ]
        check = {
            "component": "ends with a question",
            "sample_id": "s0",
            "kind": "user",
            "text": USER_TEXT,
            "round": 0,
        }
        assert verify(check, ctx)["verdicts"][0]["score"] == 2
        state |= {"candidates": ["ends with a question"], "verdicts": [{**check, "score": 2}]}
        assert pending_checks(state, ctx) == []  # one sample, one verdict: decided


def test_the_readme_transcript_runs(tmp_path, monkeypatch):
    """The README's REPL session, with the scripted model in place of the embedded one."""
    import re

    from conftest import ROOT

    block = re.search(r"```pycon\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    code = "\n".join(line[4:] for line in block.splitlines() if line.startswith(">>> "))
    assert 'target="local"' in code and "s.infer()" in code and "s.write(" in code
    monkeypatch.chdir(tmp_path)
    namespace = {"scripted": ScriptedTarget()}
    exec(compile(code.replace('target="local"', "target=scripted"), "README.md", "exec"), namespace)
    profile = namespace["s"].profile
    assert profile.version == 1 and profile.components[0].status == "rejected"
    assert (tmp_path / "prefs.db").exists() and (tmp_path / "prefs.checkpoints.db").exists()
    namespace["s"].close()
