"""Second opinions on stored replies: an LLM judge labels refusals beside the refusal labeller.

Judge calls go through the same engine as probes (cached by request key, retried, stored in
``responses``), at temperature 0 with a fixed seed. Each reply can be judged several times, the label
definitions shown in another order each time (``label_orders``); every judgement is a row of the
``judgements`` table. The judge's majority label and ``classify_refusal``'s label go to the
``annotations`` table, one row per (response, annotator), so the two labels of one reply sit side by side.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slant import store
from slant.detect.judge import (
    agreement,
    judge_messages,
    label_orders,
    majority,
    parse_judge,
    self_consistency,
    xstest_label,
)
from slant.detect.refusal import DEFAULT_REFUSAL_POLICY, classify_refusal
from slant.report.summary import latest_run
from slant.run import execute
from slant.targets import Request, resolve_target

RULES = f"refusal:{DEFAULT_REFUSAL_POLICY}"  # the annotator name of the default labeller's labels
SCOPE = "judge"


@dataclass
class JudgeResult:
    run_id: str
    annotator: str
    n_replies: int
    n_judged: int  # replies with a majority label (see ``majority``)
    kappa: float | None  # Cohen's kappa, majority label vs classify_refusal; None when undefined
    agreement: float | None
    calls_sent: int
    repeats: int = 1
    seed: int = 0
    n_unparsed: int = 0  # judgements whose answer named no single label
    n_failed: int = 0  # judge calls that failed (no answer stored)
    kappa_ci: tuple[float, float] | None = None  # 95%, statsmodels' asymptotic interval
    consistency: dict[str, Any] | None = None  # ``self_consistency`` over the replies' repeats
    table: dict[str, dict[str, int]] | None = None  # table[rules label][judge label]: replies


def judge_refusals(
    db_path: str | Path,
    run_id: str | None = None,
    *,
    target: str = "local",
    base_url: str | None = None,
    limit: int | None = None,
    repeats: int = 1,
    seed: int = 0,
    max_connections: int = 4,
    progress: bool = True,
) -> JudgeResult:
    """Ask a judge model to label every non-empty reply of a run; store every judgement; compare the
    judge's majority label with ``classify_refusal``'s.

    Args:
        db_path: the audit database.
        run_id: the run whose replies are judged (default: the latest).
        target: the judge model (any target name).
        limit: judge at most this many replies (the first by request key).
        repeats: judge each reply this many times, the label definitions in another order each time
            (``label_orders``); each repeat is its own cached request.
        seed: sent with every judge call (at temperature 0) and seeds the order of the definitions.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    db = store.open_db(db_path)
    run_id = store.find_run(db, run_id)["id"] if run_id else latest_run(db)
    replies = _replies(db, run_id, limit)
    judge = resolve_target(target, base_url)
    orders = label_orders(repeats, seed)
    requests: dict[str, Request] = {}
    for r in replies:
        r["judge_keys"] = []
        for repeat, order in enumerate(orders):
            messages = judge_messages(r["question"], r["text"], order)
            req = Request(messages, max_tokens=8, temperature=0.0, seed=seed, sample=repeat)
            r["judge_keys"].append(req.key(judge.id, SCOPE))
            requests[r["judge_keys"][-1]] = req

    async def run() -> Any:
        async with judge:
            return await execute(
                db, judge, requests, scope=SCOPE, max_connections=max_connections, progress=progress
            )

    pending = len(requests) - len(store.done_keys(db, requests))
    stats = asyncio.run(run()) if pending else None
    annotator = f"judge:{judge.name}"
    answers = store.responses_by_key(db, requests)
    rows, annotations, labels = [], [], []
    for r in replies:
        judged = [
            _judgement(answers.get(key, {}), key, order, repeat)
            for repeat, (key, order) in enumerate(zip(r["judge_keys"], orders, strict=True))
        ]
        rows += [
            {"response_key": r["key"], "judge": annotator, "seed": seed, "target": judge.id, **j}
            for j in judged
        ]
        item = [j["label"] for j in judged]
        labels.append(item)
        r["judge"] = majority(item)
        votes = Counter(x or "unparsed" for x in item)
        annotations += [
            {"response_key": r["key"], "annotator": RULES, "label": r["rules"], "detail": None},
            {
                "response_key": r["key"],
                "annotator": annotator,
                "label": r["judge"],
                "detail": {"seed": seed, "repeats": repeats, "votes": votes},
            },
        ]
    with db.atomic():
        store.upsert(db, "judgements", rows)
        store.upsert(db, "annotations", annotations)
    pairs = [(r["rules"], r["judge"]) for r in replies if r["judge"] is not None]
    agree = agreement([a for a, _ in pairs], [b for _, b in pairs]) if pairs else None
    kappa = None if agree is None or math.isnan(agree["kappa"]) else agree["kappa"]
    return JudgeResult(
        run_id,
        annotator,
        len(replies),
        len(pairs),
        kappa,
        agree["agreement"] if agree else None,
        stats.sent if stats else 0,
        repeats=repeats,
        seed=seed,
        n_unparsed=sum(row["label"] is None and row["raw"] is not None for row in rows),
        n_failed=sum(row["raw"] is None for row in rows),
        kappa_ci=agree["ci"] if agree else None,
        consistency=self_consistency(labels),
        table=agree["table"] if agree else None,
    )


def _judgement(answer: dict[str, Any], key: str, order: tuple[str, ...], repeat: int) -> dict[str, Any]:
    """One judgement row's own fields from the judge call's stored response (empty: never answered)."""
    raw = answer.get("text") if answer.get("error_kind") is None else None
    return {
        "repeat": repeat,
        "request_key": key,
        "label_order": list(order),
        "temperature": 0.0,
        "served_model": answer.get("served_model"),
        "label": parse_judge(raw) if raw is not None else None,
        "raw": raw,
        "error": answer.get("error_kind", "not answered") if raw is None else None,
    }


def _replies(db: Any, run_id: str, limit: int | None) -> list[dict[str, Any]]:
    """Distinct non-empty replies of a run (the first ``limit`` by key) with the question they answer and
    ``classify_refusal``'s label (on the judge's scale)."""
    sql = """
        select distinct r.key, r.text, p.messages from outcomes o
        join responses r on r.key = o.request_key join probes p on p.id = o.probe_id
        where o.run_id = ? and r.error_kind is null and trim(coalesce(r.text, '')) != ''
        order by r.key limit ?"""
    out = []
    for row in db.query(sql, [run_id, -1 if limit is None else limit]):
        messages = json.loads(row["messages"])
        question = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        rules = xstest_label(str(classify_refusal(row["text"]).label))
        out.append({"key": row["key"], "text": row["text"], "rules": rules, "question": question})
    return out
