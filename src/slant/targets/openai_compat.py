"""Any OpenAI-compatible server: hosted OpenAI, a vLLM server, a llama.cpp server, or another URL.

Calls are plain JSON POSTs through httpx2 (the HTTP client the openai package is built on): the SDK's
request building and response models cost more client CPU per call than the whole rest of a run
(benchmarks/scale.py), and a reply is read here field by field anyway. The openai package drives only
the Batch API's file uploads (:meth:`OpenAICompatTarget.batch_client`).
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import httpx2

from slant.targets.base import Reply, Request, TargetError

if TYPE_CHECKING:
    import openai

PrefillMode = Literal["chatml", "continue", "none"]
HOSTED_URL = "https://api.openai.com/v1"  # where the client sends calls when no base URL is given
HOSTED_NO_ECHO = "the hosted OpenAI API gives no prompt log-probabilities (chat models only)"
NO_ECHO = "the server echoed no prompt log-probabilities (completions with echo and logprobs)"
# headers the hosted API reads from these variables, as the openai client sends them
HOSTED_HEADERS = {"OpenAI-Organization": "OPENAI_ORG_ID", "OpenAI-Project": "OPENAI_PROJECT_ID"}
VOCABULARY = 1 << 20  # top logprobs asked for to read a whole distribution (servers cap it)


def is_hosted(base_url: str | None) -> bool:
    """Whether calls to this base URL go to the hosted OpenAI API."""
    return base_url is None or urlsplit(base_url.strip()).hostname == "api.openai.com"


def headers(api_key: str, base_url: str | None) -> dict[str, str]:
    """The headers of every call: the key, and for the hosted API the organization and project in
    OPENAI_ORG_ID / OPENAI_PROJECT_ID where set (as the openai client sends them; never to other URLs)."""
    out = {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT}
    if is_hosted(base_url):
        for header, var in HOSTED_HEADERS.items():
            if value := os.environ.get(var):
                out[header] = value
    return out


def render_chatml(messages: tuple[tuple[str, str], ...], prefill: str | None) -> str:
    """Write out a ChatML conversation (the embedded model's template) ending in an open assistant turn."""
    turns = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in messages)
    return f"{turns}<|im_start|>assistant\n{prefill or ''}"


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class OpenAICompatTarget:
    """A model behind an OpenAI-compatible HTTP API.

    Args:
        name: the user-facing target name, e.g. ``openai/gpt-4o-mini``.
        model: the model name sent in requests.
        base_url: API root (``…/v1``); None for the client's default (hosted OpenAI).
        api_key: sent only to ``base_url``; never stored or printed.
        prefill: how an assistant prefill is sent: ``chatml`` (raw completions with the ChatML template
            written out), ``continue`` (vLLM's ``continue_final_message``), ``none`` (ignored, recorded).
        timeout: seconds per request.
    """

    def __init__(
        self,
        name: str,
        model: str,
        base_url: str | None,
        api_key: str | None,
        prefill: PrefillMode = "none",
        timeout: float = 60.0,
    ) -> None:
        self.name, self.model, self.base_url, self.prefill = name, model, base_url, prefill
        self._api_key = api_key or "EMPTY"
        # the model's start-of-text token, written before every raw-text prompt where it is set
        self.bos: str | None = None
        self._first_token: dict[str, float] | None = None  # log P(token | bos), where read
        self.timeout = timeout
        self._client: httpx2.AsyncClient | None = None
        self.server: dict[str, Any] = {}

    @property
    def id(self) -> str:
        return f"{self.name}@{self.base_url or 'default'}"

    def describe(self) -> dict[str, Any]:
        """Where calls really go: ``openai/…`` with another base URL is recorded as ``openai-compat``."""
        provider = self.name.split("/", 1)[0]
        if provider == "openai" and not is_hosted(self.base_url):
            provider = "openai-compat"
        return {
            "id": self.id,
            "provider": provider,
            "model": self.model,
            "base_url": self.base_url or HOSTED_URL,
            "prefill_mode": self.prefill,
            "client": f"httpx2 {importlib.metadata.version('httpx2')}",
            "server": self.server,
        }

    async def __aenter__(self) -> OpenAICompatTarget:
        # The engine owns retries, so the client never retries behind its back; and it does not follow
        # redirects: answers from another server would be stored as the configured target's.
        self._client = httpx2.AsyncClient(
            base_url=(self.base_url or HOSTED_URL).rstrip("/"),
            headers=headers(self._api_key, self.base_url),
            timeout=self.timeout,
            follow_redirects=False,
            limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=100),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def batch_client(self) -> openai.OpenAI:
        """A client of the same server and key for its files and batches endpoints (slant.batch); no
        retries of its own: a crashed submit is resumed from the database."""
        import openai

        return openai.OpenAI(
            base_url=self.base_url, api_key=self._api_key, max_retries=0, timeout=self.timeout
        )

    async def complete(self, request: Request) -> Reply:
        try:
            return await self._complete(request)
        except TargetError as e:
            key = self._api_key
            if len(key) < 8 or key not in str(e):
                raise
            # a server that echoes the key in its error message: the message is stored and printed
            message = str(e).replace(key, "[API key]")
            raise TargetError(
                e.kind, message, retryable=e.retryable, status=e.status, retry_after=e.retry_after
            ) from None

    async def _complete(self, request: Request) -> Reply:
        assert self._client is not None, "use the target as an async context manager"
        try:
            if request.is_loglikelihood:
                return await self._loglikelihood(request)
            endpoint, body = self.body(request)
            reply = self.parse(request, endpoint, await self._post(endpoint, body))
            if endpoint == "completions" and request.continuations:
                spent = dict(reply.usage or {})
                reply.continuation_logprobs = await self._continuations(request, reply.top_logprobs, spent)
                reply.usage = spent or None  # the echo calls' tokens too
            return reply
        except MALFORMED as e:
            raise malformed(e) from e

    async def _post(self, endpoint: Endpoint, body: dict[str, Any]) -> dict[str, Any]:
        """One call with a body built by :meth:`body` or :func:`echo_body`, sent as it is; the 200 reply's
        JSON object. A timeout, a lost connection or an error status raises its TargetError."""
        assert self._client is not None, "use the target as an async context manager"
        try:
            r = await self._client.post(PATHS[endpoint], content=json.dumps(body), headers=JSON)
        except httpx2.TimeoutException as e:
            raise TargetError("timeout", f"the request timed out ({type(e).__name__})", retryable=True) from e
        except httpx2.TransportError as e:
            raise TargetError(
                "connection", f"connection error: {type(e).__name__}: {e}", retryable=True
            ) from e
        if not 200 <= r.status_code < 300:
            message = f"Error code: {r.status_code} - {r.text[:2000]}"
            raise status_error(r.status_code, message, _retry_after(r.headers))
        try:
            data = json.loads(r.content)
        except ValueError:  # a gateway's HTML page
            raise TargetError(
                "bad_response", f"the reply is not JSON: {r.text[:80]!r}", retryable=True
            ) from None
        return as_reply(data)

    def body(self, request: Request) -> tuple[Endpoint, dict[str, Any]]:
        """The endpoint and JSON body of a request's call (the one call, or the first of a completions
        request whose continuations need echo calls: :func:`echo_body`); what a batch file holds too."""
        if request.prefill and self.prefill == "chatml":
            return "completions", self._completions_body(request)
        return "chat", self._chat_body(request)

    def _constrained(self, request: Request) -> bool:
        """Whether a chat call sends the request's choices as vLLM's ``structured_outputs``."""
        return bool(request.choices) and self.name.startswith("vllm/")

    def _chat_body(self, request: Request) -> dict[str, Any]:
        messages: list[dict[str, str]] = [{"role": r, "content": c} for r, c in request.messages]
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "seed": request.seed,
        }
        if request.top_logprobs:
            body |= {"logprobs": True, "top_logprobs": request.top_logprobs}
        if request.prefill and self.prefill == "continue":
            messages.append({"role": "assistant", "content": request.prefill})
            body |= {"continue_final_message": True, "add_generation_prompt": False}
        if self._constrained(request):
            body["structured_outputs"] = {"choice": list(request.choices or ())}
        return body

    def _completions_body(self, request: Request) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": render_chatml(request.messages, request.prefill),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "seed": request.seed,
            "stop": ["<|im_end|>"],
        }
        if request.top_logprobs:
            body["logprobs"] = request.top_logprobs
        if request.choices:  # a llama.cpp server takes a GBNF grammar
            alternatives = " | ".join(json.dumps(c) for c in request.choices)
            body["grammar"] = f"root ::= {alternatives}"
        return body

    def parse(self, request: Request, endpoint: Endpoint, r: dict[str, Any]) -> Reply:
        """The Reply in a 200 answer to :meth:`body` (a chat completion or completion JSON object, see
        :func:`as_reply`), without the continuations' log-probabilities, which may need echo calls.
        Raises TargetError (a violated constraint, bad logprobs), or one of MALFORMED for a broken body."""
        choice = r["choices"][0]
        lp = choice.get("logprobs")
        top = None
        if endpoint == "chat":
            if request.top_logprobs and lp and lp.get("content"):
                top = checked_logprobs(
                    [
                        {t["token"]: t["logprob"] for t in pos.get("top_logprobs") or ()}
                        for pos in lp["content"]
                    ]
                )
            text = choice["message"].get("content") or ""
            if self._constrained(request):
                check_choice(text, request.choices or ())
            applied = bool(request.prefill) and self.prefill == "continue"
        else:
            text, applied = choice["text"] or "", True
            if request.choices:
                check_choice(text, request.choices)
            if request.top_logprobs and lp and lp.get("top_logprobs"):
                top = checked_logprobs([dict(pos or {}) for pos in lp["top_logprobs"]])
        return Reply(
            text=text,
            finish_reason=choice.get("finish_reason"),
            endpoint=endpoint,
            top_logprobs=top,
            usage=_usage(r.get("usage")),
            fingerprint=r.get("system_fingerprint"),
            prefill_applied=applied,
            served_model=_served_model(r),
        )

    async def _continuations(
        self, request: Request, top: list[dict[str, float]] | None, spent: dict[str, int]
    ) -> dict[str, float] | None:
        """Each continuation's log-probability after the prefill: from the first generated token's top
        logprobs where they list them all (:func:`continuations_in_top`), else from one echo call each
        (:func:`continuation_prompt`, :func:`echo_tokens`); None when the server echoes none, or a
        continuation does not start on a token boundary. Echo calls add their tokens to ``spent``."""
        if (listed := continuations_in_top(request, top)) is not None:
            return listed
        out = {}
        for continuation in request.continuations or ():
            read = continuation_logprob(
                *(await self._echo(continuation_prompt(request, continuation), spent)), continuation
            )
            if read is None:
                return None
            out[continuation] = read[0]
        return out

    async def _loglikelihood(self, request: Request) -> Reply:
        """A log-likelihood request: one echo call per continuation, written after the prompt."""
        if is_hosted(self.base_url):
            raise TargetError("no_loglikelihood", HOSTED_NO_ECHO, retryable=False)
        if request.text is None:
            context = render_chatml(request.messages, request.prefill)
        else:
            context = (self.bos or "") + request.text
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        spent: dict[str, int] = {}
        for continuation in request.continuations or ():
            tokens, logprobs = await self._echo(context + continuation, spent)
            if not tokens:
                raise TargetError("no_loglikelihood", NO_ECHO, retryable=False)
            if self.bos and request.text == "" and logprobs[0] is None and "".join(tokens) == continuation:
                # llama-cpp-python drops the start token from the echo and nulls the first logprob after it
                logprobs[0] = (await self._after_bos()).get(tokens[0])
            read = continuation_logprob(tokens, logprobs, continuation)
            if read is None:
                raise TargetError(
                    "no_loglikelihood",
                    f"no log-likelihood for {continuation[:40]!r}: it does not start on a token boundary "
                    "after the prompt, or the server gave its first token no log-probability (an empty "
                    "prompt on a server that adds no start-of-text token)",
                    retryable=False,
                )
            sums[continuation], counts[continuation] = read
        return Reply(
            text="",
            finish_reason="loglikelihood",
            endpoint="completions",
            prefill_applied=request.text is None,
            continuation_logprobs=sums,
            continuation_tokens=counts,
            usage=spent or None,
        )

    async def _after_bos(self) -> dict[str, float]:
        """log P(first token | the start token) for the whole vocabulary (read once per target)."""
        if self._first_token is None:
            body = {"model": self.model, "prompt": self.bos, "max_tokens": 1, "temperature": 0.0}
            r = await self._post("completions", body | {"logprobs": VOCABULARY})
            lp = r["choices"][0].get("logprobs")
            first = lp.get("top_logprobs") if lp else None
            top = checked_logprobs([dict(first[0] or {})]) if first else None
            self._first_token = top[0] if top else {}
        return self._first_token

    async def _echo(self, prompt: str, spent: dict[str, int]) -> tuple[list[str], list[float | None]]:
        """The prompt's tokens and their log-probabilities as the server echoes them (one greedy token is
        generated and left out); empty lists when the server echoes none. The call's tokens are added to
        ``spent``."""
        r = await self._post("completions", echo_body(self.model, prompt))
        add_usage(spent, r)
        return echo_tokens(prompt, r)


Endpoint = Literal["chat", "completions"]
PATHS: dict[Endpoint, str] = {"chat": "/chat/completions", "completions": "/completions"}  # under …/v1
JSON = {"Content-Type": "application/json"}
USER_AGENT = f"slant/{importlib.metadata.version('slant')}"
# what a broken 200 body raises while it is read ("message": null, a JSON array for a body …)
MALFORMED = (AttributeError, KeyError, IndexError, TypeError, ValueError)


def malformed(e: BaseException) -> TargetError:
    """A reply body that could not be read (one of MALFORMED) as the error stored for it."""
    return TargetError("bad_response", f"{type(e).__name__}: {e}", retryable=True)


def status_error(code: int, message: str, retry_after: float | None = None) -> TargetError:
    """An HTTP error status as the error stored for the call (429: ``rate_limited``)."""
    if code == 429:
        return TargetError("rate_limited", message, retryable=True, status=429, retry_after=retry_after)
    retryable = code in (408, 409) or code >= 500
    return TargetError(f"http_{code}", message, retryable=retryable, status=code, retry_after=retry_after)


def as_reply(data: Any) -> dict[str, Any]:
    """A 200 reply's JSON body (online, or a batch output line's) as the object
    :meth:`OpenAICompatTarget.parse` reads: a missing or odd field shows up when it is read (one of
    MALFORMED). A body that is no JSON object (a JSON array, a string) is a ``bad_response`` error."""
    if not isinstance(data, dict):
        raise TargetError(
            "bad_response", f"the reply is not a JSON object: {str(data)[:80]!r}", retryable=True
        )
    return data


def continuations_in_top(request: Request, top: list[dict[str, float]] | None) -> dict[str, float] | None:
    """The continuations' log-probabilities when the first generated token's top logprobs list every
    continuation as a whole token: the same numbers (log P(that token | the prefill)) as echo calls, so
    none is sent. None otherwise."""
    if top and all(c in top[0] for c in request.continuations or ()):
        return {c: top[0][c] for c in request.continuations or ()}
    return None


def continuation_prompt(request: Request, continuation: str) -> str:
    """The prompt whose echo scores ``continuation`` after a request's prefill (ChatML written out)."""
    return render_chatml(request.messages, (request.prefill or "") + continuation)


def echo_body(model: str, prompt: str) -> dict[str, Any]:
    """The completions call that echoes ``prompt`` with its tokens' logprobs (llama-cpp-python, vLLM)."""
    return {
        "model": model,
        "prompt": prompt,
        "max_tokens": 1,
        "temperature": 0.0,
        "logprobs": 1,
        "echo": True,
    }


def echo_tokens(prompt: str, r: dict[str, Any]) -> tuple[list[str], list[float | None]]:
    """The prompt's tokens and their log-probabilities in the answer (a Completion) to
    :func:`echo_body` (the one generated token left out); empty lists when the server echoes none."""
    choice = r["choices"][0]
    text, lp = choice["text"] or "", choice.get("logprobs")
    if not (lp and lp.get("tokens") and lp.get("token_logprobs") and text.startswith(prompt)):
        return [], []  # the server ignored echo: no prompt logprobs
    return prompt_part(list(lp["tokens"]), list(lp["token_logprobs"]), text[len(prompt) :])


def prompt_part(
    tokens: list[str], logprobs: list[float | None], generated: str
) -> tuple[list[str], list[float | None]]:
    """The echoed tokens without the ``generated`` text after the prompt: vLLM and OpenAI list it,
    llama-cpp-python does not; a generated end-of-text token shows as an empty string."""
    k, tail = len(tokens), ""
    while k and len(tail) < len(generated):
        k -= 1
        tail = tokens[k] + tail
    if not generated or tail != generated:
        k = len(tokens)
    while k and tokens[k - 1] == "":
        k -= 1
    return tokens[:k], logprobs[:k]


def continuation_logprob(
    tokens: list[str], logprobs: list[float | None], continuation: str
) -> tuple[float, int] | None:
    """The summed log-probability of the last prompt tokens, which must spell ``continuation`` exactly,
    and their number (None when a token straddles the prefill and the continuation, or a logprob is
    missing); a logprob that is not a finite number ≤ 0 is a ``bad_logprobs`` error."""
    text, total, n = "", 0.0, 0
    while len(text) < len(continuation) and n < len(tokens):
        n += 1
        lp = logprobs[-n]
        if lp is None:
            return None
        checked_logprobs([{tokens[-n]: lp}])
        text, total = tokens[-n] + text, total + min(float(lp), 0.0)
    return (total, n) if text == continuation else None


def checked_logprobs(positions: list[dict[str, Any]]) -> list[dict[str, float]] | None:
    """Top logprobs per generated token as finite numbers ≤ 0; none at all (null, [], {}) is None, which
    scoring calls ``no_logprobs``. Anything else (Infinity, a string, a positive log-probability) is a
    ``bad_logprobs`` error, never a probability: it cannot be scored."""
    out = []
    for pos in positions:
        for token, lp in pos.items():
            if isinstance(lp, bool) or not isinstance(lp, int | float) or not math.isfinite(lp) or lp > 1e-6:
                raise TargetError(
                    "bad_logprobs",
                    f"the server gave logprob {lp!r} for token {token!r}: not a finite number ≤ 0",
                    retryable=False,
                )
        out.append({str(t): min(float(lp), 0.0) for t, lp in pos.items()})
    return out if out and out[0] else None


def check_choice(text: str, choices: tuple[str, ...]) -> None:
    """A server that ignores an unknown constraint field answers 200 with free text: an error, not data."""
    if text.strip() not in choices:
        raise TargetError(
            "constraint_ignored",
            f"the reply {text[:40]!r} is not one of {list(choices)}: the server did not apply the constraint",
            retryable=False,
        )


def _served_model(r: dict[str, Any]) -> str | None:
    """The model name in a reply (the client does not check it: a server may send none, or a number)."""
    name = r.get("model")
    return str(name) if name not in (None, "") else None


def add_usage(spent: dict[str, int], r: dict[str, Any]) -> None:
    """Add a reply's token counts to ``spent`` (a reply made of several calls counts them all)."""
    for k, v in (_usage(r.get("usage")) or {}).items():
        spent[k] = spent.get(k, 0) + v


def _usage(usage: Any) -> dict[str, int] | None:
    """A reply's token counts; ``cached_tokens`` where the server reports them
    (``usage.prompt_tokens_details.cached_tokens``: prompt tokens read from its prompt cache)."""
    if usage is None:
        return None
    out = {"prompt_tokens": usage["prompt_tokens"], "completion_tokens": usage["completion_tokens"]}
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    if isinstance(cached, int) and not isinstance(cached, bool):
        out["cached_tokens"] = cached
    return out
