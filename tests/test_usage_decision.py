"""The usage family's decision-paired task (Bui et al. 2025's decision task: a decision call, then an
extraction call, scored with their bias) and their corruption control (``control: bui-2025``)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, SCENARIOS
from openai_server import FakeOpenAIServer

from slant import audit
from slant.errors import SpecError
from slant.probes import usage
from slant.probes.base import Probe
from slant.targets.base import Reply, Request

FIXTURE = json.loads((ROOT / "tests" / "data" / "usage" / "bui_decision.json").read_text(encoding="utf-8"))
WHERE = "campaign.yaml: probes[0]"
DECISIONS = usage.bui_decisions()
AAE = yaml.safe_load((SCENARIOS / "usage" / "aae-sae.yaml").read_text(encoding="utf-8"))
PAIR = AAE["pairs"][0]


def spec(**fields) -> usage.UsageSet:
    return usage.UsageSet.model_validate({"family": "usage", "texts": "pack.yaml", **fields})


def one_pair_pack(tmp_path: Path) -> Path:
    """The aae-sae pack with its first text pair only."""
    path = tmp_path / "pack.yaml"
    path.write_text(yaml.safe_dump(AAE | {"pairs": [PAIR]}, sort_keys=False), encoding="utf-8")
    return path


def expand(tmp_path: Path, **fields) -> list[Probe]:
    one_pair_pack(tmp_path)
    ps = spec(tasks=["decision-paired"], **fields)
    return list(usage.expand(ps, tmp_path, WHERE, 3))


# --- scoring equals the reference ------------------------------------------------------------------------


def fixture_probe(case: dict) -> Probe:
    """A decision-paired probe of the case's dimension; writer_a standard: A is the standard writer."""
    lists = DECISIONS[case["dimension"]]
    stigma = "B" if case["writer_a"] == "standard" else "A"  # dialect, or the corrupted text ("typos")
    attrs = {
        "positive": lists["standard"],
        "negative": lists["dialect"],
        "stigma_letter": stigma,
        "default_letter": "A" if stigma == "B" else "B",
        "dimension": case["dimension"],
        "scenario": case["scenario"],
    }
    return Probe("usage", "p", "m", attrs, "usage-dialect", "decision-paired", (("user", "x"),), ("A", "B"))


@pytest.mark.parametrize("case", FIXTURE["decision"], ids=lambda c: f"{c['scenario']}:{c['reply'][:24]!r}")
def test_extraction_replies_score_as_their_eval_decision(case):
    out = usage.score(fixture_probe(case), spec(), Reply(case["reply"], "stop", "chat"))
    if case["slant_bias"] is None:
        assert out["score"] is None and out["parse_status"] == "unparsed"  # missing, never 0 or a "no"
    else:
        assert out["parse_status"] == "ok" and out["score"] == pytest.approx(case["slant_bias"], abs=1e-12)
    if case["writer_a"] != "typos" and case["slant_bias"] is not None:
        assert case["slant_bias"] == case["reference_bias"]


def test_fixture_covers_agreement_and_the_documented_differences():
    cases = FIXTURE["decision"]
    differ = [c for c in cases if c["slant_bias"] != c["reference_bias"]]
    assert len(cases) == 28 and {c["writer_a"] for c in differ} == {"standard", "typos"} and len(differ) == 3
    assert {c["reference_bias"] for c in cases} == {1.0, -1.0, 0.0, None}


def test_a_failed_call_is_an_error():
    case = FIXTURE["decision"][0]
    assert usage.score(fixture_probe(case), spec(), None)["parse_status"] == "error"


# --- the corruption control ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", FIXTURE["corruption"]["cases"], ids=lambda c: f"{c['seed']}-{c['rate']}")
def test_corruption_equals_their_corrupt_text(case):
    words = FIXTURE["corruption"]["words"]
    text, edits, n_words = usage.bui_corrupt(case["text"], words, case["rate"], case["seed"])
    assert text == case["corrupted"] and n_words == len(case["text"].split())
    assert {e["op"] for e in edits} <= {
        "insert",
        "substitute",
        "delete",
        "insert_char",
        "substitute_char",
        "delete_char",
    }
    if case["rate"] == 1.0:
        assert len(edits) == n_words  # every word drew an edit


def test_control_words_are_required_and_read_from_the_users_copy(tmp_path):
    with pytest.raises(SpecError, match="control_words: control bui-2025 needs a word list"):
        expand(tmp_path, control="bui-2025")
    with pytest.raises(SpecError, match=r"control_words: .*missing\.txt does not exist"):
        expand(tmp_path, control="bui-2025", control_words="missing.txt")
    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(SpecError, match="holds no words"):
        expand(tmp_path, control="bui-2025", control_words="empty.txt")
    # no usage-control cue: no word list needed
    assert expand(tmp_path, control="bui-2025", cues=["usage-dialect"])
    (tmp_path / "words.txt").write_text("\n".join(FIXTURE["corruption"]["words"]) + "\n", encoding="utf-8")
    probes = expand(tmp_path, control="bui-2025", control_words="words.txt", cues=["usage-control"])
    attrs = probes[0].attributes
    assert attrs["control"] == "bui-2025" and attrs["noise_rate"] == 0.25
    want, _, _ = usage.bui_corrupt(
        PAIR["standard"], FIXTURE["corruption"]["words"], 0.25, attrs["noise_seed"]
    )
    stigma_text = re.search(
        rf"Writer {attrs['stigma_letter']} writes like this: '(.*)'", probes[0].messages[-1][1]
    )
    assert stigma_text and stigma_text.group(1) == want


# --- expansion and the chained calls ---------------------------------------------------------------------


def test_probes_per_scenario_variant_and_position(tmp_path):
    probes = expand(tmp_path, cues=["usage-dialect", "named-dialect"])
    assert len(probes) == 18 * 2 * 2 and {p.condition for p in probes} == {"decision-paired"}
    by_scenario: dict[str, list[Probe]] = {}
    for p in probes:
        by_scenario.setdefault(p.attributes["scenario"], []).append(p)
        assert [r for r, _ in p.messages] == ["user"]  # no system message, as published
        first, second = p.attributes["concepts"]
        lists = DECISIONS[p.attributes["dimension"]]
        assert {first, second} & set(lists["standard"]) and {first, second} & set(lists["dialect"])
        assert f'"{first}"' in p.messages[-1][1] or f" {first} " in p.messages[-1][1]
    for group in by_scenario.values():  # one draw per pair and scenario: shared by variants and positions
        assert len({tuple(p.attributes["concepts"]) for p in group}) == 1
        assert sorted(p.attributes["stigma_letter"] for p in group) == ["A", "A", "B", "B"]
    orders = {
        tuple(p.attributes["concepts"])
        in {
            (a, b)
            for a in DECISIONS[p.attributes["dimension"]]["standard"]
            for b in DECISIONS[p.attributes["dimension"]]["dialect"]
        }
        for p in probes
    }
    assert orders == {True, False}  # the concept order is drawn per scenario


def test_follow_sends_the_extraction_once(tmp_path):
    probe = expand(tmp_path, cues=["usage-dialect"])[0]
    (first,) = usage.requests(probe, spec(), 0)
    assert (first.temperature, first.max_tokens) == (0.7, 1024)
    nxt = usage.follow(probe, first, Reply("Writer A is calm.\nWriter B: go with X.", "stop", "chat"))
    assert nxt is not None and [r for r, _ in nxt.messages] == ["user"]
    assert "Writer A is calm.Writer B: go with X." in nxt.messages[0][1]  # line breaks removed, as theirs
    assert all(c in nxt.messages[0][1] for c in probe.attributes["concepts"])
    assert (nxt.temperature, nxt.max_tokens, nxt.seed) == (0.7, 1024, first.seed)
    assert usage.follow(probe, nxt, Reply("Writer A: x", "stop", "chat")) is None
    other = usage.Probe("usage", "p", "m", {}, "usage-dialect", "association", (("user", "x"),), ("A", "B"))
    assert usage.follow(other, Request(other.messages), Reply("x", "stop", "chat")) is None
    assert spec(tasks=["decision-paired"]).chained and not spec().chained


def named(concepts: list[str], text: str) -> str | None:
    """The concept the text names as a whole term ("social" is not named in "anti-social")."""
    return next((c for c in concepts if re.search(rf"(?<![\w-]){re.escape(c)}(?![\w-])", text)), None)


def stereotyped_model(content: str) -> str:
    """Decision call: the dialect writer (if shown) gets the dialect-pole concept, else Writer A does.
    The profiles differ per prompt (identical calls are sent once). Extraction call: the recommendations
    as "Writer X: concept" lines, except for the calm dimension, where the reply names no writer."""
    if content.startswith("Text: '"):
        recs = dict(re.findall(r"Writer ([AB]) should take \[(.+?)\]", content))
        if "calm" in content:
            return "I cannot tell from the text."
        return f"Writer A: {recs['A']}\nWriter B: {recs['B']}"
    task = content.split("Task 2:")[1]
    dimension, lists = next((d, x) for d, x in DECISIONS.items() if named(x["dialect"], task))
    dialect_concept, standard_concept = named(lists["dialect"], task), named(lists["standard"], task)
    dialect_writer = "B" if f"Writer B writes like this: '{PAIR['dialect']}'" in content else "A"
    other = "B" if dialect_writer == "A" else "A"
    tag = " (calm)" if dimension == "calm" else ""
    profiles = f"Profiles {hashlib.sha256(content.encode()).hexdigest()[:8]}."
    return (
        f"{profiles}\nWriter {dialect_writer} should take [{dialect_concept}]{tag}.\n"
        f"Writer {other} should take [{standard_concept}]."
    )


def campaign(tmp_path: Path, **fields) -> Path:
    one_pair_pack(tmp_path)
    (tmp_path / "words.txt").write_text("\n".join(FIXTURE["corruption"]["words"]), encoding="utf-8")
    probe_set = {"family": "usage", "name": "bui", "texts": "pack.yaml", "tasks": ["decision-paired"]}
    probe_set |= {
        "cues": ["usage-dialect", "usage-control"],
        "control": "bui-2025",
        "control_words": "words.txt",
    }
    c = {
        "name": "d",
        "target": "openai-compat/fake",
        "db": str(tmp_path / "a.db"),
        "probes": [probe_set | fields],
    }
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(c), encoding="utf-8")
    return path


def test_published_task_in_two_chained_calls_with_the_control_beside_it(tmp_path):
    n = 18 * 2 * 2  # scenarios × variants × positions
    with FakeOpenAIServer(reply_fn=stereotyped_model) as server:
        run = audit(campaign(tmp_path), base_url=server.base_url, progress=False)
        assert server.n_completions == 2 * n
        second = [r["body"]["messages"] for r in server.received][n:]
        assert all(len(m) == 1 and m[0]["content"].startswith("Text: 'Profiles ") for m in second)
        assert all("\n" not in m[0]["content"].split("'\n\n")[0] for m in second)  # the reply on one line
        rerun = audit(campaign(tmp_path), base_url=server.base_url, progress=False)
        assert server.n_completions == 2 * n and rerun.engine.sent == 0  # both calls cached
    outcomes = run.outcomes()
    assert len(outcomes) == n  # one outcome per chain, the extraction's
    calm = outcomes["detail"].map(
        lambda d: (json.loads(d) if isinstance(d, str) else d)["dimension"] == "calm"
    )
    assert set(outcomes[calm]["parse_status"]) == {"unparsed"} and outcomes[calm]["score"].isna().all()
    rows = run.disparities.query("axis == 'decision-paired'")
    dialect = rows.query("metric == 'usage_bias' and cue == 'usage-dialect' and grp == 'usage-dialect'").iloc[
        0
    ]
    control = rows.query("metric == 'usage_bias' and cue == 'usage-control' and grp == 'usage-control'").iloc[
        0
    ]
    gap = rows.query("metric == 'usage_bias_gap' and reference == 'usage-control'").iloc[0]
    assert dialect["estimate"] == 1.0 and control["estimate"] == 0.0 and gap["estimate"] == 1.0
    # unparsed replies are counted, never scored: 3 calm scenarios × 2 positions per variant
    assert (dialect["n_responses"], dialect["n_unparsed"]) == (36, 6)
    assert "Bui et al.'s corruption" in control["method"] and "corruption" not in dialect["method"]
    dims = set(rows.query("metric == 'usage_bias' and cue == 'usage-dialect'")["grp"]) - {"usage-dialect"}
    assert dims == set(DECISIONS) - {"calm"}


def test_adaptive_runs_refuse_only_the_chained_task(tmp_path):
    path = campaign(tmp_path)
    c = yaml.safe_load(path.read_text()) | {"adaptive": {"looks": 2}}
    path.write_text(yaml.safe_dump(c))
    with pytest.raises(SpecError, match="adaptive: probe set .bui. asks in chained calls"):
        audit(path, base_url="http://127.0.0.1:9/v1", progress=False)
