"""Any OpenAI-compatible server: hosted OpenAI, a vLLM server, a llama.cpp server, or another URL."""

from __future__ import annotations

import importlib.metadata
import json
import math
from typing import Any, Literal
from urllib.parse import urlsplit

import openai

from slant.targets.base import Reply, Request, TargetError

PrefillMode = Literal["chatml", "continue", "none"]
HOSTED_URL = "https://api.openai.com/v1"  # where the client sends calls when no base URL is given
HOSTED_NO_ECHO = "the hosted OpenAI API gives no prompt log-probabilities (chat models only)"
NO_ECHO = "the server echoed no prompt log-probabilities (completions with echo and logprobs)"
VOCABULARY = 1 << 20  # top logprobs asked for to read a whole distribution (servers cap it)


def is_hosted(base_url: str | None) -> bool:
    """Whether calls to this base URL go to the hosted OpenAI API."""
    return base_url is None or urlsplit(base_url.strip()).hostname == "api.openai.com"


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
        self._client: openai.AsyncOpenAI | None = None
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
            "client": f"openai {importlib.metadata.version('openai')}",
            "server": self.server,
        }

    async def __aenter__(self) -> OpenAICompatTarget:
        # The engine owns retries, so the client must not retry behind its back; and it must not follow
        # redirects: answers from another server would be stored as the configured target's.
        self._client = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self._api_key,
            max_retries=0,
            timeout=self.timeout,
            http_client=openai.DefaultAsyncHttpx2Client(follow_redirects=False, timeout=self.timeout),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

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
            if request.prefill and self.prefill == "chatml":
                return await self._completions(request)
            return await self._chat(request)
        except openai.APITimeoutError as e:
            raise TargetError("timeout", str(e), retryable=True) from e
        except openai.APIConnectionError as e:
            raise TargetError("connection", str(e), retryable=True) from e
        except openai.RateLimitError as e:
            raise TargetError(
                "rate_limited",
                str(e),
                retryable=True,
                status=429,
                retry_after=_retry_after(e.response.headers),
            ) from e
        except openai.APIStatusError as e:
            code = e.status_code
            retryable = code in (408, 409) or code >= 500
            raise TargetError(
                f"http_{code}",
                str(e),
                retryable=retryable,
                status=code,
                retry_after=_retry_after(e.response.headers),
            ) from e
        except (
            openai.APIResponseValidationError,
            AttributeError,  # "message": null, a JSON array for a body …
            KeyError,
            IndexError,
            TypeError,
            ValueError,
        ) as e:
            raise TargetError("bad_response", f"{type(e).__name__}: {e}", retryable=True) from e

    async def _chat(self, request: Request) -> Reply:
        # Any: the SDK's message types want literal roles; a request's roles are plain strings
        messages: list[Any] = [{"role": r, "content": c} for r, c in request.messages]
        extra: dict[str, Any] = {}
        applied = False
        if request.prefill and self.prefill == "continue":
            messages.append({"role": "assistant", "content": request.prefill})
            extra = {"continue_final_message": True, "add_generation_prompt": False}
            applied = True
        constrained = bool(request.choices) and self.name.startswith("vllm/")
        if constrained:
            extra["structured_outputs"] = {"choice": list(request.choices or ())}
        kwargs: dict[str, Any] = {}
        if request.top_logprobs:
            kwargs = {"logprobs": True, "top_logprobs": request.top_logprobs}
        r = await self._client.chat.completions.create(  # type: ignore[union-attr]
            model=self.model,
            messages=messages,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            seed=request.seed,
            extra_body=extra or None,
            **kwargs,
        )
        r = _parsed(r)
        choice = r.choices[0]
        top = None
        if request.top_logprobs and choice.logprobs and choice.logprobs.content:
            top = checked_logprobs(
                [{t.token: t.logprob for t in pos.top_logprobs or ()} for pos in choice.logprobs.content]
            )
        if constrained:
            check_choice(choice.message.content or "", request.choices or ())
        return Reply(
            text=choice.message.content or "",
            finish_reason=choice.finish_reason,
            endpoint="chat",
            top_logprobs=top,
            usage=_usage(r.usage),
            fingerprint=r.system_fingerprint,
            prefill_applied=applied,
            served_model=_served_model(r),
        )

    async def _completions(self, request: Request) -> Reply:
        kwargs: dict[str, Any] = {}
        if request.top_logprobs:
            kwargs["logprobs"] = request.top_logprobs
        if request.choices:  # a llama.cpp server takes a GBNF grammar
            alternatives = " | ".join(json.dumps(c) for c in request.choices)
            kwargs["extra_body"] = {"grammar": f"root ::= {alternatives}"}
        r = await self._client.completions.create(  # type: ignore[union-attr]
            model=self.model,
            prompt=render_chatml(request.messages, request.prefill),
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            seed=request.seed,
            stop=["<|im_end|>"],
            **kwargs,
        )
        r = _parsed(r)
        choice = r.choices[0]
        if request.choices:
            check_choice(choice.text or "", request.choices)
        top = None
        if request.top_logprobs and choice.logprobs and choice.logprobs.top_logprobs:
            top = checked_logprobs([dict(pos or {}) for pos in choice.logprobs.top_logprobs])
        return Reply(
            text=choice.text or "",
            finish_reason=choice.finish_reason,
            endpoint="completions",
            top_logprobs=top,
            usage=_usage(r.usage),
            fingerprint=r.system_fingerprint,
            prefill_applied=True,
            served_model=_served_model(r),
            continuation_logprobs=await self._continuations(request, top) if request.continuations else None,
        )

    async def _continuations(
        self, request: Request, top: list[dict[str, float]] | None = None
    ) -> dict[str, float] | None:
        """Each continuation's log-probability after the prefill, read from the prompt logprobs that a
        completions server echoes (``echo`` with ``logprobs``: llama-cpp-python, vLLM); None when the
        server echoes none, or a continuation does not start on a token boundary. When the first
        generated token's top logprobs (``top``) list every continuation as a whole token, those are the
        same numbers (log P(that token | the prefill)), so no echo call is sent."""
        if top and all(c in top[0] for c in request.continuations or ()):
            return {c: top[0][c] for c in request.continuations or ()}
        out = {}
        for continuation in request.continuations or ():
            prompt = render_chatml(request.messages, (request.prefill or "") + continuation)
            read = continuation_logprob(*(await self._echo(prompt)), continuation)
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
        sums, counts = {}, {}
        for continuation in request.continuations or ():
            tokens, logprobs = await self._echo(context + continuation)
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
        )

    async def _after_bos(self) -> dict[str, float]:
        """log P(first token | the start token) for the whole vocabulary (read once per target)."""
        if self._first_token is None:
            r = await self._client.completions.create(  # type: ignore[union-attr]
                model=self.model, prompt=self.bos, max_tokens=1, temperature=0.0, logprobs=VOCABULARY
            )
            lp = _parsed(r).choices[0].logprobs
            top = checked_logprobs([dict(lp.top_logprobs[0] or {})]) if lp and lp.top_logprobs else None
            self._first_token = top[0] if top else {}
        return self._first_token

    async def _echo(self, prompt: str) -> tuple[list[str], list[float | None]]:
        """The prompt's tokens and their log-probabilities as the server echoes them (one greedy token is
        generated and left out); empty lists when the server echoes none."""
        r = await self._client.completions.create(  # type: ignore[union-attr]
            model=self.model, prompt=prompt, max_tokens=1, temperature=0.0, logprobs=1, echo=True
        )
        choice = _parsed(r).choices[0]
        text, lp = choice.text or "", choice.logprobs
        if not (lp and lp.tokens and lp.token_logprobs and text.startswith(prompt)):
            return [], []  # the server ignored echo: no prompt logprobs
        return prompt_part(list(lp.tokens), list(lp.token_logprobs), text[len(prompt) :])


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


def _parsed(r: Any) -> Any:
    """The client hands back a 200 whose body is not JSON (a gateway's HTML page) as a plain string."""
    if isinstance(r, str | bytes):
        raise TargetError("bad_response", f"the reply is not JSON: {r[:80]!r}", retryable=True)
    return r


def _served_model(r: Any) -> str | None:
    """The model name in a reply (the client does not check it: a server may send none, or a number)."""
    name = getattr(r, "model", None)
    return str(name) if name not in (None, "") else None


def _usage(usage: Any) -> dict[str, int] | None:
    if usage is None:
        return None
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}
