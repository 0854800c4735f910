"""Cost you can see: token counts per call, run, probe set and agent node; estimates before a run;
prices; and a budget that stops sending before it would be passed.

Counts come from the ``usage`` each reply carries (stored as JSON in ``responses.usage``: prompt,
completion and, where the server reports ``prompt_tokens_details.cached_tokens``, cached tokens).
Estimates count prompt tokens with the target's own tokenizer where it has one (the embedded model's
GGUF vocabulary; a llama-cpp-python server's ``/extras/tokenize/count``; a vLLM or llama.cpp server's
``/tokenize``), else as characters / 4; completion tokens are bounded by each request's ``max_tokens``.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlite_utils
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from slant.errors import SlantError, SpecError
from slant.files import validate
from slant.targets.base import Request, Target
from slant.targets.openai_compat import render_chatml

if TYPE_CHECKING:
    from slant.spec import Campaign

CHARS_PER_TOKEN = 4.0  # the stated approximation when the target has no tokenizer
SAMPLE = 1000  # prompts counted with a tokenizer; the rest scaled by their characters
PER_MILLION = 1_000_000


class Prices(BaseModel):
    """``prices:`` of a campaign: USD per million tokens."""

    model_config = ConfigDict(extra="forbid")
    prompt: NonNegativeFloat = Field(description="USD per 1M prompt tokens")
    completion: NonNegativeFloat = Field(description="USD per 1M completion tokens")
    cached: NonNegativeFloat | None = Field(
        None, description="USD per 1M cached prompt tokens (default: the prompt price)"
    )


class Budget(BaseModel):
    """``budget:`` of a campaign: sending stops before a call could pass either limit."""

    model_config = ConfigDict(extra="forbid")
    tokens: PositiveInt | None = Field(None, description="prompt + completion tokens of the whole run")
    usd: PositiveFloat | None = Field(None, description="USD of the whole run (needs prices)")

    @model_validator(mode="after")
    def some_limit(self) -> Budget:
        if self.tokens is None and self.usd is None:
            raise ValueError("give tokens, usd or both")
        return self

    def __str__(self) -> str:
        parts = [f"{self.tokens:,} tokens" if self.tokens else "", f"${self.usd:g}" if self.usd else ""]
        return " / ".join(p for p in parts if p)


@dataclass
class Tokens:
    """Token counts of some calls (``calls``: how many carried a usage)."""

    prompt: int = 0
    completion: int = 0
    cached: int = 0  # of the prompt tokens, those the server read from its prompt cache
    calls: int = 0

    @property
    def total(self) -> int:
        return self.prompt + self.completion

    def add(self, usage: dict[str, Any] | None) -> None:
        """Add one reply's usage (as stored: prompt_tokens, completion_tokens, cached_tokens)."""
        if usage:
            self.prompt += usage.get("prompt_tokens") or 0
            self.completion += usage.get("completion_tokens") or 0
            self.cached += usage.get("cached_tokens") or 0
            self.calls += 1

    def usd(self, prices: Prices) -> float:
        cached_price = prices.prompt if prices.cached is None else prices.cached
        fresh = self.prompt - self.cached
        return (fresh * prices.prompt + self.cached * cached_price + self.completion * prices.completion) / (
            PER_MILLION
        )

    def text(self, prices: Prices | None = None) -> str:
        """``1,234 prompt (56 cached) + 78 completion = 1,312 tokens ≈ $0.0004``."""
        cached = f" ({self.cached:,} cached)" if self.cached else ""
        usd = f" ≈ ${self.usd(prices):.4g}" if prices else ""
        return f"{self.prompt:,} prompt{cached} + {self.completion:,} completion = {self.total:,} tokens{usd}"


def usage_of(value: Any) -> dict[str, Any] | None:
    """A stored ``usage`` (JSON text or a dict) as a dict; None when the reply had none."""
    return json.loads(value) if isinstance(value, str) else value


def stored_tokens(db: sqlite_utils.Database, keys: list[str]) -> dict[str, dict[str, Any]]:
    """The stored usage of the successful responses among these keys, by key."""
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        sql = (
            f"select key, usage from responses where error_kind is null and usage is not null "
            f"and key in ({','.join('?' * len(chunk))})"
        )
        out.update((k, usage_of(u) or {}) for k, u in db.execute(sql, chunk).fetchall())
    return out


def scope_tokens(db: sqlite_utils.Database, prefix: str) -> dict[str, Tokens]:
    """Tokens per cache scope beginning with ``prefix`` (an agent's nodes: ``preference:<node>``)."""
    out: dict[str, Tokens] = {}
    sql = "select scope, usage from responses where scope like ? and error_kind is null and usage is not null"
    for scope, usage in db.execute(sql, [prefix.replace("%", "") + "%"]).fetchall():
        out.setdefault(scope, Tokens()).add(usage_of(usage))
    return out


# --- estimates --------------------------------------------------------------------------------


def prompt_text(request: Request) -> str:
    """What a request's prompt is counted as: its messages written out in ChatML with the prefill (the
    embedded model's template; another chat template adds or drops a few tokens per message)."""
    return render_chatml(request.messages, request.prefill)


def count_tokens(target: Target, texts: list[str]) -> tuple[list[int] | None, str]:
    """Token counts of texts by the target's own tokenizer, and its name; (None, why) when it has none
    that can be reached without a model call."""
    from slant.targets.local import LocalTarget
    from slant.targets.openai_compat import OpenAICompatTarget, is_hosted
    from slant.targets.replicas import ReplicaTarget

    if isinstance(target, ReplicaTarget):
        target = target.replicas[0]
    if isinstance(target, LocalTarget):
        counts = _gguf_counts(texts)
        return (
            (counts, "the embedded model's tokenizer") if counts else (None, "llama-cpp-python did not run")
        )
    if isinstance(target, OpenAICompatTarget) and target.base_url and not is_hosted(target.base_url):
        return asyncio.run(_served_counts(target, texts))
    return None, "the target has no tokenizer slant can reach"


def _gguf_counts(texts: list[str]) -> list[int] | None:
    """Counts by the embedded model's GGUF vocabulary, in a child process (as the server tokenizes a
    prompt: special tokens parsed); None when llama-cpp-python cannot run here."""
    from slant.targets.local import find_gguf

    code = (
        "import json, sys, llama_cpp\n"
        "m = llama_cpp.Llama(model_path=sys.argv[1], vocab_only=True, verbose=False)\n"
        "print(json.dumps([len(m.tokenize(t.encode(), special=True)) for t in json.load(sys.stdin)]))"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, str(find_gguf())],
            input=json.dumps(texts),
            capture_output=True,
            text=True,
            timeout=120,
        )
        return json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, ValueError, subprocess.SubprocessError, SlantError):
        return None


# Served tokenizers, from the server's root: llama-cpp-python takes {"input"} and answers {"count"};
# vLLM takes {"prompt"} and answers {"count", "tokens"}; llama.cpp's server takes {"content"} and
# answers {"tokens"}. One body carries all three fields.
ENDPOINTS = [("/extras/tokenize/count", "llama-cpp-python"), ("/tokenize", "vLLM or llama.cpp")]


async def _served_counts(target: Any, texts: list[str]) -> tuple[list[int] | None, str]:
    """Counts by the server's tokenize endpoint (the first of :data:`ENDPOINTS` that answers)."""
    import httpx

    root = str(target.base_url).rstrip("/").removesuffix("/v1")
    headers = {"Authorization": f"Bearer {target._api_key}"}
    async with httpx.AsyncClient(base_url=root, headers=headers, timeout=10.0) as client:
        gate = asyncio.Semaphore(8)  # tokenize calls in flight

        async def one(path: str, text: str) -> int | None:
            async with gate:
                body = {"model": target.model, "input": text, "prompt": text, "content": text}
                return await _count(client, path, body)

        for path, name in ENDPOINTS:
            if (first := await one(path, texts[0])) is None:
                continue
            counts = [first, *await asyncio.gather(*(one(path, t) for t in texts[1:]))]
            if all(c is not None for c in counts):
                return [int(c or 0) for c in counts], f"the server's tokenizer ({path}, {name})"
    return None, "the server has no tokenize endpoint"


async def _count(client: Any, path: str, body: dict[str, Any]) -> int | None:
    """One text's token count from a tokenize endpoint, or None (no such endpoint, or an odd reply)."""
    import httpx

    try:
        r = await client.post(path, json=body)
        data = r.json() if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    if isinstance(data, dict) and isinstance(data.get("count"), int):
        return data["count"]
    if isinstance(data, dict) and isinstance(data.get("tokens"), list):
        return len(data["tokens"])
    return None


# --- budgets ----------------------------------------------------------------------------------


class Meter:
    """A run's spending against its budget: what stored replies cost, what calls in flight may cost.

    Before each call the engine asks :meth:`admit`: the call's estimate (prompt characters at the
    tokens-per-character ratio of the replies so far, characters / 4 before the first; completion at
    most ``max_tokens``) is reserved if spent + reserved + it stays within the budget; else sending
    stops for good (``stopped``), so no later call passes the budget either. :meth:`settle` replaces a
    reservation with the reply's real usage.
    """

    def __init__(self, budget: Budget, prices: Prices | None, spent: Tokens) -> None:
        self.budget, self.prices, self.spent = budget, prices, spent
        self._held: dict[str, Tokens] = {}  # the estimates of calls in flight, by request key
        self.stopped: str | None = None  # why sending stopped: the call that would have passed the budget
        self._chars, self._tokens = 0, 0  # prompt characters and tokens of replies with a usage

    def _estimate(self, request: Request) -> Tokens:
        ratio = self._tokens / self._chars if self._chars else 1 / CHARS_PER_TOKEN
        return Tokens(math.ceil(len(prompt_text(request)) * ratio), request.max_tokens, 0, 1)

    def _over(self, t: Tokens) -> bool:
        b = self.budget
        return (b.tokens is not None and t.total > b.tokens) or (
            b.usd is not None and self.prices is not None and t.usd(self.prices) > b.usd
        )

    def admit(self, key: str, request: Request) -> bool:
        """Reserve the next call's estimate, or refuse it (and every later call) when it could pass."""
        if self.stopped:
            return False
        est = self._estimate(request)
        reserved = list(self._held.values())
        after = Tokens(
            self.spent.prompt + est.prompt + sum(t.prompt for t in reserved),
            self.spent.completion + est.completion + sum(t.completion for t in reserved),
            self.spent.cached,
        )
        if self._over(after):
            self.stopped = f"the next call (≈ {est.total:,} tokens) could pass it"
            return False
        self._held[key] = est
        return True

    def settle(self, key: str, request: Request, usage: dict[str, Any] | None) -> None:
        """A sent call ended: its reservation becomes its real usage (none for a failed call)."""
        self._held.pop(key, None)
        if usage:
            self.spent.add(usage)
            self._chars += len(prompt_text(request))
            self._tokens += usage.get("prompt_tokens") or 0


# --- a campaign's run -------------------------------------------------------------------------


def prices_of(value: Prices | dict[str, float] | None) -> Prices | None:
    """Prices given to ``audit`` (the CLI's ``--price-*``), validated as a campaign's ``prices:``."""
    if value is None or isinstance(value, Prices):
        return value
    return validate(Prices, value, "prices")


def check_budget(c: Campaign) -> None:
    """A USD budget needs prices: refused (SpecError) before any model call when it has none."""
    if c.budget is not None and c.budget.usd is not None and c.prices is None:
        problem = "a USD budget needs prices (campaign field prices, or --price-prompt/--price-completion)"
        raise SpecError(str(c.path or c.name), "budget.usd", problem)


def as_dict(t: Tokens, prices: Prices | None) -> dict[str, Any]:
    """Tokens as stored in ``runs.tokens``: counts, total, and USD where prices are known."""
    return {**asdict(t), "total": t.total, **({"usd": t.usd(prices)} if prices else {})}


def dry_run_estimate(
    planned: list[Any], done: np.ndarray, target: Target, prices: Prices | None
) -> dict[str, Any]:
    """The tokens (and cost) of the calls a run would send, per probe set and in all (``planned``:
    slant.plan's PlannedSets, typed Any here: plan imports the engine, which imports this module;
    ``done``: the sorted key codes, :func:`slant.plan.key_codes`, of the calls already answered).

    Prompt tokens are counted with the target's tokenizer where it has one (:func:`count_tokens`, once
    for all probe sets): every prompt of a set up to :data:`SAMPLE`, else that many spread evenly
    and the rest scaled by characters; without one, characters / 4. Completion tokens: at most each
    request's ``max_tokens``. The requests are read a chunk at a time: only the counted prompts are
    held in memory at once."""
    todo = {ps.spec.name: _Todo.of(ps, done) for ps in planned}
    texts = [t for sets in todo.values() for t in sets.sample]
    counted, source = count_tokens(target, texts) if texts else (None, "")
    by_set, total, at = {}, Tokens(), 0
    for name, sets in todo.items():
        chars, sample = sets.chars, sets.sample
        mine, at = (counted or [])[at : at + len(sample)], at + len(sample)
        if counted is None:
            prompt = round(chars / CHARS_PER_TOKEN)
        else:
            prompt = round(sum(mine) / max(1, sum(len(t) for t in sample)) * chars)
            prompt = sum(mine) if len(sample) == sets.calls else prompt
        t = Tokens(prompt, sets.completion, 0, sets.calls)
        by_set[name] = as_dict(t, prices)
        total = Tokens(total.prompt + t.prompt, total.completion + t.completion, 0, total.calls + t.calls)
    if counted is None:
        method = (
            f"approximated as characters / {CHARS_PER_TOKEN:g} ({source})" if texts else "nothing to send"
        )
    elif len(texts) == total.calls:
        method = f"counted with {source}"
    else:
        method = f"counted with {source} for {len(texts):,} of {total.calls:,} prompts"
        method += ", the rest scaled by characters"
    return {
        "by_set": by_set,
        "total": as_dict(total, prices),
        "method": method,
        "assumes": "completion tokens at most each call's max_tokens; no cached prompt tokens; "
        "chained follow-up calls and echo calls for continuations not included",
    }


@dataclass
class _Todo:
    """A probe set's requests without a stored answer (a request two probes ask: twice): how many,
    their prompts' characters, their ``max_tokens`` summed, and the prompts a tokenizer counts (every
    :data:`SAMPLE`-th share of them, in order)."""

    calls: int = 0
    chars: int = 0
    completion: int = 0
    sample: list[str] = field(default_factory=list)

    @staticmethod
    def of(ps: Any, done: np.ndarray) -> _Todo:
        todo = _Todo()
        for r in _unanswered(ps, done):  # counted first; the sample taken while at most SAMPLE
            todo.calls, todo.completion = todo.calls + 1, todo.completion + r.max_tokens
            text = prompt_text(r)
            todo.chars += len(text)
            if todo.calls <= SAMPLE:
                todo.sample.append(text)
        if todo.calls > SAMPLE:  # read again for prompts spread evenly: main's rs[::step]
            step = math.ceil(todo.calls / SAMPLE)
            todo.sample = [prompt_text(r) for r in islice(_unanswered(ps, done), 0, None, step)]
        return todo


def _unanswered(ps: Any, done: np.ndarray) -> Iterator[Request]:
    """The requests of a planned set whose keys' codes are not in ``done``, a chunk at a time."""
    for chunk in ps.chunks():
        keyed = [kr for _, pairs in chunk for kr in pairs]
        codes = np.fromiter((int(k[:16], 16) for k, _ in keyed), dtype=np.uint64, count=len(keyed))
        yield from (r for (_, r), answered in zip(keyed, np.isin(codes, done), strict=True) if not answered)


def meter_for(db: sqlite_utils.Database, c: Campaign, keys: Iterable[str]) -> Meter | None:
    """The budget meter of a run: what its calls already answered cost count as spent (``keys``: the
    run's distinct request keys; read 500 at a time)."""
    if c.budget is None:
        return None
    spent, it = Tokens(), iter(keys)
    while chunk := list(islice(it, 500)):
        for usage in stored_tokens(db, chunk).values():
            spent.add(usage)
    return Meter(c.budget, c.prices, spent)


def budget_message(c: Campaign, meter: Meter | None, unsent: int) -> str | None:
    """One line for a run that stopped at its budget, or None."""
    if meter is None or not meter.stopped or not unsent:
        return None
    where = str(c.path or c.name)
    return (
        f"budget {c.budget} reached: {meter.stopped}; spent {meter.spent.text(c.prices)}; "
        f"{unsent:,} call(s) not sent (not errors); raise budget in {where} and rerun to resume"
    )


def run_tokens(
    db: sqlite_utils.Database, planned: list[Any], asked: list[Any], c: Campaign, every: np.ndarray
) -> dict[str, Any]:
    """A run's tokens per probe set and in all (every call it scored, whichever run sent it; a call
    two probes ask, once), and what adaptive stopping and logprob reads saved (see :func:`savings`).
    The calls are read a chunk at a time, each set's distinct calls and the run's marked off by their
    key codes (``PlannedSet.all_codes``; ``every``: those of all of ``asked``, sorted and distinct)."""
    codes = [ps.all_codes() for ps in asked]
    in_all, total = np.zeros(len(every), dtype=bool), Tokens()
    by_set: dict[str, Tokens] = {}
    for ps, mine in zip(asked, codes, strict=True):
        in_set, t = np.zeros(len(mine), dtype=bool), by_set.setdefault(ps.spec.name, Tokens())
        for chunk in ps.chunks():
            keys = [k for _, keyed in chunk for k, _ in keyed]
            at = np.fromiter((int(k[:16], 16) for k in keys), dtype=np.uint64, count=len(keys))
            here, anew = _first_seen(in_set, mine, at), _first_seen(in_all, every, at)
            usages = stored_tokens(db, [k for k, a, b in zip(keys, here, anew, strict=True) if a or b])
            for key, a, b in zip(keys, here, anew, strict=True):
                t.add(usages.get(key) if a else None)
                total.add(usages.get(key) if b else None)
    out: dict[str, Any] = {
        "by_set": {name: as_dict(t, c.prices) for name, t in by_set.items()},
        "total": as_dict(total, c.prices),
    }
    if saved := savings(planned, asked, by_set, c.prices):
        out["saved"] = saved
    return out


def _first_seen(seen: np.ndarray, known: np.ndarray, codes: np.ndarray) -> list[bool]:
    """Per code, whether it is met here for the first time (``seen``: a flag per code of ``known``,
    sorted, which holds every one of ``codes``), marking it seen."""
    first = []
    for i in np.searchsorted(known, codes).tolist():
        first.append(not seen[i])
        seen[i] = True
    return first


SAMPLED_N, SAMPLED_MAX_TOKENS = 10, 8  # decision's sample scoring defaults: the sampled alternative


def _n_keys(ps: Any) -> int:
    """A planned set's number of requests (a key asked by two probes: twice), chained calls included."""
    return sum(len(keyed) for _, keyed in ps.items())


def savings(
    planned: list[Any], asked: list[Any], by_set: dict[str, Tokens], prices: Prices | None
) -> list[dict[str, Any]]:
    """Cost saved, from the tokens the run's calls really took: calls adaptive stopping did not make
    (each at the mean tokens of its probe set's calls), and per logprob-scored probe set, the tokens of
    reading the same answers by sampling instead."""
    out = []
    asked_keys = {ps.spec.name: _n_keys(ps) for ps in asked}
    skipped = {ps.spec.name: _n_keys(ps) - asked_keys.get(ps.spec.name, 0) for ps in planned}
    n_skipped = sum(skipped.values())
    if n_skipped:
        est = Tokens(calls=n_skipped)
        for name, n in skipped.items():
            t = by_set.get(name, Tokens())
            if n and t.calls:
                est.prompt += round(n * t.prompt / t.calls)
                est.completion += round(n * t.completion / t.calls)
        out.append(
            {
                "kind": "adaptive",
                **as_dict(est, prices),
                "calls": n_skipped,
                "text": f"adaptive stopping skipped {n_skipped:,} calls ≈ {est.total:,} tokens"
                + (f" ≈ ${est.usd(prices):.4g}" if prices else "")
                + " (at the mean tokens per call of each probe set's calls)",
            }
        )
    for ps in asked:
        t = by_set.get(ps.spec.name, Tokens())
        if getattr(ps.spec, "scoring", None) not in ("logprobs", "topk") or not t.calls:
            continue
        n = SAMPLED_N * t.calls
        sampled = Tokens(SAMPLED_N * t.prompt, n * SAMPLED_MAX_TOKENS, 0, n)
        out.append(
            {
                "kind": "logprobs",
                "probe_set": ps.spec.name,
                "calls": t.calls,
                "read": as_dict(t, prices),
                "sampled": as_dict(sampled, prices),
                "text": f"{ps.spec.name}: logprob reads took {t.completion / t.calls:.2g} completion "
                f"token(s) per call, {t.total:,} tokens; sampling the answers instead ({SAMPLED_N} replies "
                f"of up to {SAMPLED_MAX_TOKENS} tokens per prompt, as decision's sample scoring) would take "
                f"≈ {sampled.total:,} tokens ({sampled.total / max(1, t.total):.0f}×)"
                + (f", ≈ ${sampled.usd(prices):.4g} vs ${t.usd(prices):.4g}" if prices else "")
                + "; assumes no prompt caching across samples",
            }
        )
    return out


# --- words ------------------------------------------------------------------------------------


def _text(d: dict[str, Any], at_most: bool = False) -> str:
    """Stored tokens (see :func:`as_dict`) as words: ``1,234 prompt (56 cached) + 78 completion = …``."""
    cached = f" ({d['cached']:,} cached)" if d.get("cached") else ""
    bound = "≤ " if at_most else ""
    usd = f" ≈ ${d['usd']:.4g}" if d.get("usd") is not None else ""
    return (
        f"{d['prompt']:,} prompt{cached} + {bound}{d['completion']:,} completion = "
        f"{bound}{d['total']:,} tokens{usd}"
    )


def estimate_lines(est: dict[str, Any]) -> list[str]:
    """A dry run's estimate (:func:`dry_run_estimate`) as lines: per probe set, in all, and how."""
    if not est:
        return []
    sets = [(name, t) for name, t in est["by_set"].items() if t["calls"]]
    lines = [f"  {name}: estimated {_text(t, True)}" for name, t in sets] if len(sets) > 1 else []
    lines.append(f"estimated tokens of {est['total']['calls']:,} calls: {_text(est['total'], True)}")
    lines.append(f"prompt tokens {est['method']}; assumes {est['assumes']}")
    return lines


def token_lines(tokens: dict[str, Any]) -> list[str]:
    """A run's tokens (:func:`run_tokens`) as lines: in all, per probe set, cost saved, a budget stop."""
    if not tokens.get("total"):
        return []
    total = tokens["total"]
    lines = [f"tokens: {_text(total)} over {total['calls']:,} calls with usage"]
    if len(tokens["by_set"]) > 1:
        lines += [f"  {name}: {_text(t)}" for name, t in tokens["by_set"].items()]
    lines += [s["text"] for s in tokens.get("saved", [])]
    if tokens.get("stopped"):
        lines.append(tokens["stopped"])
    return lines
