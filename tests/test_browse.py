"""`slant browse`: datasette over the audit database with slant's canned queries."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

from conftest import free_port, write_campaign

from slant import audit


def get_json(url: str, wait: float = 60) -> list[dict]:
    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return json.load(r)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_browse_serves_the_canned_queries(tmp_path, server):
    campaign = write_campaign(tmp_path, prefill="chatml")
    run = audit(campaign, base_url=server.base_url, progress=False)
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "slant",
        "browse",
        "--db",
        str(run.db_path),
        "--port",
        str(port),
        "--no-open",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        base = f"http://127.0.0.1:{port}/audit"
        runs = get_json(f"{base}/runs.json?_shape=array")
        assert [r["id"] for r in runs] == [run.run_id]
        refusals = get_json(f"{base}/refusals_by_group.json?_shape=array")
        assert {r["grp"] for r in refusals} >= {"male", "female", "white", "Black"}
        assert get_json(f"{base}/errors.json?_shape=array") == []  # the scripted server never failed
        findings = get_json(f"{base}/findings.json?_shape=array")
        assert all(r["p_adj"] < 0.05 for r in findings)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # SIGTERM to slant stops its datasette child too: nothing is left listening on the port
    deadline = time.monotonic() + 10
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                break
        assert time.monotonic() < deadline, "datasette outlived slant browse"
        time.sleep(0.2)
