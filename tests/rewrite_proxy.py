"""A real HTTP proxy on loopback that forwards OpenAI-compatible requests to an upstream server and can
rewrite each prompt on the way: a "deployed model" whose behaviour changes without the probes changing.

``rewrite(text) -> text`` is applied to the raw completions prompt and to every chat message content.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from openai_server import LoopbackServer, QuietServer


class RewriteProxy(LoopbackServer):
    def __init__(self, upstream: str, rewrite: Callable[[str], str] | None = None) -> None:
        self.upstream = upstream.rstrip("/")  # e.g. http://127.0.0.1:PORT/v1
        self.rewrite = rewrite
        self.n_rewritten = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                self._forward(proxy.apply(body))

            def _forward(self, body: dict[str, Any] | None) -> None:
                path = self.path.removeprefix("/v1")
                data = None if body is None else json.dumps(body).encode()
                req = urllib.request.Request(
                    proxy.upstream + path, data=data, headers={"content-type": "application/json"}
                )
                try:
                    with urllib.request.urlopen(req, timeout=120) as r:
                        status, payload = r.status, r.read()
                except urllib.error.HTTPError as e:
                    status, payload = e.code, e.read()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        if not self.rewrite:
            return body
        before = json.dumps(body, sort_keys=True)
        if isinstance(body.get("prompt"), str):
            body["prompt"] = self.rewrite(body["prompt"])
        for m in body.get("messages") or []:
            if isinstance(m.get("content"), str):
                m["content"] = self.rewrite(m["content"])
        self.n_rewritten += json.dumps(body, sort_keys=True) != before
        return body
