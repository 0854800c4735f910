"""A small real OpenAI-compatible HTTP server on loopback, for tests that need a fast, scriptable model.

It answers /v1/models, /v1/chat/completions and /v1/completions deterministically: P(yes) is a
function of the prompt, so a rerun or a resumed run must reproduce every outcome exactly. Completions
with ``echo`` return the prompt's tokens with their logprobs (as llama-cpp-python does), so a prompt
ending in an answer has that answer's log-probability: see ``FakeOpenAIServer.next_token``. Faults are
scripted: the first ``fail_first`` attempts of each distinct request fail with ``fail_status`` (and a
Retry-After header when ``retry_after`` is set); prompts containing ``fail_marker`` always fail.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


def p_yes_for(prompt: str) -> float:
    """The server's true P(yes) for a prompt: between 0.2 and 0.8, fixed by its hash."""
    h = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16)
    return 0.2 + 0.6 * (h % 1000) / 999


SHAPES = (
    "inf_logprob",  # "yes": Infinity
    "string_logprob",  # "yes": "high"
    "positive_logprobs",  # every logprob +5: a "mass" far above 1
    "null_message",  # chat: "message": null
    "array_body",  # the body is a JSON array around the reply
    "null_top_logprobs",  # logprobs present, top_logprobs null
    "empty_top_logprobs",  # logprobs present, top_logprobs []
)


def reshape(payload: dict[str, Any], shape: str | None) -> Any:
    """A well-formed reply bent into one of SHAPES (None: unchanged)."""
    if shape is None:
        return payload
    if shape == "array_body":
        return [payload]
    choice = payload["choices"][0]
    if shape == "null_message":
        choice["message"] = None
        return payload
    logprobs = choice.get("logprobs") or {}
    tops = logprobs.get("top_logprobs") or [e["top_logprobs"] for e in logprobs.get("content") or []]
    for top in tops:  # completions: {token: lp} (null for an echo's first token); chat: [{token, logprob}]
        for entry in top if isinstance(top, list) else [top] if top else []:
            keys = ["logprob"] if "logprob" in entry else list(entry)
            for k in keys:
                if shape == "inf_logprob":
                    entry[k] = math.inf
                elif shape == "string_logprob":
                    entry[k] = "high"
                elif shape == "positive_logprobs":
                    entry[k] = entry[k] + 5
    if shape in ("null_top_logprobs", "empty_top_logprobs") and logprobs:
        empty = None if shape == "null_top_logprobs" else []
        if "top_logprobs" in logprobs:  # completions: the tokens' own logprobs (an echo's) go too
            logprobs["top_logprobs"] = logprobs["token_logprobs"] = empty
        for e in logprobs.get("content") or []:
            e["top_logprobs"] = empty
    return payload


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gave up (a timeout test, a slow reply past its timeout) is expected: no traceback."""


class LoopbackServer:
    """A test server on 127.0.0.1 (``self.httpd``, set by the subclass) that serves while it is used as a
    context manager; ``base_url`` is its OpenAI-style API root."""

    httpd: QuietServer

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> Self:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeOpenAIServer(LoopbackServer):
    def __init__(
        self,
        fail_first: int = 0,
        fail_status: int = 500,
        retry_after: float | None = None,
        fail_marker: str | None = None,
        delay: float = 0.0,
        mass: float = 0.96,
        port: int = 0,
        reply_text: str | None = None,
        reply_fn: Callable[[str], str] | None = None,
        messages_fn: Callable[[list[dict[str, str]]], str] | None = None,
        shift: dict[str, float] | None = None,
        fingerprint: str = "fp_test",
        p_yes: float | None = None,
        p_fn: Callable[[str], float] | None = None,
        tokens: tuple[str, str] = ("yes", "no"),
        cased: tuple[float, float] = (0.02, 0.005),
        top_k: int | None = None,
    ) -> None:
        self.fail_first, self.fail_status, self.retry_after = fail_first, fail_status, retry_after
        self.fail_marker, self.delay, self.mass = fail_marker, delay, mass
        # When set, every chat reply is this text (e.g. a judge's label); "{word}" in it becomes the
        # yes/no the server would have answered.
        self.reply_text = reply_text
        # A planted bias: P(yes) moves by shift[s] (clipped to [0.01, 0.99]) when the prompt contains s.
        self.shift, self.fingerprint = shift or {}, fingerprint
        # When set, P(yes) is this constant for every prompt (a model that answers everyone identically);
        # 1.0 puts all of the answer mass on "yes" (logprob 0, no "no" and no off-answer token).
        self.p_yes = p_yes
        # P("Yes") and P("No") after the prompt: below every top-logprob entry, so only an echo shows them
        self.cased = cased
        self.top_k = top_k  # when set, top logprobs are cut to the k most probable tokens (as servers do)
        self.echo = True  # when False, completions ignore "echo" (as llama.cpp's own server does)
        self.list_cased = False  # when True, the top logprobs list "Yes" and "No" too
        self.reply_fn = reply_fn  # when set, a chat reply is reply_fn(the last message's content)
        # when set, a chat reply is messages_fn(every message): a judge that reads its system prompt too
        self.messages_fn = messages_fn
        # when set, P(yes) is p_fn(the prompt): a planted effect of any shape
        self.p_fn = p_fn
        self.tokens = tokens  # the two answer tokens, P(yes) on the first (e.g. ("A", "B") for letters)
        # when set, replies carry no logprobs even when asked (a logprob-less server)
        self.drop_logprobs = False
        # when set, every 200 reply is bent into one misbehaving shape of SHAPES (a broken server)
        self.shape: str | None = None
        # when set, replies name this model instead of the one asked for (an alias, a GGUF path …)
        self.served_model: str | None = None
        # when set, an echoed prompt token's logprob is token_logprob(the text before it, the token), for
        # every token but the first (a whole-sequence log-likelihood of any shape); the generated token is
        # left out of the echo, as llama-cpp-python does
        self.token_logprob: Callable[[str, str], float] | None = None
        # when set (with token_logprob), the echo starts with this start-of-text token, which the server
        # adds to every prompt (as vLLM and llama.cpp do for most models): the prompt's first token is scored
        self.start_token: str | None = None
        self.received: list[dict[str, Any]] = []  # every request: path, headers, body
        # when set, usage reports this many of the prompt tokens as cached (prompt_tokens_details)
        self.cached_tokens: int | None = None
        # when set, the tokenize endpoint served (a text's tokens: its words, as usage counts them):
        # "/extras/tokenize/count" (llama-cpp-python) or "/tokenize" (vLLM); others answer 404
        self.tokenize: str | None = None
        self.tokenized: list[str] = []  # every text sent to the tokenize endpoint
        self.attempts: Counter[str] = Counter()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                status, payload, headers = server.answer(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                self._send(status, payload, headers)

            def _send(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = QuietServer(("127.0.0.1", port), Handler)

    @property
    def n_completions(self) -> int:
        """Successful model answers given so far."""
        with self.lock:
            return sum(1 for r in self.received if r["status"] == 200)

    def answer(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict, dict]:
        if "tokenize" in path:  # not a model call: not in ``received``
            return self._tokenize(path, body)
        prompt = body.get("prompt") or json.dumps(body.get("messages"))
        request_id = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with self.lock:
            self.attempts[request_id] += 1
            n = self.attempts[request_id]
        if self.delay:
            time.sleep(self.delay)
        status, payload, out_headers = 200, {}, {}
        if (self.fail_marker and self.fail_marker in prompt) or n <= self.fail_first:
            status = self.fail_status
            payload = {"error": {"message": f"scripted failure {n}", "type": "server_error"}}
            if self.retry_after is not None:
                out_headers["retry-after"] = str(self.retry_after)
        else:
            payload = reshape(self._completion(path, prompt, body), self.shape)
        with self.lock:
            self.received.append({"path": path, "headers": headers, "body": body, "status": status})
        return status, payload, out_headers

    def _tokenize(self, path: str, body: dict[str, Any]) -> tuple[int, dict, dict]:
        if path != self.tokenize:
            return 404, {"detail": "Not Found"}, {}
        text = body["input"] if path.startswith("/extras") else body["prompt"]
        with self.lock:
            self.tokenized.append(text)
        words = text.split()
        return 200, {"count": len(words), **({} if path.startswith("/extras") else {"tokens": words})}, {}

    def p(self, prompt: str) -> float:
        """P(yes) among the lower-case answers after ``prompt``."""
        if self.p_fn is not None:
            return self.p_fn(prompt)
        if self.p_yes is not None:
            return self.p_yes
        p = p_yes_for(prompt) + sum(v for k, v in self.shift.items() if k in prompt)
        return min(max(p, 0.01), 0.99)

    def next_token(self, prompt: str) -> dict[str, float]:
        """The probability of each answer token after ``prompt``: the two answers (``tokens``: yes, no),
        "The" for every other token, and the capitalised yes/no (``cased``) that no top-logprob list shows."""
        p, (first, second) = self.p(prompt), self.tokens
        probs = {first: p * self.mass, second: (1 - p) * self.mass, "The": 1 - self.mass}
        if self.tokens == ("yes", "no"):
            probs |= dict(zip(("Yes", "No"), self.cased, strict=True))
        return probs

    def _completion(self, path: str, prompt: str, body: dict[str, Any]) -> dict[str, Any]:
        p, probs = self.p(prompt), self.next_token(prompt)
        temperature = body.get("temperature") or 0.0
        if temperature > 0:
            u = int(hashlib.sha256(f"{prompt}{body.get('seed')}".encode()).hexdigest()[:8], 16) / 16**8
            word = self.tokens[0] if u < p else self.tokens[1]
        else:
            word = self.tokens[0] if p >= 0.5 else self.tokens[1]
        listed = (*self.tokens, "The", *(("Yes", "No") if self.list_cased else ()))
        shown = {t: q for t, q in probs.items() if t in listed and q > 0}
        if self.top_k is not None:
            shown = dict(sorted(shown.items(), key=lambda kv: -kv[1])[: self.top_k])
        top = {t: math.log(q) for t, q in shown.items()}  # a certain "yes" is logprob 0
        word_logprob = math.log(max(probs[word], 1e-30))
        if body.get("echo") and self.echo and "chat" not in path:
            return self._echo(prompt, word, body)
        usage = {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": 1,
            "total_tokens": len(prompt.split()) + 1,
        }
        if self.cached_tokens is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": min(self.cached_tokens, len(prompt.split()))}
        common = {
            "id": "cmpl-test",
            "created": int(time.time()),
            "model": self.served_model or body.get("model", "fake"),
            "usage": usage,
            "system_fingerprint": self.fingerprint,
        }
        if path.endswith("/completions") and "chat" not in path:
            logprobs = None
            if body.get("logprobs") and not self.drop_logprobs:
                logprobs = {
                    "tokens": [word],
                    "token_logprobs": [word_logprob],
                    "top_logprobs": [top],
                    "text_offset": [0],
                }
            return {
                **common,
                "object": "text_completion",
                "choices": [{"index": 0, "text": word, "finish_reason": "length", "logprobs": logprobs}],
            }
        logprobs = None
        if body.get("logprobs") and not self.drop_logprobs:
            entries = [{"token": t, "logprob": lp, "bytes": None} for t, lp in top.items()]
            logprobs = {
                "content": [{"token": word, "logprob": word_logprob, "bytes": None, "top_logprobs": entries}]
            }
        content = self.reply_text.replace("{word}", word) if self.reply_text else word
        if self.reply_fn:
            content = self.reply_fn(body["messages"][-1]["content"])
        if self.messages_fn:
            content = self.messages_fn(body["messages"])
        message = {"role": "assistant", "content": content}
        return {
            **common,
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": "length", "logprobs": logprobs}],
        }

    def _echo(self, prompt: str, word: str, body: dict[str, Any]) -> dict[str, Any]:
        """A completion that echoes the prompt: its tokens (words and single punctuation marks) and their
        logprobs, the first null. With ``token_logprob`` unset, the last one's is from :meth:`next_token`
        of the prompt before it (-1.0 for the others) and the generated token follows, as vLLM lists it;
        with it set, each comes from ``token_logprob`` and the generated token is left out, as
        llama-cpp-python does."""
        tokens = re.findall(r"\s*\w+|\s*[^\w\s]|\s+$", prompt)
        before = ["".join(tokens[:i]) for i in range(len(tokens))]
        if self.token_logprob is not None:
            scored = [self.token_logprob(b, t) for b, t in zip(before[1:], tokens[1:], strict=True)]
            if self.start_token is not None:  # listed first, so the prompt's first token is scored too
                first = self.token_logprob("", tokens[0])
                return self._echoed(prompt, word, body, [self.start_token, *tokens], [None, first, *scored])
            return self._echoed(prompt, word, body, tokens, [None, *scored])
        last = math.log(max(self.next_token(before[-1]).get(tokens[-1], 0.0), 1e-12))  # 1e-12: "impossible"
        logprobs = [None, *[-1.0] * (len(tokens) - 2), last][-len(tokens) :]
        if self.start_token is not None:
            return self._echoed(
                prompt, word, body, [self.start_token, *tokens, word], [None, -1.0, *logprobs[1:], -0.5]
            )
        return self._echoed(prompt, word, body, [*tokens, word], [*logprobs, -0.5])

    def _echoed(
        self, prompt: str, word: str, body: dict[str, Any], tokens: list[str], logprobs: list[float | None]
    ) -> dict[str, Any]:
        """The completion payload of an echo of ``prompt`` listing ``tokens`` with ``logprobs``."""
        n_prompt = len(re.findall(r"\s*\w+|\s*[^\w\s]|\s+$", prompt))
        return {
            "id": "cmpl-test",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "usage": {"prompt_tokens": n_prompt, "completion_tokens": 1, "total_tokens": n_prompt + 1},
            "object": "text_completion",
            "choices": [
                {
                    "index": 0,
                    "text": prompt + word,
                    "finish_reason": "length",
                    "logprobs": {
                        "tokens": tokens,
                        "token_logprobs": logprobs,
                        "top_logprobs": [None] * len(tokens),
                        "text_offset": [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))],
                    },
                }
            ],
        }
