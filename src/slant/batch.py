"""Batch inference on engines that take a file of requests: the OpenAI Batch API, ``vllm run-batch``,
Ray Data's LLM processors, or any engine reading and writing OpenAI batch JSONL.

:func:`export_batch` writes a campaign's unsent requests as batch lines (``custom_id`` = the request
key, ``body`` = what the online target would send: :meth:`OpenAICompatTarget.body`); :func:`import_batch`
reads an engine's output file and stores each line as the online target would have stored its call
(:meth:`OpenAICompatTarget.parse` reads the replies; failed lines are error rows, never answers), then
scores the campaign as ``slant run`` does without sending anything. :func:`submit_batch`,
:func:`batch_status` and :func:`collect_batch` drive an OpenAI-compatible Batch API (``/files``,
``/batches``), keeping each batch in the ``batches`` table so that after a crash the next command
resumes it.

Two kinds of calls do not fit in one line. A completions request with answer continuations (a
decision read through the ``chatml`` prefill) may need one echo call per continuation: they go in the
same file as lines ``<key>#echo<i>``, and the import uses them only where the online target would
have (the first token's top logprobs do not list every continuation). Chained calls (a family's
``follow``) depend on the reply before them: each export holds the calls whose previous reply is
stored, so after importing round 1, exporting again gives round 2.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import openai

from slant import store
from slant.errors import SlantError, SpecError, TargetUnavailable
from slant.pipeline import AuditResult, _stored_chains, audit
from slant.plan import PlannedSet, plan, requests_of
from slant.probes import family_of
from slant.run import _error_row, _reply_row
from slant.spec import Campaign, load_campaign
from slant.targets import Reply, Request, Target, TargetError, resolve_target
from slant.targets.openai_compat import (
    MALFORMED,
    PATHS,
    Endpoint,
    OpenAICompatTarget,
    add_usage,
    as_reply,
    continuation_logprob,
    continuation_prompt,
    continuations_in_top,
    echo_body,
    echo_tokens,
    malformed,
    status_error,
)
from slant.targets.replicas import ReplicaTarget

ECHO = "#echo"  # custom_id of a continuation's echo call: <request key>#echo<i>
FINAL = ("completed", "failed", "expired", "cancelled")  # a Batch API batch that will not change
CLOSED = ("exported", "collected")  # batch rows whose requests a submit may send again
MAX_LINES = 50_000  # requests per batch the OpenAI Batch API takes; a larger submit makes several


@dataclass
class Planned:
    """A campaign planned for batch inference: its requests by key, on the target that keys them."""

    campaign: Campaign
    target: Target  # its id is part of every request key
    api: OpenAICompatTarget  # builds the request bodies and reads the replies
    scope: str
    db: store.AuditDatabase
    db_path: Path
    planned: list[PlannedSet]
    requests: dict[str, Request]  # every request of the plan, with the chained calls stored replies call for
    options: dict[str, Any]  # how it was planned: campaign file, target, base_url, limit, prefill


@dataclass
class Exported:
    """What :func:`export_batch` (or a submit) wrote: lines, requests, and what was left for later."""

    n_lines: int
    n_requests: int
    notes: list[str] = field(default_factory=list)


@dataclass
class Imported:
    """What an import stored, and the campaign's run scored from it."""

    run: AuditResult | None = None  # set once the campaign is scored
    stored: int = 0  # replies stored
    errors: dict[str, int] = field(default_factory=dict)  # error rows stored, by kind
    already: int = 0  # requests that had a stored reply already (kept)
    incomplete: int = 0  # requests whose echo lines are missing from the file (nothing stored)


def load(
    campaign: str | Path | Campaign,
    *,
    target: str | None = None,
    base_url: str | None = None,
    db: str | Path | None = None,
    limit: int | None = None,
    prefill: str | None = None,
) -> Planned:
    """Plan a campaign as ``slant run`` would (same target id, cache scope and request keys)."""
    c = campaign if isinstance(campaign, Campaign) else load_campaign(campaign)
    if prefill:
        c = c.model_copy(update={"prefill": prefill})
    where = str(c.path or c.name)
    if c.adaptive:
        problem = "adaptive runs ask in looks, each decided by the replies before it: use `slant run`"
        raise SpecError(where, "adaptive", problem)
    tgt = resolve_target(target or c.target, base_url or c.base_url, c.prefill, c.timeout)
    api = tgt.replicas[0] if isinstance(tgt, ReplicaTarget) else tgt
    if not isinstance(api, OpenAICompatTarget):
        raise SlantError(f"target {tgt.name}: batch files are for OpenAI-compatible targets, not this one")
    db_path = Path(db or c.db)
    sdb = store.open_db(db_path)
    planned = plan(c, tgt, limit, c.name)
    requests = requests_of(planned) | _stored_chains(sdb, planned, tgt.id, c.name)
    options = {
        "campaign": str(c.path.resolve() if c.path else ""),
        "target": target,
        "base_url": base_url,
        "limit": limit,
    }
    return Planned(c, tgt, api, c.name, sdb, db_path, planned, requests, options | {"prefill": prefill})


def export_batch(
    campaign: str | Path | Campaign, output: str | Path, **options: Any
) -> tuple[Planned, Exported]:
    """Write every request of the campaign without a stored reply to ``output`` as OpenAI batch JSONL.
    ``options``: those of :func:`load`."""
    p = load(campaign, **options)
    keys = unsent(p)
    lines = batch_lines(p, keys)
    _write_lines(Path(output), lines)
    if keys:
        record(p, "exported", _url(lines), keys, len(lines))
    out = Exported(len(lines), len(keys), export_notes(p, keys, lines))
    if busy := len(open_keys(p).intersection(keys)):
        out.notes.append(f"{busy} of them are in a submitted batch not collected yet (`slant batch collect`)")
    return p, out


def unsent(p: Planned) -> list[str]:
    """The keys of the plan's requests that have no successful stored response."""
    done = store.done_keys(p.db, p.requests)
    return [k for k in p.requests if k not in done]


def batch_lines(p: Planned, keys: Iterable[str]) -> list[dict[str, Any]]:
    """One batch line per request (``custom_id`` = its key), and one per echo call it may need."""
    lines = []
    for key in keys:
        request = p.requests[key]
        if request.is_loglikelihood:
            continue  # left for the online path (export_notes says so)
        endpoint, body = p.api.body(request)
        lines.append(_line(key, endpoint, body))
        if endpoint == "completions":
            for i, continuation in enumerate(request.continuations or ()):
                body = echo_body(p.api.model, continuation_prompt(request, continuation))
                lines.append(_line(f"{key}{ECHO}{i}", "completions", body))
    return lines


def _line(custom_id: str, endpoint: Endpoint, body: dict[str, Any]) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": f"/v1{PATHS[endpoint]}", "body": body}


def _write_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    try:
        path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), "utf-8")
    except OSError as e:
        raise SlantError(f"cannot write {path}: {e.strerror or e}") from None


def _url(lines: list[dict[str, Any]]) -> str:
    """The endpoint(s) of a file's lines, comma-separated."""
    return ",".join(sorted({line["url"] for line in lines}))


def export_notes(p: Planned, keys: list[str], lines: list[dict[str, Any]]) -> list[str]:
    """One line each for what an export cannot settle in one round: echo calls that may go unused, and
    chained calls that follow this round's replies."""
    notes = []
    if n_ll := sum(p.requests[k].is_loglikelihood for k in keys):
        notes.append(
            f"{n_ll} log-likelihood requests are left out (one echo call per continuation, read with the "
            "target's start token): `slant run` sends them online"
        )
    if n_echo := sum(ECHO in line["custom_id"] for line in lines):
        notes.append(
            f"{n_echo} echo calls for the answer continuations' log-probabilities are included; the import "
            "uses them only where the first token's top logprobs miss a continuation, as the online path "
            "(which sends them only then) does"
        )
    pending = set(keys)
    for ps in p.planned:
        if family_of(ps.spec).follow and (n := len(pending.intersection(ps.keys()))):
            notes.append(
                f"probe set {ps.spec.name} asks in chained calls: {n} of these requests may be followed by "
                "another call; import the results, then export again for the next round"
            )
    return notes


# --- reading an engine's output file ------------------------------------------------------------


def read_results(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """The lines of a batch output file (line number, object), each with a ``custom_id`` and a
    ``response`` (``status_code``, ``body``) or an ``error``; anything else is a SlantError naming the
    file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SlantError(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        if raw.strip():
            out.append((n, _result_line(path, n, raw)))
    return out


def _result_line(path: str | Path, n: int, raw: str) -> dict[str, Any]:
    where = f"{path}: line {n}"
    try:
        line = json.loads(raw)
    except json.JSONDecodeError as e:
        raise SlantError(f"{where}: not JSON ({e.msg}); a batch output line is one JSON object") from None
    if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
        raise SlantError(f"{where}: no custom_id: a batch output line is an object with a string custom_id")
    response, error = line.get("response"), line.get("error")
    if response is None and not error:
        hint = " (a request line: import the engine's output file)" if "body" in line else ""
        raise SlantError(
            f"{where}: custom_id {line['custom_id']!r} has neither a response nor an error{hint}"
        )
    if response is not None and (not isinstance(response, dict) or not _is_int(response.get("status_code"))):
        raise SlantError(f"{where}: response.status_code: expected an HTTP status (a whole number)")
    return line


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def store_results(p: Planned, lines: list[tuple[int, dict[str, Any]]], source: str) -> Imported:
    """Store the replies of batch output lines as the online target would have stored its calls; an
    unknown custom_id stops everything (nothing stored) with one line naming ``source`` and the line."""
    by_id: dict[str, dict[str, Any]] = {}
    for n, line in lines:
        cid = line["custom_id"]
        if cid.split(ECHO)[0] not in p.requests:
            raise SlantError(
                f"{source}: line {n}: custom_id {cid!r} is no request of campaign {p.campaign.name} on "
                f"{p.target.id} (scope {p.scope}); import with the campaign, --target, --base-url and "
                "--limit the requests were exported with"
            )
        if not _succeeded(by_id.get(cid)):  # a reply given twice (output and error files): a success wins
            by_id[cid] = line
    keys = [cid for cid in by_id if ECHO not in cid]
    done = store.done_keys(p.db, keys)
    out = Imported()
    responses, attempts = [], []
    for key in keys:
        if key in done:
            out.already += 1
            continue
        got = _outcome(p, key, by_id)
        if got is None:
            out.incomplete += 1
            continue
        request = p.requests[key]
        if isinstance(got, Reply):
            responses.append(_reply_row(key, p.target, request, p.scope, got, None, 1))  # type: ignore[arg-type]
            out.stored += 1
        else:
            responses.append(_error_row(key, p.target, request, p.scope, got, None, 1))  # type: ignore[arg-type]
            out.errors[got.kind] = out.errors.get(got.kind, 0) + 1
        attempts.append(_attempt(responses[-1], got, source))
    with p.db.atomic():
        store.append(p.db, "attempts", attempts)
        store.upsert(p.db, "responses", responses)
    return out


def _succeeded(line: dict[str, Any] | None) -> bool:
    return line is not None and (line.get("response") or {}).get("status_code") == 200


def _attempt(row: dict[str, Any], got: Reply | TargetError, source: str) -> dict[str, Any]:
    """The ``attempts`` row of a batch line: one attempt, sent by the engine that wrote ``source``."""
    error = got if isinstance(got, TargetError) else None
    return {
        "key": row["key"],
        "attempt": 0,
        "ok": int(error is None),
        "error_kind": error.kind if error else None,
        "status": error.status if error else 200,
        "error": row["error"],
        "latency_ms": None,
        "at": store.now(),
        "owner": f"batch:{Path(source).name}",
    }


def _outcome(p: Planned, key: str, by_id: dict[str, dict[str, Any]]) -> Reply | TargetError | None:
    """A request's reply (or error) from its line and, where the online target would have sent them,
    its echo lines; None when an echo line it needs is missing."""
    request = p.requests[key]
    endpoint, _ = p.api.body(request)
    got = _read(by_id[key], partial(_parse, p.api, request, endpoint))
    if not isinstance(got, Reply) or endpoint != "completions" or not request.continuations:
        return got
    if (listed := continuations_in_top(request, got.top_logprobs)) is not None:
        got.continuation_logprobs = listed
        return got
    echoes = [by_id.get(f"{key}{ECHO}{i}") for i in range(len(request.continuations))]
    if any(e is None for e in echoes):
        return None
    out: dict[str, float] = {}
    spent = dict(got.usage or {})
    for continuation, line in zip(request.continuations, echoes, strict=True):
        value = _read(line, partial(_echo_value, continuation_prompt(request, continuation), continuation))
        if isinstance(value, TargetError):
            return value
        add_usage(spent, _read(line, as_reply))  # as online: each echo call counts
        got.usage = spent or None
        if value is None:  # the engine echoed no prompt logprobs: no exact read, as online
            return got
        out[continuation] = value
    got.continuation_logprobs = out
    return got


def _parse(api: OpenAICompatTarget, request: Request, endpoint: Endpoint, body: Any) -> Reply:
    return api.parse(request, endpoint, as_reply(body))


def _echo_value(prompt: str, continuation: str, body: Any) -> float | None:
    read = continuation_logprob(*echo_tokens(prompt, as_reply(body)), continuation)
    return read[0] if read else None


def _read(line: dict[str, Any] | None, parse: Callable[[Any], Any]) -> Any:
    """``parse(body)`` of a line's 200 reply, or the TargetError the online target would have raised."""
    assert line is not None
    response, error = line.get("response"), line.get("error")
    if response is None:
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        return TargetError(str(code or "batch_error"), str(message), retryable=True)
    body = response.get("body")
    if response["status_code"] != 200:
        detail = body.get("error") if isinstance(body, dict) else None
        message = detail.get("message") if isinstance(detail, dict) else json.dumps(body)[:300]
        return status_error(response["status_code"], f"Error code: {response['status_code']} - {message}")
    try:
        return parse(body)
    except TargetError as e:
        return e
    except MALFORMED as e:
        return malformed(e)


def import_batch(file: str | Path, campaign: str | Path | Campaign | None = None, **options: Any) -> Imported:
    """Store the replies of a batch output file and score the campaign (no model call). Without a
    campaign, the one whose export or submit holds the file's first custom_id in ``db`` (default
    slant.db) is planned as it was then."""
    lines = read_results(file)
    if campaign is None:
        options = _exported_with(options.get("db") or "slant.db", lines, file)
        campaign = options.pop("campaign")
    p = load(campaign, **options)
    got = store_results(p, lines, str(file))
    got.run = score(p)
    return got


def _exported_with(
    db: str | Path, lines: list[tuple[int, dict[str, Any]]], file: str | Path
) -> dict[str, Any]:
    """The options of the latest export or submit (in ``db``) that holds the file's first request."""
    if not lines:
        raise SlantError(f"{file}: no lines: nothing to import")
    sdb = store.open_existing(db)
    key = lines[0][1]["custom_id"].split(ECHO)[0]
    sql = (
        "select b.options from batches b join batch_keys k on k.batch_id = b.id where k.key = ? "
        "order by b.created desc, b.rowid desc limit 1"
    )
    row = sdb.execute(sql, [key]).fetchone()
    if row is None:
        raise SlantError(
            f"{file}: line {lines[0][0]}: custom_id {key!r} was not exported from {db}: name the campaign "
            "(slant batch import FILE CAMPAIGN)"
        )
    options = json.loads(row[0])
    return {**options, "db": db}


def score(p: Planned) -> AuditResult:
    """Score the campaign from its stored replies, as ``slant run`` does, sending nothing."""
    o = p.options
    return audit(
        p.campaign,
        target=o["target"],
        base_url=o["base_url"],
        db=p.db_path,
        limit=o["limit"],
        progress=False,
        send=False,
    )


# --- the batches table --------------------------------------------------------------------------


def record(p: Planned, status: str, url: str, keys: list[str], n_lines: int) -> dict[str, Any]:
    """Store a new batch of these request keys; returns its row."""
    now = store.now()
    row = {
        "id": f"slant-{uuid.uuid4().hex[:16]}",  # unique: the server's batches are found again by it
        "campaign": p.campaign.name,
        "target_id": p.target.id,
        "scope": p.scope,
        "options": p.options,
        "url": url,
        "n_lines": n_lines,
        "status": status,
        "created": now,
        "updated": now,
    }
    with p.db.atomic():
        store.upsert(p.db, "batches", [row])
        store.upsert(p.db, "batch_keys", ({"batch_id": row["id"], "key": k} for k in keys))
    return row


def _update(p: Planned, row: dict[str, Any], **fields: Any) -> None:
    row.update(fields, updated=store.now())
    p.db.table("batches").update(row["id"], {**fields, "updated": row["updated"]})


def batches_of(p: Planned, open_only: bool = True) -> list[dict[str, Any]]:
    """The campaign's batches on this target and scope (only those not exported or collected)."""
    closed = ",".join(f"'{s}'" for s in CLOSED) if open_only else "''"
    sql = (
        "select * from batches where campaign = ? and target_id = ? and scope = ? "
        f"and status not in ({closed}) order by created, rowid"
    )
    return list(p.db.query(sql, [p.campaign.name, p.target.id, p.scope]))


def open_keys(p: Planned) -> set[str]:
    """Request keys in submitted batches not collected yet."""
    ids = [b["id"] for b in batches_of(p)]
    marks = ",".join("?" * len(ids))
    return {r[0] for r in p.db.execute(f"select key from batch_keys where batch_id in ({marks})", ids)}


def _keys_of(p: Planned, batch_id: str) -> list[str]:
    return [
        r[0] for r in p.db.execute("select key from batch_keys where batch_id = ? order by rowid", [batch_id])
    ]


# --- an OpenAI-compatible Batch API ---------------------------------------------------------------


def _client(p: Planned) -> openai.OpenAI:
    return p.api.batch_client()


def _api_error(p: Planned, e: Exception) -> TargetUnavailable:
    where = p.api.base_url or "https://api.openai.com/v1"
    hint = (
        " (the server has no Batch API: /files or /batches not found)"
        if getattr(e, "status_code", 0) == 404
        else ""
    )
    problem = f"{type(e).__name__}: {e}"
    return TargetUnavailable(f"batch API at {where}: {problem}{hint}; rerun the same command to resume")


def submit_batch(
    campaign: str | Path | Campaign, completion_window: str = "24h", **options: Any
) -> tuple[Planned, list[dict[str, Any]], Exported]:
    """Upload the campaign's unsent requests (not in a batch submitted before) and create batches of them
    (one endpoint and at most MAX_LINES lines each); a batch a crashed submit left unfinished is
    finished first. Returns the batches submitted now (rows of the ``batches`` table) and what was
    exported."""
    p = load(campaign, **options)
    client = _client(p)
    submitted = []
    for row in batches_of(p):
        if row["status"] == "uploading":  # a submit that crashed before the batch was created
            submitted.append(_submit(p, client, row, completion_window))
    busy = open_keys(p)
    keys = [k for k in unsent(p) if k not in busy]
    lines = batch_lines(p, keys)
    for url, group, n_lines in _split(lines):
        row = record(p, "uploading", url, group, n_lines)
        submitted.append(_submit(p, client, row, completion_window))
    return p, submitted, Exported(len(lines), len(keys), export_notes(p, keys, lines))


def _split(lines: list[dict[str, Any]]) -> list[tuple[str, list[str], int]]:
    """Batch lines as batches (endpoint, request keys, number of lines): one endpoint each, at most
    MAX_LINES lines, a request's echo lines (which follow it) in its batch."""
    by_url: dict[str, list[list[Any]]] = {}  # endpoint → [request key, its number of lines]
    for line in lines:
        key, requests = line["custom_id"].split(ECHO)[0], by_url.setdefault(line["url"], [])
        if requests and requests[-1][0] == key:
            requests[-1][1] += 1
        else:
            requests.append([key, 1])
    out: list[tuple[str, list[str], int]] = []
    for url, requests in sorted(by_url.items()):
        for key, n in requests:
            if not out or out[-1][0] != url or out[-1][2] + n > MAX_LINES:
                out.append((url, [], 0))
            out[-1][1].append(key)
            out[-1] = (url, out[-1][1], out[-1][2] + n)
    return out


def _submit(p: Planned, client: openai.OpenAI, row: dict[str, Any], window: str) -> dict[str, Any]:
    """Upload a batch's file (unless uploaded before) and create its batch (unless the server has it)."""
    try:
        if not row.get("input_file_id"):  # regenerated after a crash: the bodies are the plan's
            keys = [k for k in _keys_of(p, row["id"]) if k in p.requests]
            lines = [line for line in batch_lines(p, keys) if line["url"] == row["url"]]
            data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
            uploaded = client.files.create(file=(f"{row['id']}.jsonl", io.BytesIO(data)), purpose="batch")
            _update(p, row, input_file_id=uploaded.id)
        batch = _find(client, row["id"]) or client.batches.create(
            input_file_id=row["input_file_id"],
            endpoint=row["url"],
            completion_window=window,  # type: ignore[arg-type]
            metadata={"slant_batch": row["id"]},
        )
    except openai.APIError as e:
        raise _api_error(p, e) from None
    _update(p, row, remote_id=batch.id, status=batch.status)
    return row


def _find(client: openai.OpenAI, batch_id: str) -> Any:
    """The server's batch made for this row before (its metadata names it), if the server lists them."""
    try:
        listed = client.batches.list(limit=100).data
    except openai.APIStatusError:
        return None
    return next((b for b in listed if (b.metadata or {}).get("slant_batch") == batch_id), None)


def batch_status(campaign: str | Path | Campaign, **options: Any) -> tuple[Planned, list[dict[str, Any]]]:
    """Ask the Batch API how each open batch of the campaign stands; stores and returns their rows,
    each with ``counts`` (the server's request counts)."""
    p = load(campaign, **options)
    client = _client(p)
    return p, [_refresh(p, client, row) for row in batches_of(p)]


def _refresh(p: Planned, client: openai.OpenAI, row: dict[str, Any]) -> dict[str, Any]:
    if not row["remote_id"]:
        return {**row, "counts": None}
    try:
        b = client.batches.retrieve(row["remote_id"])
    except openai.APIError as e:
        raise _api_error(p, e) from None
    _update(p, row, status=b.status, output_file_id=b.output_file_id, error_file_id=b.error_file_id)
    counts = b.request_counts.model_dump() if b.request_counts else None
    errors = [e.message for e in (b.errors.data or [])] if b.errors else []
    return {**row, "counts": counts, "errors": errors}


def collect_batch(campaign: str | Path | Campaign, **options: Any) -> tuple[Imported, list[dict[str, Any]]]:
    """Store the replies of every finished batch of the campaign (output and error files), mark those
    batches collected, and score the campaign; returns what was stored and every open batch as the
    server reported it (``status``: in_progress …, or completed, failed, expired, cancelled: collected
    now; ``errors``: why a batch failed)."""
    p = load(campaign, **options)
    client = _client(p)
    total = Imported()
    seen = [_refresh(p, client, row) for row in batches_of(p)]
    for row in seen:
        if row["status"] in FINAL:
            for file_id in (row["output_file_id"], row["error_file_id"]):
                if file_id:
                    _add(total, store_results(p, _download(p, client, file_id), f"batch file {file_id}"))
            _update(p, {**row}, status="collected")
    total.run = score(p)
    return total, seen


def _download(p: Planned, client: openai.OpenAI, file_id: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        text = client.files.content(file_id).text
    except openai.APIError as e:
        raise _api_error(p, e) from None
    name = f"batch file {file_id}"
    return [(n, _result_line(name, n, raw)) for n, raw in enumerate(text.splitlines(), 1) if raw.strip()]


def _add(total: Imported, more: Imported) -> None:
    total.stored, total.already, total.incomplete = (
        total.stored + more.stored,
        total.already + more.already,
        total.incomplete + more.incomplete,
    )
    for kind, n in more.errors.items():
        total.errors[kind] = total.errors.get(kind, 0) + n
