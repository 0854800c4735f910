"""The HTML report: self-contained, its numbers are the database's, model text stays text — checked in
the file and rendered in headless Chromium (Debian's, installed by `make test`)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import write_campaign
from openai_server import FakeOpenAIServer

from slant import audit, open_db
from slant.cli import main
from slant.report.html import label
from slant.report.svg import nice_ticks

PAYLOAD = (
    '<script>window.__slant_pwned = 1</script><img src=x onerror="window.__slant_pwned = 2">'
    # breaking out of an attribute, an SVG <title> or a <style> the text might land in
    '"\'><svg onload="window.__slant_pwned = 3"></svg></title></style>'
    "<script>window.__slant_pwned = 4</script>"
)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [  # headless as root on a machine with a closed network (see the env notes)
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A sampled decision run whose every reply carries a script payload after its yes/no, with a planted
    gender gap (women get "yes" less often), so that findings show replies."""
    tmp = tmp_path_factory.mktemp("html")
    with FakeOpenAIServer(reply_text="{word}. " + PAYLOAD, shift={"woman": -0.5}) as server:
        campaign = write_campaign(
            tmp,
            {"scoring": {"sample": {"n": 3, "temperature": 1.0, "max_tokens": 40}}},
            prefill="none",
        )
        run = audit(campaign, base_url=server.base_url, progress=False)
    out = tmp / "report.html"
    assert main(["report", "--db", str(run.db_path), "--html", str(out)]) == 0
    return out, Path(run.db_path), run.run_id


def test_report_is_self_contained_and_escapes_model_text(report):
    out, _, _ = report
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page.lower()  # the payload is escaped and the report has no script of its own
    assert "<svg onload" not in page and "<img src=x" not in page
    assert "&lt;script&gt;window.__slant_pwned = 1&lt;/script&gt;" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # no network asset
    assert page.count('<svg class="chart forest"') >= 3  # p_yes_gap, paired_gap, discrimination_score…
    assert '<svg class="chart bars"' in page  # refusal rates per group


def test_report_numbers_are_the_database_rows(report):
    out, db_path, run_id = report
    page = out.read_text(encoding="utf-8")
    rows = list(open_db(db_path).query("select * from disparities where run_id = ?", [run_id]))
    gap = next(r for r in rows if r["metric"] == "paired_gap" and r["axis"] == "gender")
    shown = f"{gap['estimate']:+.3f} [{gap['ci_low']:+.3f}, {gap['ci_high']:+.3f}]"
    assert shown in page
    p_yes_gap = next(r for r in rows if r["metric"] == "p_yes_gap" and r["axis"] == "race")
    assert f"{p_yes_gap['estimate']:+.3f} · p(BH) {p_yes_gap['p_adj']:.3g}" in page  # the forest label
    assert f"run {run_id}" in page and "openai-compat/fake" in page


def test_labels_and_ticks():
    row = {"cue": "explicit", "axis": "gender", "grp": "female", "reference": "male", "metric": "paired_gap"}
    assert label(row) == "explicit · gender: female vs male"
    assert label({**row, "metric": "refusal_rate", "reference": "female"}, with_cue=False) == "gender: female"
    assert nice_ticks(-0.0144, 0.0118) == [-0.01, -0.005, 0.0, 0.005, 0.01]
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_report_renders_in_headless_chromium(report, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    assert Path(CHROMIUM).exists(), "Chromium is missing: `make test` installs Debian's chromium"
    out, _, _ = report
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("request", lambda r: problems.append(f"request {r.url}") if r.url != out.as_uri() else None)
        page.goto(out.as_uri())
        charts = page.locator("svg.chart.forest")
        sizes = [charts.nth(i).bounding_box() for i in range(charts.count())]
        points = page.locator("svg.chart.forest circle").count()
        pwned = page.evaluate("window.__slant_pwned === undefined")
        text = page.inner_text("body")
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert problems == []  # no console error, no script error, no network request
    assert len(sizes) >= 3 and all(b and b["width"] > 500 and b["height"] > 40 for b in sizes)
    assert points >= 9  # one point per estimate: 3 axes × (p_yes_gap, paired_gap, discrimination_score)
    assert pwned  # the payload never ran…
    assert "<script>window.__slant_pwned = 1</script>" in text  # …and reads as text
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_bars_fit_levels_beyond_one_and_keep_rates_as_percentages():
    from slant.report.svg import Item, bars

    rates = bars([Item("a", 0.4, 0.2, 0.6)], "rates")
    assert ">100%<" in rates and ">0%<" in rates
    scores = bars([Item("gender", 93.75, 90.0, 101.0)], "LMS", reference=50.0)
    ticks = [float(t) for t in re.findall(r'class="tick"[^>]*>([^<]*)<', scores)]
    assert ticks[0] == 0 and ticks[-1] >= 101  # the whisker's top is inside the axis, not clipped
