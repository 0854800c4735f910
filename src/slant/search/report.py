"""A search's report in Markdown, rebuilt from its rows alone (``slant search-report``).

"Confirmed" and "explored" are kept apart: only the confirmation's numbers, on matched sets the
search never saw, support a claim; the search's estimates are maxima over many variants and overstate
the gap (the winner's curse).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlite_utils

from slant import store
from slant.errors import SlantError
from slant.search.estimate import CONFIRM_METHOD
from slant.search.records import create, rows

TOP_EXPLORED = 10


def latest_search(db: sqlite_utils.Database) -> str:
    found = list(db.query("select id from searches order by started desc, rowid desc limit 1"))
    if not found:
        raise SlantError("the database holds no search yet; `slant search CAMPAIGN --budget N` makes one")
    return found[0]["id"]


def search_report(db_path: str | Path, search_id: str | None = None) -> str:
    """The Markdown report of a search (default: the latest in the database)."""
    db = store.open_existing(db_path)
    create(db)
    sid = search_id or latest_search(db)
    row = next(iter(db.query("select * from searches where id = ?", [sid])), None)
    if row is None:
        raise SlantError(f"no search {sid!r} in {db_path}")
    cfg = json.loads(row["config"])
    variants = {v["variant_id"]: v for v in rows(db, "search_variants", sid)}
    estimates = rows(db, "search_estimates", sid)
    search = sorted((e for e in estimates if e["phase"] == "search"), key=lambda e: e["rank"] or 10**9)
    tested = [e for e in estimates if e["phase"] == "confirm"]
    sets = rows(db, "search_sets", sid)
    lines = [
        f"# Bias search {sid}",
        "",
        f"Campaign **{row['campaign']}**, target `{row['target_id']}`: {row['status']}"
        + (f", stopped because: {row['stop_reason']}" if row["stop_reason"] else "")
        + ".",
        f"Calls: {row['calls_search'] or 0} in the search, {row['calls_confirm'] or 0} in the confirmation "
        f"(budget {cfg['budget']}; answers taken from the cache count as calls).",
        (
            f"Seeds asked in the order of the gaps the audit run {cfg['prior_run']} measured, largest first."
            if cfg.get("prior_run")
            else "No earlier complete audit of the campaign on this target: seeds in their spread order."
        ),
        "",
        *_confirmed(tested, variants, search, sets, db, cfg),
        *_explored(search, variants),
    ]
    return "\n".join(lines) + "\n"


def _confirmed(
    tested: list[dict], variants: dict, search: list[dict], sets: list[dict], db: Any, cfg: dict
) -> list[str]:
    good = [t for t in tested if t["confirmed"]]
    out = [
        f"## Confirmed: {len(good)} of {len(tested)} findings tested",
        "",
        f"Method: {CONFIRM_METHOD}, alpha {cfg['alpha']}; {cfg['confirm_sets']} fresh matched sets per "
        "finding, in person wordings, names and reference numbers the search never drew. The search "
        "tests at most the "
        f"{cfg['confirm']} findings whose search interval excludes 0, the interval farthest from 0 first, "
        "one per region (scenario, cue and contrast).",
        "",
    ]
    if not good:
        out += ["No finding was confirmed.", ""]
    by_id = {e["variant_id"]: e for e in search}
    for i, t in enumerate(good, 1):
        v, s = variants[t["variant_id"]], by_id.get(t["variant_id"], {})
        out += [
            f"### {i}. {v['label']}",
            "",
            f"- confirmation: {_gap(t)} over {t['n_sets']} fresh sets; one-sided p {_p(t['p_one_sided'])}, "
            f"Holm p {_p(t['p_holm'])}",
            f"- search: {_gap(s)} over {s.get('n_sets')} sets "
            f"(rank {s.get('rank')} of {len(search)} explored)",
            f"- path: {_path(t['variant_id'], variants, by_id)}",
            *_example(
                t, [x for x in sets if x["variant_id"] == t["variant_id"] and x["phase"] == "confirm"], db
            ),
            "",
        ]
    rest = [t for t in tested if not t["confirmed"]]
    if rest:
        out += [
            "Tested, not confirmed:",
            "",
            "| variant | search | confirmation | one-sided p | Holm p |",
            "|---|---|---|---|---|",
        ]
        for t in rest:
            s = by_id.get(t["variant_id"], {})
            out.append(
                f"| {variants[t['variant_id']]['label']} | {_gap(s)} | {_gap(t)} | {_p(t['p_one_sided'])} | "
                f"{_p(t['p_holm'])} |"
            )
        out.append("")
    return out


def _explored(search: list[dict], variants: dict) -> list[str]:
    statuses = [v["status"] for v in variants.values()]
    rejected = sum(s.startswith("rejected") for s in statuses)
    over = statuses.count("over budget")
    out = [
        "## Explored (search estimates: maxima over many variants, not findings)",
        "",
        f"{len(variants)} variants proposed, {rejected} rejected by the verifier, {over} left over the "
        f"budget, {len(search)} probed. The {min(TOP_EXPLORED, len(search))} best by score "
        "(|gap| − one standard error):",
        "",
        "| rank | variant | reached by | P(yes) gap [95% CI] | sets | step |",
        "|---|---|---|---|---|---|",
    ]
    for e in search[:TOP_EXPLORED]:
        v = variants[e["variant_id"]]
        out.append(
            f"| {e['rank']} | {v['label']} | {v['dimension']}: {v['change']} | {_gap(e)} | {e['n_sets']} | "
            f"{e['step']} |"
        )
    return out


def _path(vid: str, variants: dict, estimates: dict) -> str:
    """seed → move → … → the finding, each with its search estimate."""
    chain = []
    while vid:
        v = variants[vid]
        chain.append(f"{v['dimension']}: {v['change']} ({_num(estimates.get(vid, {}).get('estimate'))})")
        vid = v["parent"]
    return " → ".join(reversed(chain))


def _example(t: dict, sets: list[dict], db: Any) -> list[str]:
    """The fresh set whose difference is largest in the search's direction: both prompts and replies."""
    usable = [s for s in sets if s["diff"] is not None]
    if not usable:
        return ["- example: no usable fresh set"]
    s = max(usable, key=lambda x: x["diff"] * t["direction"])
    probes = {
        p["id"]: p
        for p in db.query("select * from probes where id in (?, ?)", [s["level_probe"], s["ref_probe"]])
    }
    replies = store.responses_by_key(db, [*s["level_keys"], *s["ref_keys"]])
    out = [f"- example (fresh set {s['idx']}, difference {_num(s['diff'])}):"]
    for which, pid, keys, p in (
        ("group", s["level_probe"], s["level_keys"], s["p_level"]),
        ("reference", s["ref_probe"], s["ref_keys"], s["p_ref"]),
    ):
        probe = probes.get(pid, {})
        messages = json.loads(probe.get("messages") or "[]")
        user = next((m["content"] for m in messages if m["role"] == "user"), "")
        text = next(
            (replies[k]["text"] for k in keys if k in replies and replies[k]["text"] is not None), None
        )
        attrs = probe.get("attributes") or "{}"
        out += [
            f"  - {which} {attrs}: P(yes) {_num(p)}, reply {json.dumps(text)}",
            "",
            *(f"    > {line}" for line in user.splitlines()),
            "",
        ]
    return out


def _gap(e: dict) -> str:
    if not e or e.get("estimate") is None:
        return "–"
    ci = f" [{_num(e['ci_low'])}, {_num(e['ci_high'])}]" if e.get("ci_low") is not None else ""
    return f"{_num(e['estimate'])}{ci}"


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:+.3f}"


def _p(x: float | None) -> str:
    return "–" if x is None else f"{x:.3g}"
