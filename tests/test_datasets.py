"""Released data sets: files found in the user's copy, and the optional download's one-line failure."""

from __future__ import annotations

import subprocess
import sys

import pytest

from slant.datasets import DATASETS, Dataset, data_files, download_dataset, register_dataset
from slant.errors import SlantError, SpecError


def test_data_files_are_found_by_glob_relative_to_the_campaign(tmp_path):
    (tmp_path / "d").mkdir()
    for name in ("b.jsonl", "a.jsonl", "c.txt"):
        (tmp_path / "d" / name).write_text("{}\n")
    assert [p.name for p in data_files("d/*.jsonl", tmp_path, "c.yaml: probes[0]")] == ["a.jsonl", "b.jsonl"]
    with pytest.raises(SpecError, match=r"c.yaml: probes\[0\].*data.*no file matches 'e/\*.jsonl'"):
        data_files("e/*.jsonl", tmp_path, "c.yaml: probes[0]")


def test_a_download_that_cannot_connect_says_where_to_get_the_data(tmp_path):
    ds = register_dataset(
        Dataset(
            "unreachable",
            "T",
            "https://example.org/t",
            "CC-BY-4.0",
            "A 2020",
            ("http://127.0.0.1:9/t.jsonl",),
        )
    )
    try:
        with pytest.raises(
            SlantError, match=r"^cannot download unreachable from .*get it from https://example.org/t"
        ):
            download_dataset(ds.name, tmp_path / "out", timeout=2)
    finally:
        del DATASETS[ds.name]


def test_the_command_names_an_unknown_data_set_in_one_line(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "slant", "data", "download", "no-such-set", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert (
        r.returncode == 2 and "unknown data set 'no-such-set'" in r.stderr and len(r.stderr.splitlines()) == 1
    )
