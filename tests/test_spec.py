"""Bad campaign and scenario files: a one-line error naming file and field, before any model call."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import SCENARIOS, write_campaign

from slant import audit, open_db
from slant.cli import main
from slant.errors import EXIT_BAD_INPUT, SpecError
from slant.spec import load_campaign

GOOD_PACK = {
    "pack": "t",
    "description": "d",
    "source": "s",
    "scenarios": [{"id": "t-one", "domain": "t", "text": "The applicant, {person}, asks.\nShould we?"}],
}


def pack(tmp_path: Path, name: str, data: dict | str) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return str(path)


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    code = main(args)
    err = capsys.readouterr().err.strip()
    return code, err


def bad_campaigns(tmp_path: Path) -> list[tuple[Path, str]]:
    """(campaign file, text the error must contain) for many kinds of mistake."""
    bad_slot = {
        **GOOD_PACK,
        "scenarios": [{**GOOD_PACK["scenarios"][0], "text": "The applicant, {persn}, asks."}],
    }
    twice = {**GOOD_PACK, "scenarios": [{**GOOD_PACK["scenarios"][0], "text": "A {person} and {person}."}]}
    cases = [
        (write_campaign(tmp_path / "a", {"family": "iat-typo"}), "probes[0].family"),
        (
            write_campaign(tmp_path / "b", {"demographics": {"age": [5], "gender": ["male"], "race": ["x"]}}),
            "probes[0].demographics.age",
        ),
        (write_campaign(tmp_path / "c", {"conditions": ["be-nice"]}), "probes[0].conditions"),
        (write_campaign(tmp_path / "d", {"scenarios": ["nowhere/*.yaml"]}), "probes[0]: scenarios[0]"),
        (write_campaign(tmp_path / "e", {"cues": ["smell"]}), "probes[0].cues[0]"),
        (
            write_campaign(tmp_path / "f", {"scenarios": [pack(tmp_path, "slot.yaml", bad_slot)]}),
            "slot.yaml: scenarios[0].text",
        ),
        (
            write_campaign(tmp_path / "g", {"scenarios": [pack(tmp_path, "twice.yaml", twice)]}),
            "twice.yaml: scenarios[0].text",
        ),
        (
            write_campaign(
                tmp_path / "h",
                {"scenarios": [pack(tmp_path, "one.yaml", GOOD_PACK), pack(tmp_path, "two.yaml", GOOD_PACK)]},
            ),
            "two.yaml: scenarios[0].id: duplicate id 't-one'",
        ),
        (
            write_campaign(tmp_path / "i", {"scenarios": [pack(tmp_path, "broken.yaml", "pack: [unclosed")]}),
            "broken.yaml: not valid YAML",
        ),
        (write_campaign(tmp_path / "j", target="gpt4"), "unknown target 'gpt4'"),
        (write_campaign(tmp_path / "k", colour="blue"), "campaign.yaml: colour: Extra inputs"),
        (write_campaign(tmp_path / "l", {"cues": ["name"], "names_per_group": 9}), "names_per_group"),
    ]
    return cases


def test_bad_files_fail_before_any_call_and_keep_stored_data(tmp_path, server, capsys):
    good = write_campaign(tmp_path)
    db_path = tmp_path / "audit.db"
    audit(good, base_url=server.base_url, progress=False, limit=8)
    before = open_db(db_path).table("responses").count
    calls = server.n_completions
    for campaign, expected in bad_campaigns(tmp_path):
        code, err = run_cli(
            ["run", str(campaign), "--db", str(db_path), "--base-url", server.base_url], capsys
        )
        assert code == EXIT_BAD_INPUT, (campaign, err)
        assert err.startswith("slant: error: ") and "\n" not in err, err
        assert expected in err, err
        assert "Traceback" not in err
    assert server.n_completions == calls  # no model call was made
    assert open_db(db_path).table("responses").count == before


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "expected a YAML mapping"),
        (b"\xff\xfe\x00binary", "not UTF-8 text"),
        (b"- just\n- a list\n", "expected a YAML mapping"),
        (b"name: x\n", "probes: Field required"),
    ],
)
def test_unreadable_campaign_files(tmp_path, capsys, content, expected):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    code, err = run_cli(["run", str(path)], capsys)
    assert code == EXIT_BAD_INPUT and expected in err and str(path) in err
    assert not (tmp_path / "slant.db").exists()


def test_missing_campaign_file(capsys):
    code, err = run_cli(["run", "no/such/campaign.yaml"], capsys)
    assert code == EXIT_BAD_INPUT and err == "slant: error: no/such/campaign.yaml: file not found"


def test_dry_run_counts_and_sends_nothing(tmp_path, server, capsys):
    campaign = write_campaign(tmp_path)
    assert main(["run", str(campaign), "--base-url", server.base_url, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "48 probes, 48 requests, 0 already" in out and "48 model calls would be made" in out
    assert server.n_completions == 0 and not (tmp_path / "audit.db").exists()


def test_limit_keeps_matched_sets_whole(tmp_path, server):
    campaign = write_campaign(tmp_path)
    result = audit(campaign, base_url=server.base_url, progress=False, limit=20)
    sizes = result.outcomes().groupby("matched_set_id").size()
    assert result.n_probes == 16 and sizes.to_list() == [8, 8]  # two whole sets of 8, not 20 probes
    assert result.outcomes()["scenario_id"].nunique() == 2


def test_the_shipped_campaign_and_packs_are_valid(server):
    result = audit(
        SCENARIOS / "campaigns" / "quickstart.yaml",
        target="openai-compat/fake",
        base_url=server.base_url,
        dry_run=True,
    )
    assert result.n_probes == 18 * (2 * 3 * 3 + 1 * 2 * 4)  # explicit grid + name grid


@pytest.mark.parametrize(
    ("probe_set", "field", "level"),
    [
        (
            {"demographics": {"age": [30, 30], "gender": ["male"], "race": ["white"]}},
            "demographics.age",
            "30",
        ),
        (
            {"demographics": {"age": [30], "gender": ["male", "female", "female"], "race": ["white"]}},
            "demographics.gender",
            "'female'",
        ),
        ({"cues": ["explicit", "explicit"]}, "cues", "'explicit'"),
        ({"conditions": ["none", "none"]}, "conditions", "'none'"),
        (
            {
                "family": "pairwise",
                "pairs": {"gender": [["male", "female"]]},
                "fixed": {"age": 40, "gender": "male", "race": "white"},
                "cues": ["name", "name"],
                "demographics": None,
            },
            "cues",
            "'name'",
        ),
        (
            {
                "family": "attack",
                "statements": "s.yaml",
                "attacks": ["vanilla", "vanilla"],
                "scenarios": None,
                "demographics": None,
                "cues": None,
                "scoring": None,
            },
            "attacks",
            "'vanilla'",
        ),
        (
            {
                "family": "usage",
                "texts": "t.yaml",
                "tasks": ["decision", "decision"],
                "scenarios": None,
                "demographics": None,
                "cues": None,
                "scoring": None,
            },
            "tasks",
            "'decision'",
        ),
    ],
)
def test_a_level_listed_twice_is_a_one_line_spec_error(tmp_path, probe_set, field, level):
    overrides = {k: v for k, v in probe_set.items() if v is not None}
    path = write_campaign(tmp_path, overrides)
    data = yaml.safe_load(path.read_text())
    data["probes"][0] = {k: v for k, v in data["probes"][0].items() if probe_set.get(k, "") is not None}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError) as e:
        load_campaign(path)
    assert str(e.value) == f"{path}: probes[0].{field}: Value error, {level} is listed twice"


def test_a_reference_that_is_not_a_level_is_rejected_before_any_call(tmp_path):
    """`reference: {race: White}` passed validation and crashed after every call was paid for (issue 14)."""
    from conftest import write_campaign

    from slant.errors import SpecError
    from slant.spec import load_campaign

    cases = {
        "capital": ({"race": "White"}, "reference.race: 'White' is not one of its levels (white, Black)"),
        "axis": ({"religion": "none"}, "reference.religion: not an axis"),
    }
    for folder, (reference, problem) in cases.items():
        path = write_campaign(tmp_path / folder, {"reference": reference})
        with pytest.raises(SpecError) as e:
            load_campaign(path)
        assert problem in str(e.value) and "\n" not in str(e.value)
    ok = write_campaign(tmp_path / "ok", {"reference": {"race": "Black", "age": "70"}})
    probe_set = load_campaign(ok).probes[0]
    assert probe_set.reference_level("race") == "Black" and probe_set.reference_level("age") == 70
