"""The SQLite schema (one file per audit database) and the queries the rest of slant needs.

Tables: ``runs``, ``targets``, ``probes``, ``run_probes``, ``responses`` (one row per request key:
the cache), ``attempts`` (every call attempt, failed ones with their cause; one row each, never
overwritten), ``claims`` (which process is sending which request key right now), ``outcomes`` (per run ×
probe × sample), ``annotations`` (extra labels of a response by an annotator: rules, a judge model),
``judgements`` (every answer of the LLM refusal judge, per repeat), ``disparities``, ``baselines``,
``changes`` and ``gate_results`` (regression audits: pinned baselines, how each estimate moved, gate
verdicts), ``batches`` and ``batch_keys`` (batch files of requests: slant.batch), and ``profiles``
(inferred preference components with their evidence, versioned; the preference agents' langgraph
checkpoints sit beside the database in ``<db>.checkpoints.db``).
Views: ``outcomes_full`` joins outcomes with probes.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils

from slant.detect.refusal import DEFAULT_REFUSAL_POLICY
from slant.errors import SlantError

if TYPE_CHECKING:
    from slant.probes.base import Probe
    from slant.targets import Target

SCHEMA_VERSION = 1
MIN_PREFIX = 4  # the shortest run-id prefix find_run accepts
SAMPLING_KEYS = ("scoring", "temperature", "seed", "samples")  # a probe set's settings kept in provenance

_TABLES: dict[str, tuple[dict[str, type], str | tuple[str, ...]]] = {
    "runs": (
        {
            "id": str,
            "campaign": str,
            "campaign_hash": str,
            "target_id": str,
            "scope": str,
            "slant_version": str,
            "started": str,
            "finished": str,
            "status": str,
            "message": str,  # why a run failed (scoring failed, the target went down)
            "n_probes": int,
            "n_requests": int,
            "config": str,
            "provenance": str,  # JSON: target, server, fingerprints, sampling (capture_provenance)
            "adaptive": str,  # JSON: the looks of an adaptive run and their verdicts (slant.adaptive)
            "tokens": str,  # JSON: tokens per probe set and in all, cost saved (slant.cost.run_tokens)
        },
        "id",
    ),
    "targets": (
        {
            "id": str,
            "name": str,
            "provider": str,
            "model": str,
            "base_url": str,
            "prefill_mode": str,
            "server": str,
            "client": str,
            "served_model": str,  # the model name(s) the server reported, where it differs from "model"
        },
        "id",
    ),
    "probes": (
        {
            "id": str,
            "family": str,
            "scenario_id": str,
            "matched_set_id": str,
            "swap_set_id": str,
            "attributes": str,
            "cue": str,
            "condition": str,
            "messages": str,
            "prefill": str,
            "answer_space": str,
            "favourable": str,
        },
        "id",
    ),
    "run_probes": ({"run_id": str, "probe_set": str, "probe_id": str}, ("run_id", "probe_set", "probe_id")),
    "responses": (
        {
            "key": str,
            "target_id": str,
            "scope": str,
            "request": str,
            "endpoint": str,
            "text": str,
            "finish_reason": str,
            "top_logprobs": str,
            "continuation_logprobs": str,  # JSON: continuation → log-probability (a multiple-choice read)
            "continuation_tokens": str,  # JSON: continuation → its number of tokens (log-likelihood reads)
            "usage": str,
            "fingerprint": str,
            "served_model": str,  # the model name the server reported in its reply
            "prefill_applied": int,
            "latency_ms": float,
            "attempts": int,
            "error_kind": str,
            "error": str,
            "created": str,
        },
        "key",
    ),
    "attempts": (
        {
            "id": int,  # a row id: two attempts at one key in one second are two rows
            "key": str,
            "attempt": int,
            "ok": int,
            "error_kind": str,
            "status": int,
            "error": str,
            "latency_ms": float,
            "at": str,
            "owner": str,  # the engine that sent it (host:pid:token, as in claims)
        },
        "id",
    ),
    "claims": (  # a request key some process is sending now; heartbeat: time.time() it last said so
        {"key": str, "owner": str, "heartbeat": float},
        "key",
    ),
    "outcomes": (
        {
            "run_id": str,
            "probe_set": str,
            "probe_id": str,
            "sample": int,
            "request_key": str,
            "parse_status": str,
            "answer": str,
            "p_yes": float,
            "mass": float,
            "refusal": str,
            "refusal_rule": str,
            "refusal_confidence": float,  # the learned labeller's calibrated confidence in the label
            "score": float,
            "detail": str,
        },
        ("run_id", "probe_set", "probe_id", "sample"),
    ),
    "annotations": (
        {"response_key": str, "annotator": str, "label": str, "detail": str},
        ("response_key", "annotator"),
    ),
    "judgements": (  # every answer of the LLM refusal judge: one row per reply × judge × seed × repeat
        {
            "response_key": str,
            "judge": str,
            "seed": int,
            "repeat": int,
            "request_key": str,  # the judge call's own response row
            "label_order": str,  # the order the label definitions were shown in (JSON list)
            "temperature": float,
            "target": str,
            "served_model": str,
            "label": str,  # None: the answer named no single label, or the call failed
            "raw": str,  # the judge's answer as sent back
            "error": str,  # the failed call's error kind
        },
        ("response_key", "judge", "seed", "repeat"),
    ),
    "disparities": (
        {
            "run_id": str,
            "family": str,
            "probe_set": str,
            "cue": str,
            "metric": str,
            "axis": str,
            "grp": str,
            "reference": str,
            "estimate": float,
            "ci_low": float,
            "ci_high": float,
            "test": str,
            "p": float,
            "p_adj": float,  # Benjamini-Hochberg within the run's probe family
            "p_tost": float,  # equivalence test at ``margin``: a small p supports "no meaningful gap"
            "margin": float,
            "n_responses": int,
            "n_probes": int,
            "n_clusters": int,
            "n_refused": int,
            "n_unparsed": int,
            "method": str,
            "extra": str,  # JSON: estimator-specific numbers (e.g. n_sets, p_wilcoxon)
        },
        ("run_id", "probe_set", "cue", "metric", "axis", "grp", "reference"),
    ),
    "baselines": (  # the run a scheduled audit of (campaign, target) is compared with
        {"campaign": str, "target_id": str, "run_id": str, "pinned": str, "provenance": str},
        ("campaign", "target_id"),
    ),
    "changes": (  # slant diff: how each disparity estimate moved from a baseline run to a candidate
        {
            "baseline_run": str,
            "candidate_run": str,
            "probe_set": str,
            "cue": str,
            "metric": str,
            "axis": str,
            "grp": str,
            "reference": str,
            "baseline_estimate": float,
            "candidate_estimate": float,
            "change": float,  # mean paired change over aligned probes (None: not testable per probe)
            "ci_low": float,
            "ci_high": float,
            "p": float,
            "p_adj": float,  # Benjamini-Hochberg across every change of the diff
            "n_pairs": int,
            "n_clusters": int,
            "test": str,
            "method": str,
        },
        ("baseline_run", "candidate_run", "probe_set", "cue", "metric", "axis", "grp", "reference"),
    ),
    "gate_results": (
        {
            "candidate_run": str,
            "baseline_run": str,
            "gate": str,
            "status": str,  # pass | fail | inconclusive
            "reason": str,
            "detail": str,  # JSON: the estimates the gate judged
            "evaluated": str,
        },
        ("candidate_run", "gate"),
    ),
    "batches": (  # batch files of a campaign's requests: exported, or submitted to a Batch API (slant.batch)
        {
            "id": str,  # slant's id, also sent as the batch's metadata (found again after a crash)
            "campaign": str,
            "target_id": str,
            "scope": str,
            "options": str,  # JSON: the campaign file, target, base URL and limit it was planned with
            "url": str,  # the endpoint of its lines, e.g. /v1/chat/completions
            "n_lines": int,
            "remote_id": str,  # the Batch API's batch id
            "input_file_id": str,
            "output_file_id": str,
            "error_file_id": str,
            "status": str,  # exported · uploading · the Batch API's status · collected
            "created": str,
            "updated": str,
        },
        "id",
    ),
    "batch_keys": ({"batch_id": str, "key": str}, ("batch_id", "key")),  # the request keys of a batch
    "profiles": (  # inferred preferences: one row per saved version of a user's profile
        {
            "user": str,
            "method": str,
            "version": int,
            "target_id": str,
            "created": str,
            "components": str,  # JSON: text, status, scope, mean verdict, generic flag, evidence
            "samples": str,  # JSON: the samples it was inferred from
            "config": str,
        },
        ("user", "method", "version"),
    ),
}
_INDEXES = [
    ("probes", ["scenario_id"]),
    ("probes", ["matched_set_id"]),
    ("run_probes", ["probe_id"]),
    ("responses", ["target_id"]),
    ("outcomes", ["probe_id"]),
    ("outcomes", ["request_key"]),
    ("attempts", ["key"]),
    ("claims", ["owner"]),
    ("disparities", ["run_id"]),
    ("batch_keys", ["key"]),
]
_VIEWS = {
    "outcomes_full": """
        select o.*, p.family, p.scenario_id, p.matched_set_id, p.cue, p.condition, p.attributes
        from outcomes o join probes p on p.id = o.probe_id""",
}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class AuditDatabase(sqlite_utils.Database):
    """sqlite-utils' Database whose transactions take the write lock when they begin.

    A deferred transaction (plain ``BEGIN``) that reads before it writes cannot wait for another
    writer: if that writer committed in between, SQLite fails at once with "database is locked" and
    ``busy_timeout`` does not apply. ``BEGIN IMMEDIATE`` waits for the lock instead, so two runs (or a
    run and ``slant report``) writing one database take turns. ``atomic()`` is only used to write.
    """

    @contextmanager
    def atomic(self) -> Iterator[AuditDatabase]:
        if self.conn.in_transaction:  # nested: a savepoint, as sqlite-utils does
            with super().atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise


def open_db(path: str | Path) -> AuditDatabase:
    """Open (creating if needed) an audit database in WAL mode at the current schema version.

    A path that cannot be an audit database (a folder, a missing folder, a file of another kind, the
    SQLite database of another program: slant adds no table to it) raises SlantError naming it.
    """
    try:
        return _open_db(path)
    except (sqlite3.DatabaseError, ValueError) as e:  # ValueError: a NUL in the path
        raise SlantError(f"{path}: cannot open as an audit database: {e}") from None


def open_existing(path: str | Path) -> AuditDatabase:
    """An audit database that must exist already (commands that read one: report, diff, browse …)."""
    if not Path(path).exists():
        raise SlantError(f"{path}: no such database")
    return open_db(path)


def _open_db(path: str | Path) -> AuditDatabase:
    if Path(path).is_dir():  # SQLite's own message would be "unable to open database file"
        raise SlantError(f"{path}: cannot open as an audit database: it is a directory")
    db = AuditDatabase(path)
    db.execute("pragma busy_timeout = 10000")
    version = db.execute("pragma user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise SlantError(f"{path}: database schema v{version} is newer than this slant (v{SCHEMA_VERSION})")
    existing = set(db.table_names())
    if existing and "runs" not in existing:  # another program's database: slant adds nothing to it
        shown = ", ".join(sorted(existing)[:5]) + (" …" if len(existing) > 5 else "")
        raise SlantError(
            f"{path}: cannot open as an audit database: it is another program's SQLite database "
            f"(tables: {shown}); give slant a file of its own"
        )
    if "responses" not in existing:
        db.enable_wal()
    if db.journal_mode == "wal":
        # a commit is then not flushed to disk at once: a crash of slant loses nothing, a power cut can
        # lose the last commits (their calls are sent again on resume), never the database
        db.execute("pragma synchronous = normal")
    for name, (cols, pk) in _TABLES.items():
        if name not in existing:
            db.table(name).create(cols, pk=pk, if_not_exists=True)
            continue
        keys = [pk] if isinstance(pk, str) else list(pk)
        if name == "attempts" and db.table(name).pks == _OLD_ATTEMPTS_KEY:
            _rekey_attempts(db)
        if db.table(name).pks != keys:
            raise SlantError(
                f"{path}: table {name!r} was made by an older slant with another key; use a new database file"
            )
        have = db.table(name).columns_dict
        for col, kind in cols.items():  # columns added since the file was made: nothing stored is lost
            if col not in have:
                try:
                    db.table(name).add_column(col, kind)
                except sqlite3.OperationalError as e:  # another process added it first
                    if "duplicate column" not in str(e):
                        raise
    for table, idx in _INDEXES:
        db.table(table).create_index(idx, if_not_exists=True)
    for name, sql in _VIEWS.items():  # "if not exists": two processes may open a new file at once
        db.execute(f"create view if not exists [{name}] as {sql}")
    if version < SCHEMA_VERSION:
        db.execute(f"pragma user_version = {SCHEMA_VERSION}")
    return db


_OLD_ATTEMPTS_KEY = [
    "key",
    "attempt",
    "at",
]  # older slant: with one-second times, attempts overwrote each other


def _rekey_attempts(db: AuditDatabase) -> None:
    """Rebuild an ``attempts`` table keyed by (key, attempt, at) as one keyed by row id, keeping its rows."""
    with db.atomic():
        if db.table("attempts").pks != _OLD_ATTEMPTS_KEY:  # another process did it first
            return
        db.execute("alter table attempts rename to attempts_old")
        db.execute("drop index if exists idx_attempts_key")  # made again below, on the new table
        db.table("attempts").create(_TABLES["attempts"][0], pk="id")
        kept = ", ".join(f"[{c}]" for c in db.table("attempts_old").columns_dict)
        db.execute(f"insert into attempts ({kept}) select {kept} from attempts_old order by rowid")
        db.execute("drop table attempts_old")


def columns(table: str) -> list[str]:
    """The columns of one of slant's tables."""
    return list(_TABLES[table][0])


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def upsert(db: sqlite_utils.Database, table: str, rows: Iterable[dict[str, Any]]) -> None:
    """Insert or replace rows by the table's primary key, JSON-encoding dicts and lists (1,000 rows
    at a time: ``rows`` may stream)."""
    it = iter(rows)
    while chunk := list(itertools.islice(it, 1000)):
        encoded = [
            {k: dumps(v) if isinstance(v, dict | list | tuple) else v for k, v in r.items()} for r in chunk
        ]
        db.table(table).upsert_all(encoded, pk=_TABLES[table][1], alter=False)


def append(db: sqlite_utils.Database, table: str, rows: Iterable[dict[str, Any]]) -> None:
    """Insert rows as new rows (a table keyed by a row id: nothing is replaced)."""
    db.table(table).insert_all(rows, alter=False)


def responses_by_key(db: sqlite_utils.Database, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Stored response rows (successes and errors) for these request keys, by key."""
    keys = list(keys)
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        sql = f"select * from responses where key in ({','.join('?' * len(chunk))})"
        out.update((r["key"], r) for r in db.query(sql, chunk))
    return out


def done_keys(db: sqlite_utils.Database, keys: Iterable[str]) -> set[str]:
    """Request keys that already have a successful response (never sent again)."""
    keys = list(keys)
    done: set[str] = set()
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        sql = f"select key from responses where error_kind is null and key in ({','.join('?' * len(chunk))})"
        done.update(r[0] for r in db.execute(sql, chunk).fetchall())
    return done


def answered_keys(db: sqlite_utils.Database) -> Iterator[str]:
    """Every request key with a successful response, streamed."""
    return (r[0] for r in db.execute("select key from responses where error_kind is null"))


def served_models(db: sqlite_utils.Database, run_id: str) -> list[str]:
    """The model names the server reported in the replies a run scored (sorted)."""
    sql = (
        "select distinct r.served_model from outcomes o join responses r on r.key = o.request_key "
        "where o.run_id = ? and r.served_model is not null order by 1"
    )
    return [r[0] for r in db.execute(sql, [run_id]).fetchall()]


def run_row(db: sqlite_utils.Database, run_id: str) -> dict[str, Any] | None:
    """The ``runs`` row of exactly this id, or None: for ids slant made itself (a user's goes through
    :func:`find_run`)."""
    return next(iter(db.query("select * from runs where id = ?", [run_id])), None)


def find_run(db: sqlite_utils.Database, run: str) -> dict[str, Any]:
    """The ``runs`` row of a run id or of a unique prefix of one (at least 4 characters).

    The one way a run id given by a user is resolved: an unknown id, a prefix of several runs or a
    prefix shorter than 4 characters raises SlantError saying so.
    """
    exact = run_row(db, run)
    rows = [exact] if exact else []
    if not rows and len(run) >= MIN_PREFIX:
        sql = "select * from runs where substr(id, 1, ?) = ? order by started"
        rows = list(db.query(sql, [len(run), run]))
    if len(rows) == 1:
        return rows[0]
    if rows:
        shown = ", ".join(f"{r['id']} ({r['campaign']}, {r['started']})" for r in rows[:5])
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        raise SlantError(f"run id {run!r} is ambiguous: it begins {len(rows)} runs: {shown}{more}")
    short = f" (a prefix needs at least {MIN_PREFIX} characters)" if len(run) < MIN_PREFIX else ""
    raise SlantError(f"no run {run!r} in this database{short}; `slant runs` lists them")


def list_runs(db: sqlite_utils.Database, campaign: str | None = None) -> list[dict[str, Any]]:
    """Every run (of one campaign, if given), newest first, with ``baseline``: pinned as a baseline."""
    where, params = ("where r.campaign = ?", [campaign]) if campaign else ("", [])
    return list(
        db.query(
            "select r.id, r.campaign, r.target_id, r.status, r.started, r.finished, r.n_probes, "
            "r.n_requests, json_extract(r.tokens, '$.total.total') tokens, "
            "exists(select 1 from baselines b where b.run_id = r.id) baseline "
            f"from runs r {where} order by r.started desc, r.rowid desc",
            params,
        )
    )


def latest_run(db: sqlite_utils.Database) -> str:
    """The id of the run that finished (or started) last."""
    rows = list(db.query("select id from runs order by coalesce(finished, started) desc, rowid desc limit 1"))
    if not rows:
        raise SlantError("the database holds no run yet")
    return rows[0]["id"]


# --- writing a run ------------------------------------------------------------------------------


def record_target(db: sqlite_utils.Database, target: Target) -> None:
    """Store (or refresh) a target's row: its name, model, URL and what its server said about itself."""
    d = target.describe()
    keys = ("provider", "model", "base_url", "prefill_mode", "server", "client")
    upsert(db, "targets", [{"id": target.id, "name": target.name, **{k: d[k] for k in keys}}])


def record_run(
    db: sqlite_utils.Database, run: dict[str, Any], target: Target, probes: dict[str, Iterable[Probe]]
) -> None:
    """Store a run about to send its calls (status ``running``): its row (``started`` kept on a rerun),
    its target when new, and its probes by probe set name."""
    with db.atomic():
        if not db.table("targets").count_where("id = ?", [target.id]):
            record_target(db, target)
        for name, those in probes.items():
            for chunk in _batched(those, 1000):
                upsert(db, "probes", (p.row() for p in chunk))
                upsert(db, "run_probes", _run_probes(run["id"], {name: chunk}))
        row = {**run, "status": "running", "message": None}
        if not db.table("runs").count_where("id = ?", [run["id"]]):
            row["started"] = now()
        upsert(db, "runs", [row])


def narrow_run(
    db: sqlite_utils.Database, run_id: str, probes: dict[str, Iterable[Probe]], fields: dict[str, Any]
) -> None:
    """Keep only these probes (by probe set name) in a run, updating its row with ``fields``."""
    with db.atomic():
        db.execute("delete from run_probes where run_id = ?", [run_id])
        upsert(db, "run_probes", _run_probes(run_id, probes))
        db.table("runs").update(run_id, fields)


def _run_probes(run_id: str, probes: dict[str, Iterable[Probe]]) -> Iterator[dict[str, Any]]:
    """The ``run_probes`` rows of probes by probe set name."""
    return (
        {"run_id": run_id, "probe_id": p.id, "probe_set": name} for name, ps in probes.items() for p in ps
    )


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def finish_run(db: sqlite_utils.Database, run_id: str, status: str, **fields: Any) -> None:
    """Set a run's final status and time (with ``fields``: its message or provenance)."""
    db.table("runs").update(run_id, {"status": status, "finished": now(), **fields})


def record_served(db: sqlite_utils.Database, target_id: str, served: list[str]) -> None:
    """Store the model name(s) the server reported on the target's row."""
    db.table("targets").update(target_id, {"served_model": ", ".join(served)})


def write_outcomes(
    db: sqlite_utils.Database, run_id: str, probe_set: str, rows: list[dict[str, Any]], replace: bool = True
) -> None:
    """Replace a probe set's outcomes in a run (``replace=False``: add to them, as chunks are scored)."""
    with db.atomic():
        if replace:
            db.execute("delete from outcomes where run_id = ? and probe_set = ?", [run_id, probe_set])
        upsert(db, "outcomes", rows)


def write_disparities(db: sqlite_utils.Database, run_id: str, rows: list[dict[str, Any]]) -> None:
    """Replace a run's disparity rows."""
    with db.atomic():
        db.execute("delete from disparities where run_id = ?", [run_id])
        upsert(db, "disparities", rows)


# --- reading a run ------------------------------------------------------------------------------


def disparities_of(db: sqlite_utils.Database, run_id: str) -> list[dict[str, Any]]:
    """A run's disparity rows as stored."""
    return list(db.query("select * from disparities where run_id = ?", [run_id]))


def outcomes_of(db: sqlite_utils.Database, run_id: str) -> list[dict[str, Any]]:
    """A run's outcomes joined with their probes (the ``outcomes_full`` view)."""
    return list(db.query("select * from outcomes_full where run_id = ?", [run_id]))


def count_usable(db: sqlite_utils.Database, run_id: str, statuses: tuple[str, ...]) -> int:
    """How many of a run's outcomes have one of these parse statuses."""
    marks = ",".join("?" * len(statuses))
    sql = f"select count(*) from outcomes where run_id = ? and parse_status in ({marks})"
    return db.execute(sql, [run_id, *statuses]).fetchone()[0]


def capture_provenance(db: sqlite_utils.Database, run_id: str) -> dict[str, Any]:
    """The provenance of a run as it stands now (called at the end of every run): model name, base URL,
    what the server said about itself, the fingerprints and model names its replies carried, the
    campaign hash and every probe set's sampling settings. Captured then because the target's row is
    overwritten by later runs of the same target."""
    run = find_run(db, run_id)
    target = next(iter(db.query("select * from targets where id = ?", [run["target_id"]])), {})
    fingerprints = [
        r["fingerprint"]
        for r in db.query(
            "select distinct r.fingerprint from outcomes o join responses r on r.key = o.request_key "
            "where o.run_id = ? and r.fingerprint is not null order by 1",
            [run_id],
        )
    ]
    config = json.loads(run["config"] or "{}")
    return {
        "run": run_id,
        "campaign": run["campaign"],
        "campaign_hash": run["campaign_hash"],
        "target_id": run["target_id"],
        "model": target.get("model"),
        "base_url": target.get("base_url"),
        "server": json.loads(target.get("server") or "{}"),
        "fingerprints": fingerprints,
        "served_models": served_models(db, run_id),  # the model names the server reported
        "slant_version": run["slant_version"],
        "refusal_policy": DEFAULT_REFUSAL_POLICY,  # the definition the outcomes' refusal labels follow
        "scope": run["scope"],
        "sampling": {p["name"]: {k: p[k] for k in SAMPLING_KEYS if k in p} for p in config.get("probes", [])},
    }


def provenance(db: sqlite_utils.Database, run_id: str) -> dict[str, Any]:
    """The provenance stored with a run when it finished (captured now for older runs)."""
    stored = find_run(db, run_id).get("provenance")
    return json.loads(stored) if stored else capture_provenance(db, run_id)
