"""The engine: sends requests with bounded concurrency, retries and a cache keyed by request key.

It knows nothing about bias. A request whose key already has a successful response is never sent
again; a request that still fails after all retries is stored as an error row (never as an answer)
and is retried by the next run. Each key is claimed before it is sent (slant.claims): a key another
live process is sending is not sent again but waited for, so runs of the same requests at once share
the work.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlite_utils
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from slant import store
from slant.claims import Claims, who
from slant.cost import Meter
from slant.errors import TargetUnavailable
from slant.targets.base import Reply, Request, Target, TargetError

# Answers that say the whole run is misconfigured: the first one stops it, with what to check.
REFUSED_HINTS = {
    "http_401": "the server refused the API key (401): check OPENAI_API_KEY / VLLM_API_KEY (or .env)",
    "http_403": "the server forbids this request (403): check the API key's access to this model",
    "http_404": "not found (404): check the model name and the base URL (it usually ends in /v1)",
}


WINDOW = 4_096  # requests checked against the cache and put in order at a time


@dataclass
class EngineStats:
    requested: int = 0
    cached: int = 0
    sent: int = 0  # requests sent (each may take several attempts)
    attempts: int = 0
    succeeded: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0  # wall time spent sending (0 when everything was cached)
    shared: int = 0  # answered meanwhile by another process sending the same requests (not sent here)
    # those processes, as "pid N" ("pid N on H" for another host)
    shared_with: list[str] = field(default_factory=list)
    over_budget: int = 0  # requests not sent: the next call could have passed the campaign's budget


@dataclass
class RetryPolicy:
    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, error: TargetError) -> float:
        """Exponential backoff with full jitter; a server's Retry-After wins when it is longer."""
        backoff = random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))
        return min(self.max_delay, max(backoff, error.retry_after or 0.0))


class _Writer:
    """Buffers rows and writes them in short transactions (every ``every`` seconds or ``size`` rows); each
    transaction also releases the claims of the responses it stores."""

    def __init__(
        self, db: sqlite_utils.Database, claims: Claims, every: float = 0.5, size: int = 200
    ) -> None:
        self.db, self.claims, self.every, self.size = db, claims, every, size
        self.responses: list[dict[str, Any]] = []
        self.attempts: list[dict[str, Any]] = []
        self.last = time.monotonic()

    def add(self, response: dict[str, Any], attempts: list[dict[str, Any]]) -> None:
        self.responses.append(response)
        self.attempts += attempts
        if len(self.responses) >= self.size or time.monotonic() - self.last > self.every:
            self.flush()

    def flush(self) -> None:
        if self.responses or self.attempts:
            for a in self.attempts:
                a["owner"] = self.claims.owner
            with self.db.atomic():
                store.append(self.db, "attempts", self.attempts)
                store.upsert(self.db, "responses", self.responses)
                self.claims.release([r["key"] for r in self.responses])
            self.responses, self.attempts = [], []
        self.last = time.monotonic()


async def execute(
    db: sqlite_utils.Database,
    target: Target,
    requests: Mapping[str, Request] | Iterable[tuple[str, Request]],
    *,
    scope: str,
    max_connections: int = 4,
    retry: RetryPolicy | None = None,
    timeout: float = 60.0,
    progress: bool = True,
    abort_after: int = 10,
    order: Literal["prefix", "given", "random"] = "prefix",
    pending: int | None = None,
    meter: Meter | None = None,
) -> EngineStats:
    """Send every request whose key has no successful response yet; store responses as they finish.

    ``requests`` maps request key → request (see ``Request.key``), or streams distinct (key, request)
    pairs, with ``pending`` saying how many of them have no successful response yet; they are read
    :data:`WINDOW` at a time, so memory does not grow with their number. After ``abort_after``
    requests in a row fail (each after all its retries) the target is taken to be down: the run stops
    with TargetUnavailable instead of spending every remaining request's retries. ``order``:
    ``prefix`` sends the requests of each window sorted by their messages, so prompts sharing a long
    prefix go one after another (llama.cpp reuses the previous prompt's cache, vLLM its prefix cache);
    ``given`` keeps their order; ``random`` shuffles each window (seeded; for benchmarks). ``meter``: a
    budget; once the next call could pass it, the rest are not sent (counted in ``over_budget``, stored
    as nothing: not errors, not answers).
    """
    retry = retry or RetryPolicy()
    if isinstance(requests, Mapping):
        pending = len(requests) - len(store.done_keys(db, requests))
    assert pending is not None, "a stream of requests comes with its number of pending requests"
    stats = EngineStats()
    shuffle = random.Random(0).shuffle

    def windows() -> Iterator[list[tuple[str, Request]]]:
        """The requests still to send, a window at a time (in the order asked for)."""
        pairs = iter(requests.items() if isinstance(requests, Mapping) else requests)
        while window := list(itertools.islice(pairs, WINDOW)):
            done = store.done_keys(db, (k for k, _ in window))
            stats.requested, stats.cached = stats.requested + len(window), stats.cached + len(done)
            todo = [(k, r) for k, r in window if k not in done]
            if order == "prefix":
                todo.sort(key=lambda kr: (kr[1].messages, kr[1].prefill or "", kr[1].sample))
            elif order == "random":
                shuffle(todo)
            yield todo

    claims = Claims(db)
    writer = _Writer(db, claims)
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[errors]} errors"),
        disable=not progress or not pending,
        transient=False,
    )

    consecutive_failures = 0

    async def one(key: str, request: Request) -> None:
        nonlocal consecutive_failures
        if meter is not None and not meter.admit(key, request):
            stats.over_budget += 1
            bar.update(task, advance=1)
            return
        response, attempts = await _call(target, key, request, scope, retry, timeout)
        if meter is not None:
            meter.settle(key, request, response["usage"])
        stats.sent += 1
        stats.attempts += len(attempts)
        writer.add(response, attempts)
        bar.update(task, advance=1, errors=stats.failed)
        if response["error_kind"] is None:
            stats.succeeded += 1
            consecutive_failures = 0
            return
        stats.failed += 1
        kind = response["error_kind"]
        stats.errors[kind] = stats.errors.get(kind, 0) + 1
        consecutive_failures += 1
        if kind in REFUSED_HINTS:  # every other request would be refused the same way: stop now
            raise TargetUnavailable(
                f"{target.name}: {REFUSED_HINTS[kind]} ({response['error'][:200]}); stopped after "
                f"{stats.sent} request(s). Nothing was retried; fix this, then rerun"
            )
        if consecutive_failures >= abort_after:
            retried = " after all retries" if response["attempts"] > 1 else ""
            raise TargetUnavailable(
                f"{target.name}: {consecutive_failures} requests in a row failed{retried} (last: "
                f"{kind}: {response['error'][:300]}); stopped. Finished calls are saved; rerun to resume"
            )

    n_workers = min(max_connections, pending)
    # max_connections workers take claimed requests from one bounded queue: the concurrency bound, and
    # no task per request (a million-probe campaign would otherwise hold a million coroutines)
    queue: asyncio.Queue[tuple[str, Request] | None] = asyncio.Queue(maxsize=max(16, 2 * n_workers))

    def hand_out(batch: dict[str, Request], waiting: dict[str, Request]) -> list[tuple[str, Request]]:
        """Claim a batch: returns the requests to send; keys another process is sending go to ``waiting``."""
        taken = claims.take(list(batch))
        for key in taken.settled:
            waiting.pop(key, None)
        stats.shared += len(taken.settled)
        bar.update(task, advance=len(taken.settled))
        for key, owner in taken.busy.items():
            waiting[key] = batch[key]
            if who(owner) not in stats.shared_with:
                stats.shared_with.append(who(owner))
        for key in taken.mine:
            waiting.pop(key, None)
        return [(key, batch[key]) for key in taken.mine]

    async def feed() -> None:
        waiting: dict[str, Request] = {}
        for todo in windows():
            for i in range(0, len(todo), queue.maxsize):
                for item in hand_out(dict(todo[i : i + queue.maxsize]), waiting):
                    await queue.put(item)
        while waiting:  # sent by another process: wait for its responses (or for it to die)
            writer.flush()  # what this one finished, the other may be waiting for
            await asyncio.sleep(0.5)
            for item in hand_out(dict(waiting), waiting):
                await queue.put(item)
        for _ in range(n_workers):
            await queue.put(None)

    async def worker() -> None:
        while (item := await queue.get()) is not None:
            await one(*item)

    started = time.perf_counter()
    with bar:
        task = bar.add_task(f"{target.name}", total=pending, errors=0)
        heartbeat = asyncio.create_task(claims.keep_alive())
        try:
            if pending:
                async with asyncio.TaskGroup() as group:  # one task's exception cancels the others
                    group.create_task(feed())
                    for _ in range(n_workers):
                        group.create_task(worker())
            else:
                for _ in windows():  # nothing to send: the counts of what is cached
                    pass
        except* TargetUnavailable as eg:
            raise eg.exceptions[0] from None
        finally:
            heartbeat.cancel()
            writer.flush()  # also on Ctrl-C or an abort: what finished is kept
            claims.release_all()  # what was claimed but not sent, another run may send
            stats.seconds = time.perf_counter() - started
    return stats


async def _call(
    target: Target, key: str, request: Request, scope: str, retry: RetryPolicy, timeout: float
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One request with retries; returns its response row and one row per attempt."""
    attempts: list[dict[str, Any]] = []
    for attempt in range(retry.max_retries + 1):
        start = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):  # no extra task per call, unlike wait_for
                reply = await target.complete(request)
        except (TargetError, TimeoutError) as e:
            err = (
                e
                if isinstance(e, TargetError)
                else TargetError("timeout", f"no reply in {timeout}s", retryable=True)
            )
            latency = round((time.perf_counter() - start) * 1000, 1)
            attempts.append(
                {
                    "key": key,
                    "attempt": attempt,
                    "ok": 0,
                    "error_kind": err.kind,
                    "status": err.status,
                    "error": str(err)[:500],
                    "latency_ms": latency,
                    "at": store.now(),
                }
            )
            if not err.retryable or attempt == retry.max_retries:
                return _error_row(key, target, request, scope, err, latency, len(attempts)), attempts
            await asyncio.sleep(retry.delay(attempt, err))
            continue
        latency = round((time.perf_counter() - start) * 1000, 1)
        attempts.append({"key": key, "attempt": attempt, "ok": 1, "latency_ms": latency, "at": store.now()})
        return _reply_row(key, target, request, scope, reply, latency, len(attempts)), attempts
    raise AssertionError("unreachable")


def _base_row(key: str, target: Target, request: Request, scope: str) -> dict[str, Any]:
    return {
        "key": key,
        "target_id": target.id,
        "scope": scope,
        "request": request.canonical(),
        "created": store.now(),
    }


def _reply_row(
    key: str, target: Target, request: Request, scope: str, reply: Reply, latency: float, n: int
) -> dict[str, Any]:
    return {
        **_base_row(key, target, request, scope),
        "endpoint": reply.endpoint,
        "text": reply.text,
        "finish_reason": reply.finish_reason,
        "top_logprobs": reply.top_logprobs,
        "continuation_logprobs": reply.continuation_logprobs,
        "continuation_tokens": reply.continuation_tokens,
        "usage": reply.usage,
        "fingerprint": reply.fingerprint,
        "served_model": reply.served_model,
        "prefill_applied": int(reply.prefill_applied),
        "latency_ms": latency,
        "attempts": n,
        "error_kind": None,
        "error": None,
    }


def _error_row(
    key: str, target: Target, request: Request, scope: str, err: TargetError, latency: float, n: int
) -> dict[str, Any]:
    return {
        **_base_row(key, target, request, scope),
        "endpoint": None,
        "text": None,
        "finish_reason": None,
        "top_logprobs": None,
        "continuation_logprobs": None,
        "continuation_tokens": None,
        "usage": None,
        "fingerprint": None,
        "served_model": None,
        "prefill_applied": None,
        "latency_ms": latency,
        "attempts": n,
        "error_kind": err.kind,
        "error": str(err)[:500],
    }


def reply_from_row(row: dict[str, Any]) -> Reply | None:
    """Rebuild a Reply from a stored response row; None for error rows."""
    if row.get("error_kind") is not None or row.get("text") is None:
        return None
    top = json.loads(row["top_logprobs"]) if row.get("top_logprobs") else None
    continuations, counts = row.get("continuation_logprobs"), row.get("continuation_tokens")
    return Reply(
        text=row["text"],
        finish_reason=row["finish_reason"],
        endpoint=row["endpoint"],
        top_logprobs=top,
        prefill_applied=bool(row["prefill_applied"]),
        continuation_logprobs=json.loads(continuations) if continuations else None,
        continuation_tokens=json.loads(counts) if counts else None,
    )
