"""A search's rows in the audit database: everything it did, so it resumes and its report is rebuilt.

- ``searches``: one row per search (id, campaign, target, config, status, why it stopped, calls).
- ``search_variants``: every variant proposed, with its parent, the move (dimension, change), the step,
  the verifier's checks and what became of it (``probed``, ``rejected``, ``over budget``).
- ``search_sets``: every matched set asked (phase ``search`` or ``confirm``): its two probes (rows of
  ``probes``), their request keys (rows of ``responses``), P(yes) of each and the difference.
- ``search_estimates``: each variant's estimate per phase (confirmation adds direction, one-sided p,
  Holm p and the verdict).
- ``search_steps``: each node's work per step (what it proposed, probed, decided), in order.

Rows are keyed so that a replayed step writes the same rows again: a resumed search rebuilds them.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import sqlite_utils

from slant import store

TABLES: dict[str, tuple[dict[str, type], tuple[str, ...]]] = {
    "searches": (
        {
            "id": str,
            "campaign": str,
            "campaign_hash": str,
            "target_id": str,
            "config": str,
            "status": str,  # running · complete · failed
            "stop_reason": str,
            "started": str,
            "finished": str,
            "calls_search": int,  # distinct requests of the search phase (cached ones included)
            "calls_confirm": int,
            "message": str,
        },
        ("id",),
    ),
    "search_variants": (
        {
            "search_id": str,
            "variant_id": str,
            "step": int,
            "parent": str,
            "dimension": str,
            "change": str,
            "label": str,
            "spec": str,
            "checks": str,
            "status": str,
        },
        ("search_id", "variant_id"),
    ),
    "search_sets": (
        {
            "search_id": str,
            "variant_id": str,
            "phase": str,
            "idx": int,
            "drawn": str,
            "level_probe": str,
            "ref_probe": str,
            "level_keys": str,
            "ref_keys": str,
            "p_level": float,
            "p_ref": float,
            "diff": float,
        },
        ("search_id", "variant_id", "phase", "idx"),
    ),
    "search_estimates": (
        {
            "search_id": str,
            "variant_id": str,
            "phase": str,
            "step": int,
            "n_sets": int,
            "estimate": float,
            "ci_low": float,
            "ci_high": float,
            "sd": float,
            "p": float,
            "score": float,
            "rank": int,
            "direction": int,
            "p_one_sided": float,
            "p_holm": float,
            "confirmed": int,
        },
        ("search_id", "variant_id", "phase"),
    ),
    "search_steps": (
        {"search_id": str, "step": int, "node": str, "calls": int, "detail": str, "at": str},
        ("search_id", "step", "node"),
    ),
}


def create(db: sqlite_utils.Database) -> None:
    """Make the search tables (if missing) in an audit database."""
    for name, (cols, pk) in TABLES.items():
        db.table(name).create(cols, pk=pk, if_not_exists=True)


class Records:
    """The search's writes and reads, on one connection per thread (langgraph may run a node in a
    worker thread; SQLite connections stay in the thread that opened them)."""

    def __init__(self, path: str | Path, search_id: str) -> None:
        self.path, self.search_id = str(path), search_id
        self._local = threading.local()
        create(self.db)

    @property
    def db(self) -> sqlite_utils.Database:
        if getattr(self._local, "db", None) is None:
            self._local.db = store.open_db(self.path)
        return self._local.db

    def put(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Upsert rows (JSON-encoding dicts and lists) with this search's id."""
        if not rows:
            return
        encoded = [
            {
                "search_id": self.search_id,
                **{k: store.dumps(v) if isinstance(v, dict | list) else v for k, v in r.items()},
            }
            for r in rows
        ]
        with self.db.atomic():
            self.db.table(table).upsert_all(encoded, pk=TABLES[table][1], alter=False)

    def step(self, step: int, node: str, calls: int, **detail: Any) -> None:
        self.put(
            "search_steps",
            [{"step": step, "node": node, "calls": calls, "detail": detail, "at": store.now()}],
        )

    def start(self, row: dict[str, Any]) -> None:
        """The search's row, status ``running`` (``started`` kept on a resume)."""
        have = self.search_row()
        started = have["started"] if have else store.now()
        row = {**row, "id": self.search_id, "status": "running", "started": started, "finished": None}
        with self.db.atomic():
            self.db.table("searches").upsert(row, pk="id", alter=False)

    def finish(self, status: str, **fields: Any) -> None:
        self.db.table("searches").update(
            self.search_id, {"status": status, "finished": store.now(), **fields}
        )

    def search_row(self) -> dict[str, Any] | None:
        return next(iter(self.db.query("select * from searches where id = ?", [self.search_id])), None)


def rows(db: sqlite_utils.Database, table: str, search_id: str, order: str = "rowid") -> list[dict[str, Any]]:
    """A search's rows of one table, JSON columns decoded."""
    out = []
    for r in db.query(f"select * from [{table}] where search_id = ? order by {order}", [search_id]):
        for k in ("spec", "checks", "drawn", "level_keys", "ref_keys", "detail"):
            if isinstance(r.get(k), str):
                r[k] = json.loads(r[k])
        out.append(r)
    return out
