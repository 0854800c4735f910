"""``vllm-engine/<model>``: vLLM in this process (``vllm.LLM``), for offline batch audits on a GPU.

Requests that arrive together (the engine keeps ``max_connections`` in flight; set it high, e.g. 256)
are gathered for ``batch_wait`` seconds and generated in one ``LLM.chat`` call, each with its own
``SamplingParams``; replies come back as the same ``Reply`` the server path gives, so outcomes are
scored identically. Assistant prefills use ``continue_final_message``; answer constraints use
``structured_outputs`` choices and are checked on the reply; requested continuations are scored from
``prompt_logprobs`` of the prefill with each continuation written after it.

Needs the ``vllm`` extra and a GPU. **Unverified on a GPU**: slant's tests cover the request →
SamplingParams mapping, the reading of vLLM's output objects and the batching, with objects shaped
like vLLM's built in the tests.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

from slant.errors import TargetUnavailable
from slant.targets.base import Reply, Request, TargetError
from slant.targets.openai_compat import check_choice, continuation_logprob


def sampling_kwargs(request: Request, prompt_logprobs: bool = False) -> dict[str, Any]:
    """The ``SamplingParams`` fields of a request (structured outputs are added by the caller); with
    ``prompt_logprobs``, the log-probability of every prompt token is asked for too."""
    out: dict[str, Any] = {
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "seed": request.seed,
    }
    if request.top_logprobs:
        out["logprobs"] = request.top_logprobs
    if prompt_logprobs:
        out["prompt_logprobs"] = 0  # the prompt's own tokens only
    return out


def continuation_requests(request: Request) -> list[Request]:
    """One greedy one-token call per continuation, with the continuation written after the prefill (or
    after the raw ``text`` of a log-likelihood request)."""
    if request.text is not None:
        return [Request((), seed=request.seed, text=request.text + c) for c in request.continuations or ()]
    return [
        Request(request.messages, seed=request.seed, prefill=(request.prefill or "") + c)
        for c in request.continuations or ()
    ]


def continuation_logprobs(
    outputs: list[Any], continuations: tuple[str, ...]
) -> tuple[dict[str, float], dict[str, int]] | None:
    """Each continuation's log-probability and number of tokens from its call's output; None unless
    every one was read."""
    sums, counts = {}, {}
    for output, continuation in zip(outputs, continuations, strict=True):
        read = prompt_continuation_logprob(output, continuation)
        if read is None:
            return None
        sums[continuation], counts[continuation] = read
    return sums, counts


def prompt_continuation_logprob(output: Any, continuation: str) -> tuple[float, int] | None:
    """A continuation's log-probability from a ``RequestOutput`` with prompt logprobs: the prompt's last
    tokens (each one's own entry, keyed by its token id) must spell it (see ``continuation_logprob``)."""
    positions = output.prompt_logprobs or []
    ids = output.prompt_token_ids or []
    tokens, logprobs = [], []
    for token_id, position in zip(ids, positions, strict=False):
        entry = (position or {}).get(token_id)
        tokens.append((entry.decoded_token or "") if entry is not None else "")
        logprobs.append(entry.logprob if entry is not None else None)
    return continuation_logprob(tokens, logprobs, continuation)


def conversation(request: Request) -> list[dict[str, str]]:
    """The messages, with the prefill as a final assistant message to continue."""
    messages = [{"role": r, "content": c} for r, c in request.messages]
    if request.prefill:
        messages.append({"role": "assistant", "content": request.prefill})
    return messages


def reply_from_output(output: Any, request: Request) -> Reply:
    """A Reply from one vLLM ``RequestOutput``: text, finish reason, top logprobs keyed by decoded token."""
    first = output.outputs[0]
    top = None
    if request.top_logprobs and first.logprobs:
        top = [{lp.decoded_token: lp.logprob for lp in position.values()} for position in first.logprobs]
    if request.choices:
        check_choice(first.text, request.choices)
    return Reply(
        text=first.text,
        finish_reason=first.finish_reason,
        endpoint="vllm-engine",
        top_logprobs=top,
        usage={
            "prompt_tokens": len(output.prompt_token_ids or []),
            "completion_tokens": len(first.token_ids),
            "total_tokens": len(output.prompt_token_ids or []) + len(first.token_ids),
        },
        prefill_applied=bool(request.prefill),
    )


class VLLMEngineTarget:
    def __init__(self, model: str, batch_wait: float = 0.02, max_batch: int = 512, **engine: Any) -> None:
        self.name, self.model, self.prefill = f"vllm-engine/{model}", model, "continue"
        self.batch_wait, self.max_batch, self.engine = batch_wait, max_batch, engine
        self.llm: Any = None
        self.server: dict[str, Any] = {}
        self.make_params = vllm_params  # Request (, prompt_logprobs) → SamplingParams
        self._queue: asyncio.Queue[tuple[Request, asyncio.Future[Reply]]] | None = None
        self._batcher: asyncio.Task[None] | None = None

    @property
    def id(self) -> str:
        return f"{self.name}@in-process"

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": "vllm-engine",
            "model": self.model,
            "base_url": None,
            "prefill_mode": self.prefill,
            "client": "vllm.LLM (in process)",
            "server": self.server,
        }

    async def __aenter__(self) -> VLLMEngineTarget:
        if self.llm is None:
            if importlib.util.find_spec("vllm") is None:
                raise TargetUnavailable(
                    f"{self.name} needs vLLM in this environment (pip install -e '.[vllm]') and a GPU"
                )
            import vllm

            self.llm = vllm.LLM(model=self.model, seed=0, **self.engine)
            self.server = {"engine": f"vllm {vllm.__version__}"}
        self._queue = asyncio.Queue()
        self._batcher = asyncio.create_task(self._batches())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._batcher:
            self._batcher.cancel()
            self._batcher = None

    async def complete(self, request: Request) -> Reply:
        assert self._queue is not None, "use the target as an async context manager"
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        await self._queue.put((request, future))
        return await future

    async def _batches(self) -> None:
        """Gather what arrives within batch_wait (up to max_batch) and generate it in one call."""
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            deadline = asyncio.get_running_loop().time() + self.batch_wait
            while len(batch) < self.max_batch:
                timeout = deadline - asyncio.get_running_loop().time()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), timeout))
                except TimeoutError:
                    break
            await self._serve(batch)

    async def _serve(self, batch: list[tuple[Request, asyncio.Future[Reply]]]) -> None:
        """Generate a batch, with the continuation calls its requests ask for, and answer each request."""
        # (call, continuation); a log-likelihood request generates nothing: only its continuation calls
        calls: list[tuple[Request, str | None]] = [(r, None) for r, _ in batch if not r.is_loglikelihood]
        for r, _ in batch:
            calls += list(zip(continuation_requests(r), r.continuations or (), strict=True))
        outputs: list[Any] = [None] * len(calls)
        for kind in ("prefilled", "chat", "text"):  # continue_final_message applies to a whole call
            part = [i for i, (r, _) in enumerate(calls) if _call_kind(r) == kind]
            if part:
                got = await self._generate([calls[i] for i in part], kind)
                for i, out in zip(part, got, strict=True):
                    outputs[i] = out
        generated = iter(outputs)
        scoring = iter(outputs[sum(not r.is_loglikelihood for r, _ in batch) :])
        for r, f in batch:
            out = None if r.is_loglikelihood else next(generated)
            scored = [next(scoring) for _ in r.continuations or ()]
            try:
                for o in (out, *scored):
                    if isinstance(o, TargetError):
                        raise o
                f.set_result(_reply(r, out, scored))
            except TargetError as e:
                f.set_exception(e)

    async def _generate(self, calls: list[tuple[Request, str | None]], kind: str) -> list[Any]:
        """vLLM's outputs for these calls (all of one ``_call_kind``), generated in one call; each gets the
        error if the engine fails."""
        params = [self.make_params(r, prompt_logprobs=c is not None) for r, c in calls]
        try:
            if kind == "text":
                return await asyncio.to_thread(
                    self.llm.generate, [r.text for r, _ in calls], params, use_tqdm=False
                )
            return await asyncio.to_thread(
                self.llm.chat,
                [conversation(r) for r, _ in calls],
                params,
                add_generation_prompt=kind == "chat",
                continue_final_message=kind == "prefilled",
                use_tqdm=False,
            )
        except Exception as e:  # the engine failed the whole call: each request gets the error
            return [TargetError("engine", f"{type(e).__name__}: {e}", retryable=True)] * len(calls)


def _call_kind(request: Request) -> str:
    """How a call is sent: raw text, a conversation to continue (prefilled), or a new assistant turn."""
    return "text" if request.text is not None else "prefilled" if request.prefill else "chat"


def _reply(request: Request, output: Any, scored: list[Any]) -> Reply:
    """The reply to one request from its generated output (None for a log-likelihood request) and its
    continuation calls' outputs."""
    read = continuation_logprobs(scored, request.continuations) if request.continuations else None
    if request.is_loglikelihood:
        if read is None:
            raise TargetError(
                "no_loglikelihood",
                "a continuation does not start on a token boundary after the prompt",
                retryable=False,
            )
        return Reply(
            text="",
            finish_reason="loglikelihood",
            endpoint="vllm-engine",
            prefill_applied=request.text is None,
            continuation_logprobs=read[0],
            continuation_tokens=read[1],
        )
    reply = reply_from_output(output, request)
    reply.continuation_logprobs = read[0] if read else None
    return reply


def vllm_params(request: Request, prompt_logprobs: bool = False) -> Any:
    """vLLM's ``SamplingParams`` for a request (imported only when a vllm-engine target runs)."""
    from vllm import SamplingParams

    kwargs = sampling_kwargs(request, prompt_logprobs)
    if request.choices:
        from vllm.sampling_params import StructuredOutputsParams

        kwargs["structured_outputs"] = StructuredOutputsParams(choice=list(request.choices))
    return SamplingParams(**kwargs)
