"""The API key goes to the configured base URL and nowhere else: not to another server, not into the
database, the output (with --debug too), the reports or the exceptions — even when a server echoes it."""

from __future__ import annotations

import os
import secrets
import sqlite3
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from conftest import write_campaign
from openai_server import FakeOpenAIServer

KEY = f"sk-slant-test-{secrets.token_hex(12)}"


def slant(*args: str, cwd: Path, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    cmd = [sys.executable, "-m", "slant", "--debug", *args]
    return subprocess.run(cmd, cwd=cwd, env={**env, **env_extra}, capture_output=True, text=True, timeout=300)


class Redirector:
    """A server that answers every request with a 307 to another URL (a key must not follow it)."""

    def __init__(self, to: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.send_response(307)
                self.send_header("location", to + self.path.removeprefix("/v1"))
                self.send_header("content-length", "0")
                self.end_headers()

            do_GET = do_POST

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


def test_the_key_is_sent_to_the_base_url_only_and_stored_or_printed_nowhere(tmp_path):
    # a server that echoes the key it was given in its error messages, for the prompts of one scenario
    def echo_key(server: FakeOpenAIServer):
        answer = server.answer

        def answer_and_echo(path, headers, body):
            status, payload, out = answer(path, headers, body)
            if status != 200:
                payload["error"]["message"] = f"invalid key {headers.get('authorization')}"
            return status, payload, out

        server.answer = answer_and_echo

    campaign = write_campaign(tmp_path, prefill="chatml", max_retries=1)
    outputs: list[str] = []
    with (
        # 400, not 401: a 401 stops a run at once (issue 14), and this run needs its successes for reports
        FakeOpenAIServer(fail_marker="regional bank", fail_status=400) as srv,
        FakeOpenAIServer() as decoy,
        FakeOpenAIServer() as elsewhere,
    ):
        echo_key(srv)
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": decoy.base_url, "VLLM_BASE_URL": decoy.base_url}
        run = ["run", str(campaign), "--no-progress", "--limit", "16"]  # 8 calls fail (400), 8 succeed
        steps = [
            [*run, "--base-url", srv.base_url],  # prints the terminal report too
            ["report", "--db", "audit.db", "--json", "r.json", "--markdown", "r.md", "--html", "r.html"],
            ["history", "test", "--db", "audit.db", "--html", "h.html"],
            ["diff", "--db", "audit.db", "--json", "-"],
            # a target that is down (a traceback under --debug) and one that redirects to another server
            [*run, "--base-url", "http://127.0.0.1:9/v1", "--db", "down.db"],
            [*run, "--base-url", Redirector(elsewhere.base_url).base_url, "--db", "moved.db"],
        ]
        for step in steps:
            done = slant(*step, cwd=tmp_path, env_extra=env)
            outputs += [done.stdout, done.stderr]
    assert "Traceback" in "".join(outputs)  # --debug did show tracebacks…
    assert srv.received and all(r["headers"]["authorization"] == f"Bearer {KEY}" for r in srv.received)
    assert decoy.received == []  # the environment's base URL is not the configured one
    # a redirect is not followed: the other server is never asked, the calls are errors (http_307)
    assert elsewhere.received == []
    moved = sqlite3.connect(tmp_path / "moved.db").execute("select distinct error_kind from responses")
    assert [r[0] for r in moved] == ["http_307"]
    errors = [r[0] for r in sqlite3.connect(tmp_path / "audit.db").execute("select error from attempts")]
    assert any("invalid key" in (e or "") for e in errors)  # the echoing server's errors were stored…

    leaks = [i for i, out in enumerate(outputs) if KEY in out]
    assert leaks == [], [outputs[i][-2000:] for i in leaks]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {"audit.db", "r.json", "r.md", "r.html", "h.html"} <= {p.name for p in files}
    assert [p.name for p in files if KEY.encode() in p.read_bytes()] == []  # …without the key
