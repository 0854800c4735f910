"""An instant OpenAI-compatible server for benchmarks: canned completions with logprobs, on loopback.

Plain asyncio HTTP/1.1 with keep-alive, one process, no framework: it answers faster than any client
can ask, so a benchmark measures the client. P(yes) is a fixed function of the prompt (crc32), so
outcomes vary across probes and repeat across runs. ``--latency`` adds a fixed delay per request
and ``--serial`` serves one request at a time, as a llama.cpp server does (a model replica).

    python benchmarks/instant_server.py --port 8799 [--latency 0.05 --serial]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import zlib

MASS = 0.97
GROUP_WORDS = re.compile(
    r"\b(an?|\d+|man|woman|non-binary person|white|Black|Asian|Hispanic|male|female)\b"
)
FAIR = False  # --fair: P(yes) ignores who the person is (up to ±0.005 of noise)
SHIFT: dict[str, float] = {}  # --shift woman=-0.05: a planted gap for prompts containing the word


def p_yes(prompt: str) -> float:
    if not FAIR:
        return 0.2 + 0.6 * (zlib.crc32(prompt.encode()) % 1000) / 999
    masked = GROUP_WORDS.sub("", prompt)
    p = 0.3 + 0.5 * (zlib.crc32(masked.encode()) % 1000) / 999
    p += 0.01 * ((zlib.crc32(prompt.encode()) % 1001) / 1000 - 0.5)
    return min(max(p + sum(v for k, v in SHIFT.items() if k in prompt), 0.01), 0.99)


def completion(path: str, body: dict) -> dict:
    prompt = body.get("prompt") or json.dumps(body.get("messages"))
    p = p_yes(prompt)
    word = "yes" if p >= 0.5 else "no"
    top = {"yes": math.log(p * MASS), "no": math.log((1 - p) * MASS), "The": math.log(1 - MASS)}
    n_prompt = len(prompt) // 4
    common = {
        "id": "cmpl-instant",
        "created": 0,
        "model": body.get("model", "instant"),
        "usage": {"prompt_tokens": n_prompt, "completion_tokens": 1, "total_tokens": n_prompt + 1},
        "system_fingerprint": "fp_instant",
    }
    if path.endswith("/completions") and "chat" not in path:
        logprobs = {
            "tokens": [word],
            "token_logprobs": [top[word]],
            "top_logprobs": [top],
            "text_offset": [0],
        }
        choice = {"index": 0, "text": word, "finish_reason": "length", "logprobs": logprobs}
        return {**common, "object": "text_completion", "choices": [choice]}
    entries = [{"token": t, "logprob": lp, "bytes": None} for t, lp in top.items()]
    logprobs = {"content": [{"token": word, "logprob": top[word], "bytes": None, "top_logprobs": entries}]}
    message = {"role": "assistant", "content": word}
    choice = {"index": 0, "message": message, "finish_reason": "length", "logprobs": logprobs}
    return {**common, "object": "chat.completion", "choices": [choice]}


async def handle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, latency: float, lock: asyncio.Lock | None
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)
            }
            body = await reader.readexactly(int(headers.get("content-length", 0)))
            if latency and lock:  # one request at a time, like a llama.cpp server
                async with lock:
                    await asyncio.sleep(latency)
            elif latency:
                await asyncio.sleep(latency)
            if method == "GET":
                payload = {"object": "list", "data": [{"id": "instant", "object": "model"}]}
            else:
                payload = completion(path, json.loads(body or b"{}"))
            data = json.dumps(payload).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                + str(len(data)).encode()
                + b"\r\n\r\n"
                + data
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(port: int, latency: float, serial: bool) -> None:
    lock = asyncio.Lock() if serial else None
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, latency, lock), "127.0.0.1", port, backlog=1024
    )
    print(f"http://127.0.0.1:{port}/v1", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8799)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    ap.add_argument("--serial", action="store_true", help="serve one request at a time (a model replica)")
    ap.add_argument("--fair", action="store_true", help="P(yes) does not depend on who the person is")
    ap.add_argument("--shift", action="append", default=[], help="word=delta: a planted gap (with --fair)")
    a = ap.parse_args()
    FAIR = a.fair
    SHIFT.update({w: float(d) for w, _, d in (x.partition("=") for x in a.shift)})
    asyncio.run(serve(a.port, a.latency, a.serial))
