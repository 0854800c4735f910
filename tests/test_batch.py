"""Batch inference (slant.batch): export → an engine → import gives the outcomes and statistics of the
online path on the same replies; errors stay errors; a Batch API (tests/batch_server.py, a real
loopback server) is driven by submit/status/collect and resumed after a crash; bad files are refused
in one line naming the file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from batch_server import BatchAPIServer, answer_lines, jsonl
from conftest import ROOT, SCENARIOS, write_campaign
from openai_server import FakeOpenAIServer
from test_pairwise_assign import assign_campaign, stereotyped_model

from slant import audit, batch, export_batch, import_batch, open_db
from slant.batch import batch_lines, export_notes, load
from slant.cli import main
from slant.errors import SlantError
from slant.targets.base import loglikelihood

LENDING = {"scenarios": [str(SCENARIOS / "decisions" / "lending.yaml")]}
REPLY = ("endpoint", "text", "finish_reason", "top_logprobs", "continuation_logprobs", "usage", "fingerprint",
         "served_model", "prefill_applied", "error_kind", "error")  # fmt: skip
OUTCOME = ("request_key", "parse_status", "answer", "p_yes", "mass", "refusal", "score", "detail")
DISPARITY = ("metric", "cue", "axis", "grp", "reference", "estimate", "ci_low", "ci_high", "p", "p_adj",
             "n_responses", "method", "extra")  # fmt: skip


def campaign(tmp_path: Path, server: FakeOpenAIServer, **top: Any) -> Path:
    """A small decision campaign (one pack: 3 scenarios × 8 demographic variants) on ``server``."""
    return write_campaign(tmp_path, LENDING, base_url=server.base_url, **top)


def engine(fake: FakeOpenAIServer, requests: Path, results: Path) -> None:
    """What `vllm run-batch -i requests -o results` does, with the fake server's replies."""
    done, failed = answer_lines(fake, requests.read_text())
    results.write_text(jsonl(done + failed))


def rows(db: Path, sql: str, cols: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in cols) for r in open_db(db).query(sql)]


def same_run(online: Path, batch: Path) -> None:
    """Both databases hold the same replies, outcomes and disparity rows."""
    for sql, cols in (
        ("select * from responses order by key", ("key", *REPLY)),
        ("select * from outcomes order by probe_id, sample", OUTCOME),
        ("select * from disparities order by metric, cue, axis, grp, reference", DISPARITY),
    ):
        want, got = rows(online, sql, cols), rows(batch, sql, cols)
        assert want and got == want, sql


@pytest.mark.parametrize("prefill", ["none", "chatml"])
@pytest.mark.parametrize("list_cased", [False, True])
def test_export_engine_import_equals_the_online_run(tmp_path, server, prefill, list_cased):
    """chat calls (prefill none) and completions with the continuations' echo calls (chatml), where the
    top logprobs miss Yes/No (echo lines used) or list them (echo lines ignored, as online)."""
    server.list_cased = list_cased
    path = campaign(tmp_path, server, prefill=prefill)
    online = audit(path, db=tmp_path / "online.db", progress=False)
    assert online.status == "complete"
    sent_online = [(r["path"], r["body"]) for r in server.received]

    _, out = export_batch(path, tmp_path / "requests.jsonl", db=tmp_path / "batch.db")
    lines = [json.loads(x) for x in (tmp_path / "requests.jsonl").read_text().splitlines()]
    assert out.n_requests == online.n_requests == len({x["custom_id"].split("#")[0] for x in lines})
    exported = [(x["url"], x["body"]) for x in lines]
    assert all(call in exported for call in sent_online)  # every online call, byte for byte
    n_echo = 0 if prefill == "none" else 4 * out.n_requests  # yes, Yes, no, No after each prefill
    assert out.n_lines == out.n_requests + n_echo and bool(out.notes) == bool(n_echo)

    engine(server, tmp_path / "requests.jsonl", tmp_path / "results.jsonl")
    got = import_batch(tmp_path / "results.jsonl", path, db=tmp_path / "batch.db")
    assert (got.stored, got.errors, got.incomplete) == (out.n_requests, {}, 0)
    assert got.run.status == "complete" and got.run.run_id == online.run_id
    same_run(tmp_path / "online.db", tmp_path / "batch.db")
    source = {
        json.loads(d)["p_yes_source"]
        for (d,) in rows(tmp_path / "batch.db", "select detail from outcomes", ("detail",))
    }
    assert source == ({"exact"} if prefill == "chatml" else {"topk"})

    # nothing left to export; importing the same file again changes nothing
    _, again = export_batch(path, tmp_path / "r2.jsonl", db=tmp_path / "batch.db")
    assert again.n_lines == 0 and (tmp_path / "r2.jsonl").read_text() == ""
    assert import_batch(tmp_path / "results.jsonl", path, db=tmp_path / "batch.db").already == out.n_requests


def test_errors_are_stored_as_errors_and_exported_again(tmp_path, server):
    path = campaign(tmp_path, server)
    db = tmp_path / "batch.db"
    export_batch(path, tmp_path / "requests.jsonl", db=db)
    server.fail_marker = "30-year-old"  # half the probes: HTTP 500
    engine(server, tmp_path / "requests.jsonl", tmp_path / "results.jsonl")
    results = (tmp_path / "results.jsonl").read_text().splitlines()
    expired = json.loads(results[0])  # the Batch API's own failure: no response at all
    expired.update(response=None, error={"code": "batch_expired", "message": "the batch expired"})
    (tmp_path / "results.jsonl").write_text("\n".join([json.dumps(expired), *results[1:]]) + "\n")

    got = import_batch(tmp_path / "results.jsonl", path, db=db)
    assert got.errors == {"http_500": 12, "batch_expired": 1} and got.stored == 11
    assert got.run.status == "incomplete"
    failed = rows(db, "select * from responses where error_kind is not null", ("text", "error", "key"))
    assert len(failed) == 13 and all(text is None and error for text, error, _ in failed)
    statuses = [s for (s,) in rows(db, "select parse_status from outcomes", ("parse_status",))]
    assert statuses.count("error") == 13 and statuses.count("ok") == 11
    attempts = rows(db, "select * from attempts where ok = 0", ("error_kind", "owner"))
    assert sorted(attempts)[0] == ("batch_expired", "batch:results.jsonl") and len(attempts) == 13

    _, again = export_batch(path, tmp_path / "r2.jsonl", db=db)  # the failed ones, and only those
    assert {json.loads(x)["custom_id"] for x in (tmp_path / "r2.jsonl").read_text().splitlines()} == {
        key for _, _, key in failed
    }
    server.fail_marker = None
    engine(server, tmp_path / "r2.jsonl", tmp_path / "results2.jsonl")
    assert import_batch(tmp_path / "results2.jsonl", path, db=db).run.status == "complete"


def test_chained_calls_come_in_a_second_round(tmp_path):
    (tmp_path / "on").mkdir()
    (tmp_path / "b").mkdir()
    with FakeOpenAIServer(reply_fn=stereotyped_model) as server:
        audit(assign_campaign(tmp_path / "on"), base_url=server.base_url, progress=False)
        path = assign_campaign(tmp_path / "b")
        rounds = []
        for i in (1, 2, 3):
            _, out = export_batch(path, tmp_path / f"r{i}.jsonl", base_url=server.base_url)
            rounds.append(out.n_lines)
            if not out.n_lines:
                break
            assert "export again for the next round" in out.notes[0]
            engine(server, tmp_path / f"r{i}.jsonl", tmp_path / f"o{i}.jsonl")
            got = import_batch(tmp_path / f"o{i}.jsonl", path, base_url=server.base_url)
            assert got.run.status == ("incomplete" if i == 1 else "complete")
    assert rounds == [6, 6, 0]  # profiles, then the assignments that quote them
    same_run(tmp_path / "on" / "a.db", tmp_path / "b" / "a.db")


def test_import_without_the_campaign_finds_its_export(tmp_path, server, capsys):
    path = campaign(tmp_path, server)
    db = str(tmp_path / "audit.db")
    assert main(["batch", "export", str(path), "-o", str(tmp_path / "requests.jsonl")]) == 0
    assert "24 requests without a stored reply" in capsys.readouterr().out
    engine(server, tmp_path / "requests.jsonl", tmp_path / "results.jsonl")
    assert main(["batch", "import", str(tmp_path / "results.jsonl"), "--db", db]) == 0
    out = capsys.readouterr().out
    assert "24 replies stored, 0 errors stored" in out and "P(yes) [95% CI]" in out


def bad_lines(key: str) -> dict[str, str]:
    ok = {"custom_id": key, "response": {"status_code": 200, "body": {}}}
    return {
        "{not json": "line 2: not JSON",
        "[1, 2]": "line 2: no custom_id",
        json.dumps({"custom_id": key}): f"line 2: custom_id '{key}' has neither a response nor an error",
        json.dumps({**ok, "response": {"body": {}}}): "line 2: response.status_code: expected an HTTP status",
        json.dumps({**ok, "custom_id": "abc"}): "line 2: custom_id 'abc' is no request of campaign test",
    }


def test_malformed_files_are_refused_in_one_line_before_anything_is_stored(tmp_path, server, capsys):
    path = campaign(tmp_path, server)
    db = tmp_path / "batch.db"
    export_batch(path, tmp_path / "requests.jsonl", db=db)
    engine(server, tmp_path / "requests.jsonl", tmp_path / "results.jsonl")
    first = (tmp_path / "results.jsonl").read_text().splitlines()[0]
    key = json.loads(first)["custom_id"]
    for bad, message in bad_lines(key).items():
        (tmp_path / "bad.jsonl").write_text(f"{first}\n{bad}\n")
        with pytest.raises(SlantError, match="bad.jsonl: " + message.replace("[", r"\[")):
            import_batch(tmp_path / "bad.jsonl", path, db=db)
        assert main(["batch", "import", str(tmp_path / "bad.jsonl"), str(path), "--db", str(db)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("slant: error: ") and err.count("\n") == 1 and "line 2" in err
    assert open_db(db).table("responses").count == 0
    assert main(["batch", "import", str(tmp_path / "nope.jsonl"), str(path)]) == 2
    assert "nope.jsonl: cannot read" in capsys.readouterr().err
    adaptive = write_campaign(tmp_path / "ad", LENDING, adaptive={"looks": 3, "alpha": 0.05})
    with pytest.raises(SlantError, match="adaptive: adaptive runs ask in looks"):
        export_batch(adaptive, tmp_path / "x.jsonl")


def batch_cli(capsys: pytest.CaptureFixture[str], action: str, path: Path, db: Path) -> tuple[int, str]:
    code = main(["batch", action, str(path), "--db", str(db)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_submit_status_collect_against_a_batch_api(tmp_path, server, capsys):
    with BatchAPIServer(server) as api:  # serves online calls too, as hosted OpenAI does
        path = campaign(tmp_path, api, prefill="chatml")
        online = audit(path, db=tmp_path / "online.db", progress=False)
        db = tmp_path / "batch.db"
        code, out = batch_cli(capsys, "submit", path, db)
        assert code == 0 and "(/v1/completions, 120 lines): in_progress" in out and "96 echo calls" in out
        assert batch_cli(capsys, "submit", path, db)[1].startswith("nothing to submit")
        assert len(api.batches) == 1  # the requests of an open batch are not submitted again
        assert "in_progress, 0 of 120 done, 0 failed" in batch_cli(capsys, "status", path, db)[1]
        code, out = batch_cli(capsys, "collect", path, db)
        assert code == 3 and "is in_progress: collect again later" in out
        assert open_db(db).table("responses").count == 0

        api.finish()
        assert "completed, 120 of 120 done" in batch_cli(capsys, "status", path, db)[1]
        code, out = batch_cli(capsys, "collect", path, db)
        assert code == 0 and "24 replies stored, 0 errors stored" in out and "P(yes) [95% CI]" in out
        assert online.status == "complete"
        same_run(tmp_path / "online.db", db)
        assert batch_cli(capsys, "status", path, db)[1].startswith("no open batch of campaign test")

        # a collect that crashed after storing, before marking its batch collected, is run again
        open_db(db).execute("update batches set status = 'completed'").connection.commit()
        code, out = batch_cli(capsys, "collect", path, db)
        assert code == 0 and "0 replies stored, 0 errors stored, 24 already stored" in out


def test_submit_resumes_after_a_crash_and_never_submits_twice(tmp_path, server, capsys):
    with BatchAPIServer(server) as api:
        path = campaign(tmp_path, api)
        db = tmp_path / "batch.db"
        api.fail_create = 1  # the file is uploaded, creating the batch fails
        code, out = batch_cli(capsys, "submit", path, db)
        assert code == 3 and f"batch API at {api.base_url}: " in out and "rerun the same command" in out
        assert (len(api.files), len(api.batches)) == (1, 0)
        stored = open_db(db).execute("select status, input_file_id from batches").fetchall()
        assert stored == [("uploading", "file-1")]
        code, out = batch_cli(capsys, "submit", path, db)
        assert code == 0 and "24 lines): in_progress" in out
        assert (len(api.files), len(api.batches)) == (1, 1)  # the same file; one batch

        other = tmp_path / "other.db"  # the batch is created, the reply to the create is lost
        api.lose_create = 1
        assert batch_cli(capsys, "submit", path, other)[0] == 3 and len(api.batches) == 2
        code, out = batch_cli(capsys, "submit", path, other)
        assert code == 0 and len(api.batches) == 2  # found again by its metadata, not created twice
        api.finish()
        assert batch_cli(capsys, "collect", path, other)[0] == 0
        assert batch_cli(capsys, "collect", path, db)[0] == 0
    assert open_db(other).table("responses").count == open_db(db).table("responses").count == 24


def test_the_readme_example_output_answers_the_example_campaign(tmp_path, capsys, monkeypatch):
    """README's commands: scenarios/examples/batch-results.jsonl answers every request the example
    campaign exports (regenerate it with answer_lines if the lending pack or the request keys change)."""
    monkeypatch.chdir(tmp_path)
    example = ROOT / "scenarios" / "examples"
    assert main(["batch", "export", str(example / "batch.yaml"), "-o", "requests.jsonl", "--db", "b.db"]) == 0
    exported = {json.loads(x)["custom_id"] for x in Path("requests.jsonl").read_text().splitlines()}
    shipped = {json.loads(x)["custom_id"] for x in (example / "batch-results.jsonl").read_text().splitlines()}
    assert exported == shipped and len(exported) == 12
    capsys.readouterr()
    results = str(example / "batch-results.jsonl")
    assert main(["batch", "import", results, str(example / "batch.yaml"), "--db", "b.db"]) == 0
    assert "12 replies stored, 0 errors stored" in capsys.readouterr().out


def test_a_failed_batch_is_collected_and_its_requests_submitted_again(tmp_path, server, capsys):
    with BatchAPIServer(server) as api:
        path, db = campaign(tmp_path, api), tmp_path / "batch.db"
        assert batch_cli(capsys, "submit", path, db)[0] == 0
        api.fail("line 3: bad body")
        code, out = batch_cli(capsys, "collect", path, db)
        assert code == 3 and "failed (line 3: bad body): the next submit sends its unanswered" in out
        assert open_db(db).table("responses").count == 0
        assert "24 lines): in_progress" in batch_cli(capsys, "submit", path, db)[1]
        assert len(api.batches) == 2


def test_loglikelihood_requests_are_left_for_the_online_path(tmp_path, server):
    p = load(campaign(tmp_path, server, prefill="chatml"))
    first = next(iter(p.requests))
    p.requests = {"ll": loglikelihood(("a", "b"), text="x"), **p.requests}
    lines = batch_lines(p, ["ll", first])
    assert [x["custom_id"] for x in lines] == [first] + [f"{first}#echo{i}" for i in range(4)]
    notes = export_notes(p, ["ll", first], lines)
    assert notes[0].startswith("1 log-likelihood requests are left out") and "`slant run`" in notes[0]


def test_a_large_submit_is_split_into_batches_keeping_echo_lines_with_their_request(
    tmp_path, server, capsys, monkeypatch
):
    monkeypatch.setattr(batch, "MAX_LINES", 50)  # 24 requests × 5 lines (a call, 4 echo calls): 50, 50, 20
    with BatchAPIServer(server) as api:
        path, db = campaign(tmp_path, api, prefill="chatml"), tmp_path / "batch.db"
        code, out = batch_cli(capsys, "submit", path, db)
        assert code == 0 and len(api.batches) == 3
        assert [b["request_counts"]["total"] for b in api.batches.values()] == [50, 50, 20]
        api.finish()
        code, out = batch_cli(capsys, "collect", path, db)
        assert code == 0 and "24 replies stored, 0 errors stored, 0 already stored" in out
