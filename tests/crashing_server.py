"""A model server process that dies the way a miscompiled llama.cpp does: by a signal, mid-request.

    python crashing_server.py PORT CRASH_AFTER [SIGNAL]

It answers ``GET /v1/models`` and its first CRASH_AFTER completions (one token, logprobs), then kills
itself with SIGNAL (default SIGILL, what an instruction the CPU cannot run raises) while answering the
next one, so the client sees its connection drop and the process's exit status names the signal.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

PORT, CRASH_AFTER = int(sys.argv[1]), int(sys.argv[2])
SIGNAL = signal.Signals[sys.argv[3]] if len(sys.argv) > 3 else signal.SIGILL
answered = 0


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _json(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._json({"object": "list", "data": [{"id": "smollm2", "object": "model"}]})

    def do_POST(self) -> None:
        global answered
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if answered >= CRASH_AFTER:
            print("computing the first token …", file=sys.stderr, flush=True)
            os.kill(os.getpid(), SIGNAL)
        answered += 1
        self._json(
            {
                "id": f"cmpl-{answered}",
                "object": "text_completion",
                "created": 0,
                "model": "smollm2",
                "choices": [
                    {
                        "index": 0,
                        "text": "yes",
                        "finish_reason": "length",
                        "logprobs": {
                            "tokens": ["yes"],
                            "token_logprobs": [-0.2],
                            "top_logprobs": [{"yes": -0.2, "no": -1.8}],
                            "text_offset": [0],
                        },
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
            }
        )


signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
HTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
