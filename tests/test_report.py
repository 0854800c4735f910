"""Report formats: terminal, Markdown and JSON show the same numbers, all read from the database."""

from __future__ import annotations

import json

from conftest import write_campaign

from slant import audit, open_db
from slant.cli import main
from slant.report.summary import fmt_ci


def test_json_markdown_and_terminal_agree_with_the_database(tmp_path, server, capsys):
    campaign = write_campaign(tmp_path, prefill="chatml")
    run = audit(campaign, base_url=server.base_url, progress=False)
    db_rows = list(open_db(run.db_path).query("select * from disparities where run_id = ?", [run.run_id]))

    assert main(["report", "--db", str(run.db_path), "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["run"]["id"] == run.run_id and data["run"]["status"] == "complete"
    decisions = {"family": "decision", "n": 48, "by_status": {"ok": 48}, "by_outcome": {"ok": 48}}
    assert data["outcomes"]["decisions"] == decisions
    by_key = {(r["metric"], r["axis"], r["grp"], r["reference"]): r for r in data["disparities"]}
    assert len(by_key) == len(db_rows)
    for row in db_rows:
        mine = by_key[(row["metric"], row["axis"], row["grp"], row["reference"])]
        assert (mine["estimate"], mine["ci_low"], mine["p_adj"]) == (
            row["estimate"],
            row["ci_low"],
            row["p_adj"],
        )

    md_path = tmp_path / "report.md"
    assert main(["report", "--db", str(run.db_path), "--markdown", str(md_path)]) == 0
    markdown = md_path.read_text()
    assert main(["report", "--db", str(run.db_path)]) == 0
    terminal = capsys.readouterr().out
    gap = next(r for r in db_rows if r["metric"] == "paired_gap" and r["axis"] == "gender")
    shown = f"{gap['estimate']:+.3f} {fmt_ci(gap['ci_low'], gap['ci_high'], '{:+.3f}')}"
    assert shown in markdown and shown in terminal
    assert "| explicit | paired_gap | gender | female | male |" in markdown
    assert f"# slant run `{run.run_id}`" in markdown


def test_report_of_a_missing_database_is_one_line(tmp_path, capsys):
    assert main(["report", "--db", str(tmp_path / "none.db"), "--json", "-"]) == 2
    assert capsys.readouterr().err.strip() == f"slant: error: {tmp_path / 'none.db'}: no such database"
