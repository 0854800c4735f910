"""A fault-injecting HTTP proxy on loopback, in front of an OpenAI-compatible server (tests only).

Each POST either passes through unchanged or meets one fault, drawn from ``rates`` (fault → probability).
The draw is seeded and depends only on (seed, request body, how many times that body was seen), so a
campaign meets the same faults whatever the order its requests arrive in:

- ``http_500``: a 500 with a JSON error body
- ``rate_limited``: a 429 with a ``Retry-After`` header
- ``slow``: the answer comes ``slow_seconds`` late (set it past the campaign's timeout)
- ``reset``: the connection is reset (TCP RST) before any reply
- ``truncated``: the upstream reply is cut off halfway (its content-length promised more)
- ``invalid_json``: a 200 whose body is not JSON
- ``html``: a 200 with an HTML page instead of JSON (a captive portal or a misconfigured gateway)
- ``wrong_shape``: a 200 with JSON that is not a completion (``{"choices": []}``)

``injected`` counts the faults served; GETs (``/models``) always pass through.
"""

from __future__ import annotations

import hashlib
import random
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler

from openai_server import LoopbackServer, QuietServer

FAULTS = ("http_500", "rate_limited", "slow", "reset", "truncated", "invalid_json", "html", "wrong_shape")


class FaultProxy(LoopbackServer):
    def __init__(
        self,
        upstream: str,
        rates: dict[str, float] | None = None,
        seed: int = 0,
        slow_seconds: float = 1.5,
        retry_after: float = 0.05,
    ) -> None:
        unknown = set(rates or {}) - set(FAULTS)
        assert not unknown, f"unknown faults {unknown}"
        assert sum((rates or {}).values()) <= 1
        self.upstream = upstream.rstrip("/").removesuffix("/v1")  # e.g. http://127.0.0.1:PORT
        self.rates, self.seed = dict(rates or {}), seed
        self.slow_seconds, self.retry_after = slow_seconds, retry_after
        self.injected: Counter[str] = Counter()
        self.passed = 0
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                status, body, _ = proxy.forward("GET", self.path, None)
                self.reply(status, body)

            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("content-length", 0)))
                fault = proxy.draw(data)
                if fault == "reset":
                    # SO_LINGER with a zero timeout: close() sends RST instead of FIN
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                if fault == "http_500":
                    return self.reply(500, b'{"error": {"message": "injected 500", "type": "server_error"}}')
                if fault == "rate_limited":
                    body = b'{"error": {"message": "injected 429", "type": "rate_limit_error"}}'
                    return self.reply(429, body, {"retry-after": str(proxy.retry_after)})
                if fault == "html":
                    return self.reply(200, b"<html><body>gateway says hello</body></html>", ctype="text/html")
                if fault == "invalid_json":
                    return self.reply(200, b'{"id": "cmpl-x", "choices": [{"text": "yes", "logpr')
                if fault == "wrong_shape":
                    return self.reply(200, b'{"id": "cmpl-x", "object": "text_completion", "choices": []}')
                if fault == "slow":
                    time.sleep(proxy.slow_seconds)
                status, body, headers = proxy.forward("POST", self.path, data)
                if fault == "truncated":
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.reply(status, body, {k: v for k, v in headers.items() if k.lower() == "retry-after"})

            def reply(
                self, status: int, body: bytes, headers: dict[str, str] | None = None, ctype: str = ""
            ) -> None:
                self.send_response(status)
                self.send_header("content-type", ctype or "application/json")
                self.send_header("content-length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)

    def draw(self, body: bytes) -> str | None:
        """The fault for this request (None: pass through), fixed by the seed, body and repeat count."""
        digest = hashlib.sha256(body).hexdigest()
        with self._lock:
            self._seen[digest] += 1
            n = self._seen[digest]
        u = random.Random(f"{self.seed}:{digest}:{n}").random()
        for fault in FAULTS:
            u -= self.rates.get(fault, 0.0)
            if u < 0:
                with self._lock:
                    self.injected[fault] += 1
                return fault
        with self._lock:
            self.passed += 1
        return None

    def forward(self, method: str, path: str, data: bytes | None) -> tuple[int, bytes, dict[str, str]]:
        req = urllib.request.Request(
            self.upstream + path, data=data, method=method, headers={"content-type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    @property
    def n_faults(self) -> int:
        return sum(self.injected.values())
