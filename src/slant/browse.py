"""``slant browse``: an audit database in datasette, with canned queries for the common questions."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

QUERIES: dict[str, dict[str, str]] = {
    "findings": {
        "title": "Findings: estimates significant after Benjamini-Hochberg",
        "sql": "select run_id, family, probe_set, cue, metric, axis, grp, reference, estimate, ci_low, "
        "ci_high, p, p_adj, n_responses, method from disparities where p_adj < 0.05 "
        "and json_extract(extra, '$.degenerate') is null order by p_adj",
    },
    "equivalent": {
        "title": "Gaps shown to be negligible (TOST p < 0.05 at the stated margin)",
        "sql": "select run_id, probe_set, cue, axis, grp, reference, estimate, margin, p_tost "
        "from disparities where p_tost < 0.05 order by p_tost",
    },
    "refusals_by_group": {
        "title": "Refusal rates per group",
        "sql": "select run_id, probe_set, cue, axis, grp, estimate as refusal_rate, ci_low, ci_high, "
        "n_refused, n_responses from disparities where metric = 'refusal_rate' order by estimate desc",
    },
    "errors": {
        "title": "Failed calls, by cause",
        "sql": "select target_id, error_kind, count(*) as n, min(error) as example from responses "
        "where error_kind is not null group by target_id, error_kind order by n desc",
    },
    "runs": {
        "title": "Runs",
        "sql": "select id, campaign, target_id, status, n_probes, n_requests, started, finished from runs "
        "order by started desc",
    },
}


def metadata(db_path: Path) -> dict[str, Any]:
    """datasette metadata with slant's canned queries for one database."""
    return {"title": "slant audit", "databases": {db_path.stem: {"queries": QUERIES}}}


def browse_command(db_path: Path, port: int, open_browser: bool) -> list[str]:
    """The datasette command line (metadata written to a temporary file)."""
    meta = Path(tempfile.mkdtemp(prefix="slant-browse-")) / "metadata.json"
    meta.write_text(json.dumps(metadata(db_path)))
    cmd = [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        str(db_path),
        "--metadata",
        str(meta),
        "--port",
        str(port),
    ]
    return [*cmd, "--open"] if open_browser else cmd


def browse(db_path: Path, port: int = 8001, open_browser: bool = True) -> int:
    """Serve the database until Ctrl-C (or SIGTERM); returns datasette's exit code. The datasette child
    is stopped whatever ends this process's wait."""
    proc = subprocess.Popen(browse_command(db_path, port, open_browser))
    try:
        return proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)
