"""Synchronous model calls for graph nodes, sent through the run engine (cached, logged, attributed).

langgraph runs nodes as plain functions, while the engine and targets are async and a target (the
embedded model's server) should stay up for a whole session. A Gateway owns one event loop in a
background thread, opens the target on it once, and turns ``ask`` into ``execute`` calls there. The
cache scope is ``<agent>:<node>`` (``preference:<node>`` by default, ``generate:<node>`` for the
generation agents), so the ``responses`` table says which agent and node made each call.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slant import store
from slant.cost import Tokens, usage_of
from slant.run import RetryPolicy, execute, reply_from_row
from slant.targets import Reply, Request, Target, resolve_target

SCOPE_PREFIX = "preference"


@dataclass
class Answer:
    """A model's reply to one request; ``text`` is None when the call failed (an error row)."""

    key: str
    text: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.text is not None


@dataclass
class Ledger:
    """Distinct requests a method made (cached or sent), by node, with the tokens they cost."""

    keys: dict[str, str] = field(default_factory=dict)  # request key → node
    sent: int = 0
    failed: int = 0  # calls that ended as error rows
    by_node: dict[str, Tokens] = field(default_factory=dict)  # the tokens of each node's distinct calls

    def count(self, node: str | None = None) -> int:
        return sum(1 for n in self.keys.values() if node is None or n == node)

    @property
    def tokens(self) -> int:
        """Prompt + completion tokens of every distinct call (as the servers counted them)."""
        return sum(t.total for t in self.by_node.values())

    def token_text(self) -> str:
        """``tokens: draft 1,200 prompt + 300 completion = 1,500 tokens; judge …`` (one line)."""
        per = "; ".join(f"{node} {t.text()}" for node, t in self.by_node.items())
        return f"tokens: {per}" if per else "tokens: no call reported a usage"


class Gateway:
    """Model calls for one session: ``ask(node, messages)`` → Answer, through ``run.execute``.

    Args:
        target: a target name (``local``, ``openai/…``) or a Target object.
        db_path: the database the responses are stored in.
        retry: the engine's retry policy (failed calls are retried there, then stored as errors).
        scope_prefix: the agent's name, the first part of every call's cache scope.
    """

    def __init__(
        self,
        target: str | Target,
        db_path: str | Path,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 120.0,
        scope_prefix: str = SCOPE_PREFIX,
    ) -> None:
        self.target = resolve_target(target, base_url, timeout=timeout) if isinstance(target, str) else target
        self.db_path = str(db_path)
        self.retry = retry or RetryPolicy(max_retries=2, base_delay=0.2)
        self.timeout = timeout
        self.scope_prefix = scope_prefix
        self.ledger = Ledger()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._db: Any = None
        self._open = False
        self._lock = threading.Lock()

    @property
    def target_id(self) -> str:
        return self.target.id

    def ask(
        self,
        node: str,
        messages: tuple[tuple[str, str], ...],
        max_tokens: int,
        prefill: str | None = None,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> Answer:
        """One call (cached by request key). A prefill that the target applied is put back in the text.

        Greedy by default; a retry that must differ from an identical earlier prompt samples instead
        (``temperature`` > 0 with its own ``seed``, which is part of the request key).
        """
        return self.ask_many(node, [(messages, prefill)], max_tokens, temperature, seed)[0]

    def ask_many(
        self,
        node: str,
        prompts: list[tuple[tuple[tuple[str, str], ...], str | None]],
        max_tokens: int,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> list[Answer]:
        requests = [
            Request(m, max_tokens=max_tokens, temperature=temperature, seed=seed, prefill=p)
            for m, p in prompts
        ]
        scope = f"{self.scope_prefix}:{node}"
        loop = self._start()
        future = asyncio.run_coroutine_threadsafe(self._send(requests, scope), loop)
        rows, sent = future.result()
        out = []
        with self._lock:
            self.ledger.sent += sent
            for req in requests:
                key = req.key(self.target.id, scope)
                row = rows.get(key)
                reply = reply_from_row(row) if row else None
                if key not in self.ledger.keys and row and row.get("usage"):
                    self.ledger.by_node.setdefault(node, Tokens()).add(usage_of(row["usage"]))
                self.ledger.keys.setdefault(key, node)
                self.ledger.failed += reply is None
                out.append(_answer(key, req, reply, row))
        return out

    def key(self, node: str, request: Request) -> str:
        """The request key of a call this gateway makes for ``node``."""
        return request.key(self.target.id, f"{self.scope_prefix}:{node}")

    def send(self, node: str, requests: list[Request]) -> dict[str, dict[str, Any]]:
        """Requests as built (logprob reads, continuations) through the engine: their stored rows by key."""
        scope = f"{self.scope_prefix}:{node}"
        future = asyncio.run_coroutine_threadsafe(self._send(requests, scope), self._start())
        rows, sent = future.result()
        with self._lock:
            self.ledger.sent += sent
            for req in requests:
                self.ledger.keys.setdefault(req.key(self.target.id, scope), node)
        return rows

    async def _send(self, requests: list[Request], scope: str) -> tuple[dict[str, Any], int]:
        if not self._open:
            await self.target.__aenter__()
            self._open = True
        if self._db is None:  # sqlite connections belong to the thread that made them: this loop's
            self._db = store.open_db(self.db_path)
        batch = {r.key(self.target.id, scope): r for r in requests}
        stats = await execute(
            self._db, self.target, batch, scope=scope, retry=self.retry, timeout=self.timeout, progress=False
        )
        return store.responses_by_key(self._db, batch), stats.sent

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, daemon=True, name="slant-gateway").start()
            return self._loop

    def close(self) -> None:
        """Close the target (stops the embedded model's server) and the loop."""
        loop = self._loop
        if loop is None:
            return
        if self._open:
            asyncio.run_coroutine_threadsafe(self.target.__aexit__(None, None, None), loop).result()
            self._open = False
        if self._db is not None:
            asyncio.run_coroutine_threadsafe(_close(self._db), loop).result()
            self._db = None
        loop.call_soon_threadsafe(loop.stop)
        self._loop = None

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _close(db: Any) -> None:
    db.close()


def _answer(key: str, request: Request, reply: Reply | None, row: dict[str, Any] | None) -> Answer:
    if reply is None:
        error = f"{row['error_kind']}: {row['error']}" if row else "no response stored"
        return Answer(key, None, error)
    text = (request.prefill or "") + reply.text if reply.prefill_applied else reply.text
    return Answer(key, text)
