"""Fill-in's published mode equals the authors' code (Kamruzzaman et al. 2024) on replies written here.

tests/data/fill_in_reference/replies.csv: 180 items of this project's own (never the authors'), in the
columns of the authors' dataset, each with a raw reply text. expected.json: what the authors' code made
of them (its ``_source`` says how): the option each reply was read as (valid replies only), and
Kendall's τ-c with its p per bias type × direction and over all items of a direction.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import reply, write_pack

from slant.probes import fill_in as fi

DATA = Path(__file__).parent / "data" / "fill_in_reference"
DIRECTION = {"type1": "group-to-attribute", "type2": "attribute-to-group"}


def items(rows: list[dict[str, str]]) -> list[dict]:
    """The rows as fill-in items: the blank written ___, axis ids with hyphens."""
    return [
        {
            "id": f"case-{k}",
            "axis": r["bias_type"].replace("_", "-"),
            "direction": DIRECTION[r["type_category"]],
            "target": "the person",
            "polarity": 1 if r["item_category"] == "positive" else -1,
            "sentence": r["context"].replace("BLANK", "___"),
            "options": {k: r[k.replace("-", "_")] for k in ("stereotype", "anti-stereotype", "unrelated")},
        }
        for k, r in enumerate(rows)
    ]


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> tuple[list[dict[str, str]], pd.DataFrame, fi.FillInSet]:
    """Every reply scored by slant's published mode: (the rows, the outcome frame, the set)."""
    rows = list(csv.DictReader((DATA / "replies.csv").open()))
    tmp = tmp_path_factory.mktemp("ref")
    write_pack(tmp / "items.yaml", items=items(rows))
    ps = fi.FillInSet.model_validate({"family": "fill-in", "items": "items.yaml"})
    probes = {p.scenario_id: p for p in fi.expand(ps, tmp, "where", seed=7)}
    frame = []
    for k, r in enumerate(rows):
        p = probes[f"case-{k}"]
        out = fi.score(p, ps, reply(r["reply"]))
        frame.append({"probe_id": p.id, "scenario_id": p.scenario_id, "cue": p.cue, **out, **p.attributes})
    return rows, pd.DataFrame(frame), ps


def test_replies_are_read_as_the_authors_read_them(scored):
    rows, frame, _ = scored
    want = json.loads((DATA / "expected.json").read_text())
    read = {r["context"]: d["letter"] for r, d in zip(rows, frame["detail"], strict=True)}
    assert {c: o for c, o in read.items() if o is not None} == want["response"]
    assert (frame["parse_status"] == "ok").sum() == want["n_valid"] == 133
    assert set(frame.loc[frame["parse_status"] != "ok", "parse_status"]) == {"unparsed"}


def test_tau_c_and_p_equal_the_authors_per_bias_and_direction(scored):
    _, frame, ps = scored
    want = json.loads((DATA / "expected.json").read_text())["tau"]
    pooled = frame.assign(axis="all")  # the script pools whatever file it is given
    rows = fi.disparities(frame, ps) + fi.disparities(pooled, ps)
    taus = {(r["axis"], r["grp"]): r for r in rows if r["metric"] == "kendall_tau_c"}
    assert len(taus) == len(want) == 12
    for key, w in want.items():
        bias, t = key.split("/")
        got = taus[(bias.replace("_", "-"), DIRECTION[t])]
        assert got["estimate"] == pytest.approx(w["tau"], abs=1e-12)
        assert got["p"] == pytest.approx(w["p"], rel=1e-9)
        assert got["n_responses"] - got["n_unparsed"] == w["n"]
        assert got["test"] == "Kendall tau-c (scipy)"  # one reply per item: scipy's p, as published


def test_the_published_prompt_shows_each_item_once_in_a_seeded_order(scored):
    _, frame, ps = scored
    assert frame["scenario_id"].is_unique
    orders = {tuple(o) for o in frame["order"]}
    assert len(orders) > 1 and all(sorted(o) == sorted(fi.ROLES) for o in orders)
    assert [tuple(o) for o in frame["order"][:5]] == [fi.published_order(7, f"case-{k}") for k in range(5)]
