"""The embedded model's build and its server's failures: a crash is named, the build runs on this CPU.

The crash tests use ``crashing_server.py`` (a real process on loopback that kills itself with SIGILL
mid-request, as a llama.cpp build with instructions the CPU cannot run does); the build guard reads the
installed llama.cpp libraries' machine code.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from slant.errors import TargetUnavailable
from slant.run import execute
from slant.store import open_db
from slant.targets import LocalTarget, Request
from slant.targets.local import LocalServer, build_info

HERE = Path(__file__).resolve().parent


class CrashingServer(LocalServer):
    """The embedded model's server lifecycle around tests/crashing_server.py."""

    def __init__(self, crash_after: int, signal: str = "SIGILL") -> None:
        super().__init__()
        self.crash_after, self.signal = crash_after, signal

    def command(self) -> list[str]:
        script = str(HERE / "crashing_server.py")
        return [sys.executable, script, str(self.port), str(self.crash_after), self.signal]


def test_a_server_that_dies_on_its_first_completion_is_named_at_start():
    server = CrashingServer(crash_after=0)
    start = time.monotonic()
    with pytest.raises(TargetUnavailable) as e:
        server.start()
    message = str(e.value)
    assert time.monotonic() - start < 15
    assert "\n" not in message
    assert "crashed" in message and "SIGILL" in message and "illegal instruction" in message.lower()
    assert "make install" in message  # what to do
    log = re.search(r"log: (\S+)\)", message)[1]
    assert "computing the first token" in Path(log).read_text()  # the log is kept for the user
    Path(log).unlink()


def test_a_crash_during_a_run_stops_it_at_once_with_the_signal(tmp_path):
    """Not '10 requests in a row failed after all retries': the first failed call names the crash."""
    requests = {
        f"k{i}": Request(
            (("system", "Answer yes or no."), ("user", f"Case {i}?")), prefill="Answer: ", top_logprobs=5
        )
        for i in range(30)
    }
    db = open_db(tmp_path / "crash.db")

    async def run() -> None:
        async with LocalTarget(server=partial(CrashingServer, 4, "SIGSEGV")) as target:
            await execute(db, target, requests, scope="s", max_connections=2, progress=False)

    start = time.monotonic()
    with pytest.raises(TargetUnavailable) as e:
        asyncio.run(run())
    assert time.monotonic() - start < 20  # no retry backoff spent on a dead port
    assert "crashed" in str(e.value) and "SIGSEGV" in str(e.value)
    assert "requests in a row" not in str(e.value)
    # the 3 answered after the start-up check are stored; nothing failed is stored as an answer
    assert db.execute("select count(*) from responses where error_kind is null").fetchone()[0] == 3
    attempts = db.execute("select count(*) from attempts").fetchone()[0]
    assert attempts <= 3 + 2  # the crash is named at the first failed call of each connection
    Path(re.search(r"log: (\S+)\)", str(e.value))[1]).unlink()


# llama.cpp's system-info names → /proc/cpuinfo flags (x86-64)
CPU_FLAGS = {
    "SSE3": "pni", "SSSE3": "ssse3", "AVX": "avx", "AVX2": "avx2", "F16C": "f16c", "FMA": "fma",
    "BMI2": "bmi2", "AVX_VNNI": "avx_vnni", "AVX512": "avx512f", "AVX512_VBMI": "avx512vbmi",
    "AVX512_VNNI": "avx512_vnni", "AVX512_BF16": "avx512_bf16", "AMX_INT8": "amx_int8",
}  # fmt: skip
# instructions beyond the portable x86-64 build (AVX2/FMA/F16C/BMI2): AMX tiles and AVX-512 registers
BEYOND_AVX2 = re.compile(r"\b(tilezero|tileloadd\w*|tilestored|tdpb\w+|ldtilecfg|sttilecfg)\b|%zmm|%k[1-7]\b")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/cpuinfo")
def test_the_installed_llama_build_runs_on_this_cpu():
    """Fails on a build with instructions this machine cannot run (the AMX crash), or beyond AVX2 at all."""
    import llama_cpp

    features = dict(re.findall(r"(\w+) = (\d)", build_info()))
    flags = set(re.search(r"^flags\s*:(.*)$", Path("/proc/cpuinfo").read_text(), re.M)[1].split())
    used = [name for name, on in features.items() if on == "1" and name in CPU_FLAGS]
    assert [n for n in used if CPU_FLAGS[n] not in flags] == []
    if "avx2" not in flags:
        pytest.skip("not an x86-64 CPU with AVX2: the instruction scan below is for x86-64 builds")
    assert shutil.which("objdump"), "objdump (binutils) is needed to check the build"
    libs = sorted((Path(llama_cpp.__file__).parent / "lib").glob("libggml*.so"))
    assert libs, "no ggml library in the llama_cpp package"
    for lib in libs:
        code = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(lib)], capture_output=True,
                              text=True, check=True).stdout  # fmt: skip
        beyond = sorted(set(m.group(0) for m in BEYOND_AVX2.finditer(code)))
        assert beyond == [], f"{lib.name} holds instructions beyond the portable build: {beyond[:5]}"
