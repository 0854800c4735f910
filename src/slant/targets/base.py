"""The one interface every model backend implements, and the request/reply it exchanges."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any, Protocol


@dataclass(frozen=True)
class Request:
    """One model call, canonical enough to hash.

    ``prefill`` is the start of the assistant's reply; targets that can continue it (raw completions
    with the chat template written out, or vLLM's ``continue_final_message``) do, others ignore it and
    record that they did. ``sample`` distinguishes repeated draws of the same prompt. ``choices``
    constrains the reply to one of these strings where the backend can (vLLM ``structured_outputs``,
    a llama.cpp grammar); such a target checks the reply and reports a violated constraint as an error.
    ``continuations`` asks, besides the reply, for the log-probability of each of these strings written
    right after the prefill (a multiple-choice read, as lm-evaluation-harness scores answers); targets
    that can compute it (completions with ``echo`` and prompt logprobs, vLLM ``prompt_logprobs``) put it
    in ``Reply.continuation_logprobs``, others answer the rest of the request and leave it None.

    A **log-likelihood request** (``max_tokens=0`` with ``continuations``; build it with
    :func:`loglikelihood`) generates nothing: the target returns each continuation's summed
    log-probability after the prompt and its number of tokens, as lm-evaluation-harness scores
    multiple-choice and whole-sentence benchmarks. Its prompt is ``text`` written as it is (no chat
    template; ``""`` conditions the first token on the model's start-of-text token), or the messages
    and prefill. A target that cannot (a chat-only API) raises ``no_loglikelihood``.
    """

    messages: tuple[tuple[str, str], ...]  # (role, content), the system message first
    max_tokens: int = 1
    temperature: float = 0.0
    seed: int | None = 0
    top_logprobs: int | None = None  # None: no logprobs requested
    prefill: str | None = None
    sample: int = 0
    choices: tuple[str, ...] | None = None
    continuations: tuple[str, ...] | None = None
    text: str | None = None  # a raw prompt, sent without a chat template (log-likelihood requests)

    @property
    def is_loglikelihood(self) -> bool:
        """Whether this request scores its continuations and generates nothing."""
        return self.max_tokens == 0 and bool(self.continuations)

    def canonical(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}  # shallow: asdict's deep copy is slow
        d["messages"] = [{"role": r, "content": c} for r, c in self.messages]
        for optional in ("choices", "continuations", "text"):
            if d[optional] is None:
                del d[optional]  # requests without them keep the keys they always had
        return d

    def key(self, target_id: str, scope: str) -> str:
        """The request key: a finished key is never sent again within the same cache scope."""
        blob = json.dumps({"target": target_id, "scope": scope, **self.canonical()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass
class Reply:
    text: str
    finish_reason: str | None
    endpoint: str  # "chat" or "completions"
    top_logprobs: list[dict[str, float]] | None = None  # one {token: logprob} per generated token
    usage: dict[str, int] | None = None
    fingerprint: str | None = None
    prefill_applied: bool = False
    served_model: str | None = None  # the model name the server reported (an alias, a path …)
    extra: dict[str, Any] = field(default_factory=dict)
    # each requested continuation → its summed token log-probability after the prefill (None: not computed)
    continuation_logprobs: dict[str, float] | None = None
    continuation_tokens: dict[str, int] | None = None  # each continuation's number of tokens, where read


def loglikelihood(
    continuations: tuple[str, ...],
    text: str | None = None,
    messages: tuple[tuple[str, str], ...] = (),
    prefill: str | None = None,
) -> Request:
    """A log-likelihood request: each continuation scored after ``text`` (raw) or the messages and
    prefill (chat template), nothing generated."""
    if len(set(continuations)) != len(continuations):
        raise ValueError(f"continuations must differ: {continuations!r}")
    return Request(messages, max_tokens=0, seed=None, prefill=prefill, continuations=continuations, text=text)


class TargetError(Exception):
    """A failed call. ``kind`` is stored with the response; retryable errors are retried by the engine."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind, self.retryable, self.status, self.retry_after = kind, retryable, status, retry_after


class Target(Protocol):
    """An async model backend. Use as ``async with target: await target.complete(req)``."""

    name: str

    async def __aenter__(self) -> Target: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def complete(self, request: Request) -> Reply: ...

    def describe(self) -> dict[str, Any]:
        """Provenance: provider, model, base URL, server version. Never a key."""
        ...

    @property
    def id(self) -> str:
        """Stable id of the model behind this target (part of every request key)."""
        ...
