"""``vllm-engine/<model>``: vLLM in this process (``vllm.LLM``), for offline batch audits on a GPU.

Requests that arrive together (the engine keeps ``max_connections`` in flight; set it high, e.g. 256)
are gathered for ``batch_wait`` seconds and generated in one ``LLM.chat`` call, each with its own
``SamplingParams``; replies come back as the same ``Reply`` the server path gives, so outcomes are
scored identically. Assistant prefills use ``continue_final_message``; answer constraints use
``structured_outputs`` choices and are checked on the reply.

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
from slant.targets.openai_compat import check_choice


def sampling_kwargs(request: Request) -> dict[str, Any]:
    """The ``SamplingParams`` fields of a request (structured outputs are added by the caller)."""
    out: dict[str, Any] = {
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "seed": request.seed,
    }
    if request.top_logprobs:
        out["logprobs"] = request.top_logprobs
    return out


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
        self.make_params = vllm_params  # Request → SamplingParams
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
            for prefilled in (True, False):  # continue_final_message applies to a whole call
                part = [(r, f) for r, f in batch if bool(r.prefill) == prefilled]
                if part:
                    await self._generate(part, prefilled)

    async def _generate(self, part: list[tuple[Request, asyncio.Future[Reply]]], prefilled: bool) -> None:
        try:
            outputs = await asyncio.to_thread(
                self.llm.chat,
                [conversation(r) for r, _ in part],
                [self.make_params(r) for r, _ in part],
                add_generation_prompt=not prefilled,
                continue_final_message=prefilled,
                use_tqdm=False,
            )
        except Exception as e:  # the engine failed the whole call: each request gets the error
            for _, f in part:
                f.set_exception(TargetError("engine", f"{type(e).__name__}: {e}", retryable=True))
            return
        for (r, f), out in zip(part, outputs, strict=True):
            try:
                f.set_result(reply_from_output(out, r))
            except TargetError as e:
                f.set_exception(e)


def vllm_params(request: Request) -> Any:
    """vLLM's ``SamplingParams`` for a request (imported only when a vllm-engine target runs)."""
    from vllm import SamplingParams

    kwargs = sampling_kwargs(request)
    if request.choices:
        from vllm.sampling_params import StructuredOutputsParams

        kwargs["structured_outputs"] = StructuredOutputsParams(choice=list(request.choices))
    return SamplingParams(**kwargs)
