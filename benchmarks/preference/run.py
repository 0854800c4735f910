"""Run the offline preference benchmark for every method against one target and print one table.

    .venv/bin/python benchmarks/preference/run.py [--target local] [--users N] [--demos 5]

Each method learns every user from scratch; before learning from each demonstration it drafts that
demonstration's task, and the draft is scored: PPCM by the rule checkers, slant's normalised word edit
distance (mean) and PRELUDE's cost (word-level edit distance over Treebank tokens, summed over drafts).
Calls are distinct requests a method made (cached ones included: the cost of the method, not of this
run); tokens are prompt + completion tokens of those calls as stored. The last line is machine-readable.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import plume
from rich.console import Console
from rich.table import Table

from slant.agents.baselines import make_learner
from slant.agents.components import Sample
from slant.agents.edit_cost import edit_cost
from slant.agents.gateway import Gateway, Ledger
from slant.agents.preference import PreferenceConfig

METHODS = ["no-learning", "oracle", "icl", "cipher-1", "cipher-n", "cipher-k", "prose", "prose-icl"]


def run_method(llm: Gateway, method: str, users: list[str], n_demos: int, base: PreferenceConfig) -> dict:
    llm.ledger = Ledger()
    cfg = base.model_copy(update={"method": method})
    ppcm, edit, precision, recall, failed, cost = [], [], [], [], 0, 0
    for user in users:
        rules = plume.USERS[user]
        others = [t for u in plume.USERS if u != user for _, t in plume.demos(u, 1)]
        truth = [plume.RULES[r].description for r in rules]
        learner = make_learner(llm, cfg, truth=truth, others=others)
        for j, (task, text) in enumerate(plume.demos(user, n_demos)):
            draft = learner.observe(Sample(id=f"{user}-{j}", context=task, text=text))
            failed += draft is None
            ppcm.append(plume.ppcm(draft or "", rules))
            edit.append(plume.edit(draft or "", text))
            cost += edit_cost(draft or "", text)
        p, r = plume.precision_recall([c.text for c in learner.components() if c.status != "rejected"], rules)
        if p is not None:
            precision.append(p)
        recall.append(r)
    n = len(users) * n_demos
    return {
        "method": method,
        "ppcm": statistics.mean(ppcm),
        "edit": statistics.mean(edit),
        "cost": cost,
        "precision": statistics.mean(precision) if precision else None,
        "recall": statistics.mean(recall),
        "calls": len(llm.ledger.keys) / n,
        "tokens": llm.ledger.tokens / n,
        "failed": failed + llm.ledger.failed,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="local")
    p.add_argument("--base-url")
    p.add_argument("--users", type=int, default=len(plume.USERS))
    p.add_argument("--demos", type=int, default=5)
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--db", help="database file (default: a temporary one)")
    p.add_argument("--steps", type=int, default=1)
    p.add_argument("--k", type=int, default=1)
    p.add_argument("--max-components", type=int, default=4)
    a = p.parse_args(argv)
    users = list(plume.USERS)[: a.users]
    base = PreferenceConfig(
        steps=a.steps, k=a.k, max_components=a.max_components, review=False, draft_tokens=80, list_tokens=48
    )
    db = a.db or str(Path(tempfile.mkdtemp()) / "preference-bench.db")
    start = time.monotonic()
    rows = []
    with Gateway(a.target, db, a.base_url) as llm:
        for method in a.methods.split(","):
            rows.append(run_method(llm, method, users, a.demos, base))
            print(f"{method}: done at {time.monotonic() - start:.0f} s", file=sys.stderr)
    table = Table(title=f"preference benchmark · {a.target} · {len(users)} users × {a.demos} demos")
    for col in (
        "method",
        "PPCM ↑",
        "edit ↓",
        "cost ↓",
        "precision",
        "recall",
        "calls/sample",
        "tokens/sample",
        "failed",
    ):
        table.add_column(col, justify="left" if col == "method" else "right")
    for r in rows:
        prec = "n/a" if r["precision"] is None else f"{r['precision']:.2f}"
        table.add_row(
            r["method"],
            f"{r['ppcm']:.3f}",
            f"{r['edit']:.3f}",
            str(r["cost"]),
            prec,
            f"{r['recall']:.2f}",
            f"{r['calls']:.1f}",
            f"{r['tokens']:.0f}",
            str(r["failed"]),
        )
    Console(width=120).print(table)
    print(f"{time.monotonic() - start:.0f} s; database {db}")
    metrics = " ".join(
        f"ppcm_{r['method']}={r['ppcm']:.3f} edit_{r['method']}={r['edit']:.3f} "
        f"cost_{r['method']}={r['cost']}"
        for r in rows
    )
    print(f"RESULT preference {metrics}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
