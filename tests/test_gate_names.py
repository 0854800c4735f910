"""Gates name only what the campaign can produce: every family declares its metrics and axes (with their
groups), a typo in a gate is refused before any call, and the declarations match the rows written."""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import SCENARIOS, write_campaign
from openai_server import FakeOpenAIServer
from test_degenerate import full_campaign

from slant import audit, open_db
from slant.cli import main
from slant.probes import Outputs, family_of, outputs
from slant.spec import load_campaign

# --- a server that answers every family in its own answer format ------------------------------------


def _u(*parts: Any) -> float:
    """A number in [0, 1) fixed by the parts."""
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:8], 16) / 16**8


def _user_text(body: dict[str, Any]) -> str:
    if "messages" in body:
        return [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
    return body["prompt"].rsplit("<|im_start|>user\n", 1)[-1].split("<|im_end|>")[0]


def _answer_space(user: str) -> tuple[str, ...]:
    if "A, B, C or D" in user:
        return ("A", "B", "C", "D")
    if "either A, B or C" in user:
        return ("A", "B", "C")
    if "either A or B" in user:
        return ("A", "B")
    return ("yes", "no")


class FamilyServer(FakeOpenAIServer):
    """Replies in each family's format (word lists for IAT and usage, letters for options, yes/no else),
    chosen by a hash of the prompt and seed, so every family gets usable, varied answers."""

    def _completion(self, path: str, prompt: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = super()._completion(path, prompt, body)
        user, seed = _user_text(body), body.get("seed")
        space = _answer_space(user)
        weights = {t: 0.1 + _u(prompt, t) for t in space}
        total = sum(weights.values())
        probs = {t: 0.96 * w / total for t, w in weights.items()} | {"The": 0.04}
        word = max(space, key=weights.__getitem__)
        if (body.get("temperature") or 0) > 0:
            u, acc = _u(prompt, seed), 0.0
            for t in space:
                acc += weights[t] / total
                if u < acc:
                    word = t
                    break
        text = self._lines(user, seed) or (f"({word})" if len(space) == 4 else word)
        choice = payload["choices"][0]
        if "message" in choice:
            choice["message"]["content"] = text
            if choice["logprobs"]:
                top = [{"token": t, "logprob": math.log(p), "bytes": None} for t, p in probs.items()]
                choice["logprobs"]["content"] = [
                    {"token": word, "logprob": 0.0, "bytes": None, "top_logprobs": top}
                ]
        else:
            choice["text"] = text
            if choice["logprobs"]:
                top = {t: math.log(p) for t, p in probs.items()}
                choice["logprobs"] |= {"tokens": [word], "token_logprobs": [top[word]], "top_logprobs": [top]}
        return payload

    @staticmethod
    def _lines(user: str, seed: Any) -> str | None:
        """One "word - choice" line per listed word (IAT terms, usage traits), or None."""
        if m := re.search(r'choose one of the two terms "(.+?)" or "(.+?)"', user):
            choices, words = m.groups(), re.search(r"Words: (.+)", user).group(1).split(", ")
        elif m := re.search(r"Adjectives: (.+)", user):
            words = m.group(1).split(", ")
            choices = ("A", "B") if '"adjective - A"' in user else ("yes", "no")
        else:
            return None
        return "\n".join(f"{w} - {choices[_u(user, seed, w) < 0.5]}" for w in words)


# --- every row written is declared, and every declared metric is written --------------------------


def coverage_campaign(tmp: Path, sampled: bool) -> Path:
    """The shipped full campaign, reshaped so that a --limit 40 run reaches every metric its families
    can write: three races (Cochran's Q), a calibrated decision set, an association-paired usage set."""
    path = full_campaign(tmp)
    c = yaml.safe_load(path.read_text())
    decision = next(ps for ps in c["probes"] if ps["family"] == "decision")
    decision |= {"cues": ["explicit"], "conditions": ["none"], "calibration": False}
    decision["demographics"]["race"] = ["white", "Black", "Asian"]
    prior = {
        "family": "decision",
        "name": "prior",
        "scenarios": str(SCENARIOS / "decisions" / "lending.yaml"),
        "demographics": {"age": [40], "gender": ["female"], "race": ["white"]},
        "calibration": True,
    }
    usage = next(ps for ps in c["probes"] if ps["family"] == "usage")
    usage["tasks"] = ["association", "decision"]  # the limit would stop before association-paired
    c["probes"] += [prior, usage | {"name": "usage-paired", "tasks": ["association-paired"]}]
    if sampled:
        for ps in c["probes"]:
            if ps["family"] in ("decision", "attack", "pairwise", "persona", "fill-in"):
                ps["scoring"] = {"sample": {"n": 2}}
    path.write_text(yaml.safe_dump(c, sort_keys=False))
    return path


def declared(campaign: Path) -> dict[str, Outputs]:
    c = load_campaign(campaign)
    return {
        ps.name: outputs(ps, list(family_of(ps).expand(ps, campaign.parent, ps.name, c.seed)))
        for ps in c.probes
    }


@pytest.mark.parametrize("sampled", [False, True], ids=["logprobs", "sampled"])
def test_every_written_estimate_is_declared_by_its_family(tmp_path, sampled):
    campaign = coverage_campaign(tmp_path, sampled)
    with FamilyServer() as server:
        result = audit(campaign, base_url=server.base_url, progress=False, limit=40)
    assert result.status == "complete"
    rows = list(
        open_db(result.db_path).query(
            "select distinct probe_set, metric, axis, grp, cue from disparities where run_id = ?",
            [result.run_id],
        )
    )
    decl = declared(campaign)
    undeclared = [
        r
        for r in rows
        if not (
            (d := decl[r["probe_set"]]).metrics >= {r["metric"]}
            and r["grp"] in d.axes.get(r["axis"], set())
            and r["cue"] in d.cues
        )
    ]
    assert undeclared == []
    written = {name: {r["metric"] for r in rows if r["probe_set"] == name} for name in decl}
    assert written == {name: d.metrics for name, d in decl.items()}  # no declared metric is a fiction


def test_declared_metrics_follow_the_options(tmp_path):
    """Sampling mode, baselines, calibration and levels change what a family can write."""
    c = declared(coverage_campaign(tmp_path, sampled=False))
    (tmp_path / "s").mkdir()
    s = declared(coverage_campaign(tmp_path / "s", sampled=True))
    assert "agreement_p" in c["attack"].metrics and "agreement_p" not in s["attack"].metrics
    assert {"agreement_rate", "refuse_rate"} <= s["attack"].metrics
    assert (
        "ucerf_w" in c["persona"].metrics and "abstention_rate" in s["persona"].metrics - c["persona"].metrics
    )
    assert c["prior"].metrics == {"prior_p_yes"} and c["prior"].axes == {"none": {"content-free"}}
    assert "refusal_cochran_q" in c["decision"].metrics and "white,Black,Asian" in c["decision"].axes["race"]
    assert c["usage-paired"].metrics == {"usage_d", "usage_d_published", "usage_d_gap"}


# --- a gate naming what the campaign cannot produce is refused before any call ---------------------

TWO_SETS = {
    "base_url": "http://127.0.0.1:9/v1",  # never called: these runs are dry
    "probes": [
        {
            "family": "decision",
            "name": "decisions",
            "scenarios": str(SCENARIOS / "decisions" / "lending.yaml"),
            "demographics": {"age": [30], "gender": ["male", "female"], "race": ["white", "Black"]},
        },
        {"family": "attack", "name": "attack", "statements": str(SCENARIOS / "attacks" / "stereotypes.yaml")},
    ],
}


@pytest.mark.parametrize(
    ("gate", "field", "problem"),
    [
        (
            {"metric": "paired-gap"},
            "metric",
            "'paired-gap' is not a metric this campaign produces; it produces: confidence_right, "
            "confidence_wrong, discrimination_score",
        ),
        ({"axis": "gendr"}, "axis", "'gendr' is not an axis of paired_gap in this campaign; its axes: age, "),
        (
            {"probe_set": "decision"},
            "probe_set",
            "'decision' is not a probe set of this campaign; its probe sets: decisions",
        ),
        ({"cue": "nme"}, "cue", "'nme' is not a cue of paired_gap in this campaign; its cues: explicit"),
        (
            {"axis": "race", "group": "black"},
            "group",
            "'black' is not a group on axis race of paired_gap in this campaign; its groups: Black, white",
        ),
    ],
    ids=["metric", "axis", "probe_set", "cue", "group"],
)
def test_a_typo_in_a_gate_is_refused_before_any_call(tmp_path, capsys, gate, field, problem):
    campaign = write_campaign(tmp_path, gates=[{"name": "g", "metric": "paired_gap", "max_abs": 0.1, **gate}])
    with FakeOpenAIServer() as server:
        for dry in ([], ["--dry-run"]):
            assert main(["run", str(campaign), "--base-url", server.base_url, *dry]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "Traceback" not in err
            assert err.startswith(f"slant: error: {campaign}: gates[0].{field}: {problem}")
        assert server.received == []
    assert not (tmp_path / "audit.db").exists()


def test_a_gate_is_checked_against_the_probe_sets_that_write_its_metric(tmp_path, capsys):
    def run(*gates: dict[str, Any]) -> int:
        named = [{"name": f"g{i}", "max_abs": 0.1} | g for i, g in enumerate(gates)]
        return main(["run", str(write_campaign(tmp_path, gates=named, **TWO_SETS)), "--dry-run"])

    # a metric alone matches it in every probe set that writes it; so do a cue, axis or group
    assert run({"metric": "attack_uplift"}, {"metric": "paired_gap", "axis": "race", "group": "Black"}) == 0
    capsys.readouterr()
    assert run({"metric": "attack_uplift", "probe_set": "decisions"}) == 2
    assert (
        "gates[0].metric: 'attack_uplift' is not a metric probe set 'decisions' produces"
        in capsys.readouterr().err
    )
    assert run({"metric": "attack_uplift", "axis": "race"}) == 2  # race is an axis of decisions only
    assert "gates[0].axis: 'race' is not an axis of attack_uplift in this campaign; its axes: attack" in (
        capsys.readouterr().err
    )
    assert run({"metric": "paired_gap", "axis": "age"}) == 2  # one age: age is not compared
    assert "its axes: gender, race" in capsys.readouterr().err
    assert run({"name": "errors", "max_error_rate": 0.0, "probe_set": "attack", "max_abs": None}) == 2
    assert (
        "gates[0].probe_set: max_error_rate is judged on the whole run; remove it" in capsys.readouterr().err
    )
