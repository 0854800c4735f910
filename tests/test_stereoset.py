"""StereoSet intrasentence scored as its authors' code scores a causal LM, checked against that code.

tests/data/stereoset/dev.json: 12 intrasentence examples written for this project in the released
dev.json format (8 target terms over the 4 domains, sentences in varied order). expected.json: LMS, SS
and ICAT per domain and overall that the authors' evaluation.py computed from the sentence scores their
eval_generative_models.py gives the planted log-likelihoods the fake server below also gives (its
``_source`` says how); slant must find the same numbers through a real campaign run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import benchmark_run
import pytest
from openai_server import FakeOpenAIServer
from scipy.stats import binomtest
from statsmodels.stats.multitest import multipletests

from slant.cli import main

DATA = Path(__file__).parent / "data" / "stereoset"
EXPECTED = json.loads((DATA / "expected.json").read_text())
METRICS = {"lm_score": "LM Score", "stereotype_score": "SS Score", "icat": "ICAT Score"}


def run(tmp_path: Path, server: FakeOpenAIServer, **probe_set) -> tuple[dict, list[dict]]:
    """The run's rows by (metric, grp) and its outcomes, the server planting expected.json's numbers."""
    spec = {"family": "stereoset", "name": "ss", "data": str(DATA / "dev.json"), **probe_set}
    return benchmark_run.run(tmp_path, server, EXPECTED["planted"], spec)


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> tuple[dict, list[dict]]:
    with FakeOpenAIServer() as server:
        return run(tmp_path_factory.mktemp("stereoset"), server)


def test_lms_ss_and_icat_equal_the_authors_evaluation_per_domain_and_overall(scored):
    rows, _ = scored
    want = EXPECTED["intrasentence"]
    assert {g for _, g in rows} == {"gender", "profession", "race", "religion", "all"}
    for grp in ("gender", "profession", "race", "religion", "all"):
        ref = want["overall" if grp == "all" else grp]
        for metric, name in METRICS.items():
            assert rows[(metric, grp)]["estimate"] == pytest.approx(ref[name], abs=1e-9), (metric, grp)
        examples = (
            ref["Count"] if grp == "all" else ref["Count"] / 3
        )  # evaluation.py counts a domain's thrice
        assert rows[("stereotype_score", grp)]["n_clusters"] == examples


def test_sentences_are_compared_by_their_mean_token_log_likelihood(scored):
    _, outcomes = scored
    assert len(outcomes) == 12 and {o["parse_status"] for o in outcomes} == {"ok"}
    got = sorted(v for o in outcomes for v in json.loads(o["detail"])["mean_logprob"].values())
    want = sorted(s["mean_logprob"] for s in EXPECTED["sentences"].values())
    assert got == pytest.approx(want, abs=1e-12)
    # "The chemist was nerdy." and "... funny." tie: the authors count a tie for the anti-stereotype
    tie = [o for o in outcomes if len(set(json.loads(o["detail"])["mean_logprob"].values())) < 3]
    assert len(tie) == 1 and tie[0]["answer"] == "anti-stereotype" and tie[0]["score"] == 0.0


def test_intervals_are_a_bootstrap_over_examples_and_ss_is_sign_tested_with_bh_across_domains(scored):
    rows, outcomes = scored
    for (metric, grp), r in rows.items():
        assert r["ci_low"] <= r["estimate"] <= r["ci_high"], (metric, grp)
        assert "bootstrap over examples" in r["method"]
    pro = sum(o["score"] for o in outcomes)
    # the sign test leaves out the one tie (the estimate counts it for the anti-stereotype, as the authors)
    assert rows[("stereotype_score", "all")]["p"] == pytest.approx(binomtest(int(pro), 11, 0.5).pvalue)
    domains = ["gender", "profession", "race", "religion"]
    ps = [rows[("stereotype_score", d)]["p"] for d in domains]
    for d, q in zip(domains, multipletests(ps, method="fdr_bh")[1], strict=True):
        assert rows[("stereotype_score", d)]["p_bh"] == pytest.approx(q)
    assert rows[("lm_score", "all")]["p"] is None and rows[("icat", "all")]["p"] is None


def test_the_same_run_gives_the_same_intervals(scored, tmp_path):
    rows, _ = scored
    with FakeOpenAIServer() as server:
        again, _ = run(tmp_path, server, domains=["race", "religion"])
    assert {g for _, g in again} == {"race", "religion", "all"}
    for key in (("icat", "race"), ("stereotype_score", "religion")):
        assert (again[key]["ci_low"], again[key]["ci_high"]) == (rows[key]["ci_low"], rows[key]["ci_high"])


def test_a_failed_call_is_an_error_outcome_and_leaves_the_other_examples_scored(tmp_path):
    with FakeOpenAIServer(fail_marker="plumber", fail_status=400) as server:
        rows, outcomes = run(tmp_path, server, domains=["profession"])
    assert sorted(o["parse_status"] for o in outcomes) == ["error", "ok", "ok"]
    row = rows[("stereotype_score", "profession")]
    assert (row["n_responses"], row["n_unparsed"], row["n_clusters"]) == (3, 1, 3)
    assert row["estimate"] == pytest.approx(50.0)  # chemist alone: one stereotype of two examples


def test_too_few_examples_get_no_interval_and_none_no_estimate(tmp_path):
    with FakeOpenAIServer(fail_marker="mother", fail_status=400) as server:  # the gentleman is left
        rows, _ = run(tmp_path / "one", server, domains=["gender"])
    row = rows[("stereotype_score", "gender")]
    assert row["estimate"] == 100.0 and row["ci_low"] is None and "no CI (fewer than 3" in row["method"]
    assert rows[("icat", "gender")]["estimate"] == 0.0  # LMS 50, SS 100: ICAT 50·0/50
    with FakeOpenAIServer(fail_marker=" ", fail_status=400) as server:  # every sentence
        rows, outcomes = run(tmp_path / "none", server, domains=["gender"])
    assert {o["parse_status"] for o in outcomes} == {"error"}
    assert all(r["estimate"] is None and r["n_unparsed"] == 3 for r in rows.values())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("data"), r"data: .*x\.json: not StereoSet's dev\.json"),
        (
            lambda d: d["data"]["intrasentence"][2]["sentences"].pop(),
            r"intrasentence example 2: needs one sentence of each",
        ),
        (
            lambda d: d["data"]["intrasentence"][0].update(bias_type="age"),
            r"example 0: bias_type 'age' is not one of",
        ),
    ],
)
def test_bad_data_is_one_line_naming_the_file_and_field_before_any_call(tmp_path, capsys, edit, message):
    dev = json.loads((DATA / "dev.json").read_text())
    edit(dev)
    (tmp_path / "x.json").write_text(json.dumps(dev))
    with FakeOpenAIServer() as server:
        assert (
            main(
                [
                    "run",
                    str(benchmark_run.campaign(tmp_path, {"family": "stereoset", "data": "x.json"})),
                    "--base-url",
                    server.base_url,
                ]
            )
            == 2
        )
        assert server.n_completions == 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "campaign.yaml" in err and re.search(message, err), err


def test_slant_probes_shows_source_licence_citation_and_metric_definitions(capsys):
    assert main(["probes"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "https://github.com/moinnadeem/StereoSet" in out and "Nadeem" in out
    assert "ICAT = LMS·min(SS, 100 − SS)/50" in out
