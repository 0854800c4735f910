"""A non-editable install carries its own prompts, packs and campaigns.

Builds slant's wheel, installs it into a fresh virtual environment and, from a folder outside the
repository, runs ``slant probes``, a dry run of the shipped quickstart and a short real run on the
embedded model. The fresh environment gets slant from the wheel only; its dependencies (pandas,
llama-cpp-python …) are read from the test's own environment through a ``.pth`` line, so the test needs
no network and no second llama.cpp build.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
from pathlib import Path

import pytest
import sqlite_utils

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (
        f"{' '.join(cmd)} → {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with slant installed from a wheel built from this checkout; returns its bin/."""
    tmp = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), str(ROOT)], tmp)
    wheel = next((tmp / "dist").glob("slant-*.whl"))
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp)
    py = venv / "bin" / "python"
    purelib = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp).strip()
    (Path(purelib) / "deps-from-test-env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)], tmp)
    return venv / "bin"


def test_the_wheel_holds_prompts_and_packs(installed, tmp_path):
    where = _run([str(installed / "python"), "-c", "import slant; print(slant.__file__)"], tmp_path)
    assert str(installed.parent) in where  # slant comes from the wheel, not this checkout
    out = _run([str(installed / "slant"), "probes"], tmp_path)
    assert "decision" in out and "persona" in out
    dry = _run([str(installed / "slant"), "run", "quickstart", "--dry-run"], tmp_path)
    assert "468" in dry  # 18 scenarios × 26 people, from the packs inside the wheel


@pytest.mark.model
def test_a_short_real_run_from_the_wheel(installed, tmp_path):
    out = _run([str(installed / "slant"), "run", "quickstart", "--limit", "1", "--no-progress"], tmp_path)
    assert "female" in out
    db = sqlite_utils.Database(tmp_path / "quickstart.db")  # the campaign's db, in the working folder
    assert (
        db["responses"].count == 26
        and db.execute("select count(*) from responses where error_kind is not null").fetchone()[0] == 0
    )
    server = db.execute("select server from targets").fetchone()[0]
    assert "AVX2 = 1" in server  # the llama.cpp build is recorded with the run
