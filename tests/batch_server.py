"""A small real OpenAI-compatible Batch API on loopback, for tests: ``/v1/files`` (upload, content),
``/v1/batches`` (create, retrieve, list), and online calls as hosted OpenAI serves them. Each line of a
batch is answered by a FakeOpenAIServer's own reply logic (``FakeOpenAIServer.answer``; it need not be
started), so a batch gets the replies an online run gets. Batches stay ``in_progress`` until
:meth:`BatchAPIServer.finish`; faults are scripted: ``fail_create`` POSTs to /v1/batches fail with 500
before creating anything, ``lose_create`` create the batch and then answer 500 (the reply lost, as in a
crash)."""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from openai_server import FakeOpenAIServer, LoopbackServer, QuietServer


def answer_lines(fake: FakeOpenAIServer, text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each request line of a batch input file answered by ``fake``, as the OpenAI Batch API (and vllm
    run-batch) write them: 200 replies for the output file, the others for the error file."""
    done, failed = [], []
    for i, raw in enumerate(text.splitlines()):
        line = json.loads(raw)
        status, body, _ = fake.answer(line["url"], {}, line["body"])
        out = {
            "id": f"batch_req_{i}",
            "custom_id": line["custom_id"],
            "response": {"status_code": status, "request_id": f"req_{i}", "body": body},
            "error": None,
        }
        (done if status == 200 else failed).append(out)
    return done, failed


def jsonl(lines: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(line) + "\n" for line in lines)


class BatchAPIServer(LoopbackServer):
    def __init__(self, fake: FakeOpenAIServer) -> None:
        self.fake = fake
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.fail_create = 0
        self.lose_create = 0
        self.ids = itertools.count(1)
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = self.path.split("?")[0].strip("/").split("/")  # v1, files|batches, id, content
                if parts[1:] == ["batches"]:
                    data = list(server.batches.values())
                    self._json(200, {"object": "list", "data": data, "has_more": False})
                elif parts[1] == "batches" and parts[2] in server.batches:
                    self._json(200, server.batches[parts[2]])
                elif parts[1] == "files" and parts[-1] == "content" and parts[2] in server.files:
                    self._send(200, server.files[parts[2]], "application/octet-stream")
                else:
                    self._json(404, {"error": {"message": f"no {self.path}"}})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path == "/v1/files":
                    head = f"content-type: {self.headers['content-type']}\r\n\r\n".encode()
                    form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
                    fields = {
                        p.get_param("name", header="content-disposition"): p.get_payload(decode=True)
                        for p in form.iter_parts()
                    }
                    assert fields["purpose"] == b"batch", fields["purpose"]
                    self._json(200, server.add_file(fields["file"]))
                elif self.path == "/v1/batches":
                    if server.fail_create:
                        server.fail_create -= 1
                        self._json(500, {"error": {"message": "scripted failure"}})
                        return
                    batch = server.create(json.loads(raw))
                    if server.lose_create:
                        server.lose_create -= 1
                        self._json(500, {"error": {"message": "created, reply lost"}})
                        return
                    self._json(200, batch)
                elif self.path in ("/v1/chat/completions", "/v1/completions"):  # online calls
                    status, payload, _ = server.fake.answer(self.path, {}, json.loads(raw))
                    self._json(status, payload)
                else:
                    self._json(404, {"error": {"message": f"no {self.path}"}})

            def _json(self, status: int, payload: Any) -> None:
                self._send(status, json.dumps(payload).encode(), "application/json")

            def _send(self, status: int, data: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)

    def add_file(self, data: bytes) -> dict[str, Any]:
        with self.lock:
            file_id = f"file-{next(self.ids)}"
            self.files[file_id] = data
        return {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": "batch.jsonl", "purpose": "batch", "status": "processed"}  # fmt: skip

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            batch_id = f"batch_{next(self.ids)}"
        n = len(self.files[body["input_file_id"]].decode().splitlines())
        self.batches[batch_id] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body["endpoint"],
            "input_file_id": body["input_file_id"],
            "completion_window": body["completion_window"],
            "metadata": body.get("metadata"),
            "status": "in_progress",
            "created_at": int(time.time()),
            "output_file_id": None,
            "error_file_id": None,
            "errors": None,
            "request_counts": {"total": n, "completed": 0, "failed": 0},
        }
        return self.batches[batch_id]

    def finish(self) -> None:
        """Answer every batch in progress (with the fake server's replies) and complete it."""
        for batch in self.batches.values():
            if batch["status"] != "in_progress":
                continue
            done, failed = answer_lines(self.fake, self.files[batch["input_file_id"]].decode())
            batch["output_file_id"] = self.add_file(jsonl(done).encode())["id"] if done else None
            batch["error_file_id"] = self.add_file(jsonl(failed).encode())["id"] if failed else None
            total = len(done) + len(failed)
            batch["request_counts"] = {"total": total, "completed": len(done), "failed": len(failed)}
            batch["status"] = "completed"

    def fail(self, message: str) -> None:
        """Fail every batch in progress, as a Batch API does when a file does not validate (no output)."""
        for batch in self.batches.values():
            if batch["status"] == "in_progress":
                batch.update(status="failed", errors={"data": [{"code": "invalid", "message": message}]})
