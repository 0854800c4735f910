"""Second opinions on stored replies: an LLM judge labels refusals beside the rule-based detector.

Judge calls go through the same engine as probes (cached by request key, retried, stored in
``responses``); labels go to the ``annotations`` table, one row per (response, annotator), so the
rules' label and the judge's label of one reply sit side by side.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slant import store
from slant.detect.judge import agreement, judge_messages, parse_judge, xstest_label
from slant.report.summary import latest_run
from slant.run import execute, reply_from_row
from slant.targets import Request, resolve_target

RULES = "rules:refusal-v2"
SCOPE = "judge"


@dataclass
class JudgeResult:
    run_id: str
    annotator: str
    n_replies: int
    n_judged: int  # the judge's answer named exactly one label
    kappa: float | None
    agreement: float | None
    calls_sent: int


def judge_refusals(
    db_path: str | Path,
    run_id: str | None = None,
    *,
    target: str = "local",
    base_url: str | None = None,
    limit: int | None = None,
    max_connections: int = 4,
    progress: bool = True,
) -> JudgeResult:
    """Ask a judge model to label every non-empty reply of a run; store both labelings; compare them.

    Args:
        db_path: the audit database.
        run_id: the run whose replies are judged (default: the latest).
        target: the judge model (any target name).
        limit: judge at most this many replies (the first by request key).
    """
    db = store.open_db(db_path)
    run_id = store.find_run(db, run_id)["id"] if run_id else latest_run(db)
    replies = _replies(db, run_id)[:limit]
    judge = resolve_target(target, base_url)
    requests = {}
    for r in replies:
        req = Request(judge_messages(r["question"], r["text"]), max_tokens=8, temperature=0.0, seed=0)
        r["judge_key"] = req.key(judge.id, SCOPE)
        requests[r["judge_key"]] = req

    async def run() -> Any:
        async with judge:
            return await execute(
                db, judge, requests, scope=SCOPE, max_connections=max_connections, progress=progress
            )

    pending = len(requests) - len(store.done_keys(db, requests))
    stats = asyncio.run(run()) if pending else None
    annotator = f"judge:{judge.name}"
    judged = store.responses_by_key(db, requests)
    rows, pairs = [], []
    for r in replies:
        reply = reply_from_row(judged[r["judge_key"]]) if r["judge_key"] in judged else None
        label = parse_judge(reply.text) if reply else None
        rule = xstest_label(r["refusal"])
        rows.append({"response_key": r["key"], "annotator": RULES, "label": rule, "detail": None})
        rows.append(
            {
                "response_key": r["key"],
                "annotator": annotator,
                "label": label,
                "detail": {"judge_key": r["judge_key"], "raw": reply.text[:200] if reply else None},
            }
        )
        if label is not None:
            pairs.append((rule, label))
    with db.atomic():
        store.upsert(db, "annotations", rows)
    stats_k = agreement([a for a, _ in pairs], [b for _, b in pairs]) if pairs else None
    kappa = None if stats_k is None or math.isnan(stats_k["kappa"]) else stats_k["kappa"]
    return JudgeResult(
        run_id,
        annotator,
        len(replies),
        len(pairs),
        kappa,
        stats_k["agreement"] if stats_k else None,
        stats.sent if stats else 0,
    )


def _replies(db: Any, run_id: str) -> list[dict[str, Any]]:
    """Distinct non-empty replies of a run with their rule label and the question they answer."""
    sql = """
        select distinct r.key, r.text, o.refusal, p.messages from outcomes o
        join responses r on r.key = o.request_key join probes p on p.id = o.probe_id
        where o.run_id = ? and o.refusal is not null and trim(coalesce(r.text, '')) != ''
        order by r.key"""
    out = []
    for row in db.query(sql, [run_id]):
        messages = json.loads(row["messages"])
        question = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        out.append({"key": row["key"], "text": row["text"], "refusal": row["refusal"], "question": question})
    return out
