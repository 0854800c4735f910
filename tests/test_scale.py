"""Bounded memory: a large probe set is expanded again instead of held, the engine reads requests a window
at a time and scoring a chunk at a time; each path gives what the in-memory one gives."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
from conftest import write_campaign
from openai_server import FakeOpenAIServer

from slant import audit, open_db, run, store
from slant.api import plan
from slant.pipeline import run_id_of
from slant.probes.base import short_hash
from slant.scoring import _Rows, score_and_compare
from slant.spec import load_campaign
from slant.targets import resolve_target


def _planned(campaign, url: str, scope: str = "test"):
    c = load_campaign(campaign)
    return plan(c, resolve_target(c.target, url), scope=scope)


def test_a_streamed_set_scored_in_tiny_chunks_gives_the_same_outcomes_and_statistics(tmp_path, monkeypatch):
    campaign = write_campaign(tmp_path)
    with FakeOpenAIServer() as srv:
        result = audit(campaign, base_url=srv.base_url, progress=False)
        db = open_db(result.db_path)
        outcomes = pd.DataFrame(store.outcomes_of(db, result.run_id))
        disparities = pd.DataFrame(store.disparities_of(db, result.run_id))
        monkeypatch.setattr("slant.plan.KEEP", 5)  # 48 probes: expanded anew on every read
        planned = _planned(campaign, srv.base_url)
    assert planned[0].kept is None and planned[0].n_probes == 48
    score_and_compare(db, result.run_id, planned, chunk=7)
    again = pd.DataFrame(store.outcomes_of(db, result.run_id))
    pd.testing.assert_frame_equal(again, outcomes)
    pd.testing.assert_frame_equal(pd.DataFrame(store.disparities_of(db, result.run_id)), disparities)
    assert len(disparities) > 10 and disparities["estimate"].notna().any()


def test_the_run_id_is_the_hash_of_the_sorted_probe_ids(tmp_path):
    planned = _planned(write_campaign(tmp_path), "http://unused/v1")
    ids = sorted(p.id for ps in planned for p in ps.probes)
    assert run_id_of("test", "t1", "s", planned) == short_hash("test", "t1", "s", ids)[:12]


def test_a_request_two_probe_sets_ask_is_sent_and_counted_once(tmp_path):
    campaign = write_campaign(tmp_path)
    c = load_campaign(campaign)
    twin = c.probes[0].model_copy(update={"name": "twin"})
    c = c.model_copy(update={"probes": [c.probes[0], twin]})
    with FakeOpenAIServer() as srv:
        dry = audit(c, base_url=srv.base_url, dry_run=True)
        result = audit(c, base_url=srv.base_url, progress=False)
        n_calls = len(srv.received)
    assert dry.by_set == {name: {"probes": 48, "requests": 48, "cached": 0} for name in ("decisions", "twin")}
    assert (dry.n_probes, dry.n_requests, dry.n_cached) == (96, 48, 0)
    assert n_calls == 48 and result.n_requests == 48 and result.status == "complete"
    assert result.engine is not None and (result.engine.requested, result.engine.sent) == (48, 48)
    total, by_set = result.tokens["total"], result.tokens["by_set"]  # each set's calls, and the run's, once
    assert total["calls"] == 48 and total["prompt"] > 0 and by_set["decisions"] == by_set["twin"] == total


def test_the_engine_reads_a_stream_of_requests_window_by_window(tmp_path, monkeypatch):
    campaign = write_campaign(tmp_path)
    monkeypatch.setattr(run, "WINDOW", 5)
    with FakeOpenAIServer() as srv:
        planned = _planned(campaign, srv.base_url)
        pairs = [kr for ps in planned for _, keyed in ps.items() for kr in keyed]
        db = open_db(tmp_path / "audit.db")
        target = resolve_target("openai-compat/fake", srv.base_url)

        async def send(pending: int) -> run.EngineStats:
            async with target:
                return await run.execute(
                    db, target, iter(pairs), scope="test", pending=pending, progress=False
                )

        store.upsert(db, "responses", [{"key": pairs[0][0], "text": "yes", "error_kind": None}])
        stats = asyncio.run(send(len(pairs) - 1))
    assert (stats.requested, stats.cached, stats.sent, stats.succeeded) == (48, 1, 47, 47)
    assert len(store.done_keys(db, (k for k, _ in pairs))) == 48


def test_rows_held_by_column_make_the_frame_dicts_make():
    rows = [{"a": 1, "b": None}, {"a": 2.5, "c": "x"}, {"b": 3, "d": True}, {"a": None, "b": 4, "c": None}]
    held = _Rows()
    for r in rows:
        held.add(r)
    frame = held.frame()
    pd.testing.assert_frame_equal(frame, pd.DataFrame(rows))
    assert frame["a"].dtype == np.float64
    assert held.rows == 0 and not held.columns  # handed over


def test_numbers_held_in_c_arrays_make_the_frame_dicts_make():
    """Floats and ints go into typed columns until a value of another kind or a gap turns the column
    back into Python objects; the frame is ``pd.DataFrame`` of the dicts either way."""
    rows = [
        {"f": 0.25, "i": 1, "g": 3, "big": 1, "m": 1.5, "n": 2.5},
        {"f": np.float64(-0.0), "i": 2, "big": 2**64, "m": "text", "late": 7.0},
        {"f": float("nan"), "i": 3, "g": 4, "big": 3, "m": 2.0, "n": 3, "late": 8.0},
    ]
    held = _Rows()
    for r in rows:
        held.add(r)
    assert held.columns["f"].typecode == "d" and held.columns["i"].typecode == "q"
    assert held.columns["late"].typecode == "d"  # NaN for the first row, then floats
    assert all(isinstance(held.columns[c], list) for c in ("g", "big", "m", "n"))  # gap, > 64 bits, kinds
    frame = held.frame()
    pd.testing.assert_frame_equal(frame, pd.DataFrame(rows))
    assert frame["i"].dtype == np.int64 and frame["f"].dtype == np.float64
    assert np.signbit(frame["f"][1])


def test_equal_texts_and_details_are_shared_but_values_of_other_types_or_signs_stay_apart():
    detail = {"p": 0.5}
    rows = [
        {"s": "ok", "d": {"p": 0.5}, "z": 0.0, "m": 1},
        {"s": "o" + "k", "d": detail, "z": -0.0, "m": 1.0},
        {"s": "ok", "d": {"p": -0.0}, "z": 0.0, "m": True},
    ]
    held = _Rows()
    for r in rows:
        held.add(r)
    assert held.columns["d"][0] is held.columns["d"][1] and held.columns["d"][2] == {"p": -0.0}
    assert held.columns["s"][0] is held.columns["s"][1]
    frame = held.frame()
    pd.testing.assert_frame_equal(frame, pd.DataFrame(rows))
    assert [np.signbit(z) for z in frame["z"]] == [False, True, False]
    assert [type(m) for m in frame["m"]] == [int, float, bool]
