"""Errors slant reports to users, with the exit codes the CLI maps them to."""

from __future__ import annotations

import traceback
from pathlib import Path

EXIT_OK = 0
EXIT_GATE_FAILED = 1  # reserved for regression gates (`slant diff`)
EXIT_BAD_INPUT = 2
EXIT_INCOMPLETE = 3  # some requests failed after all retries, or the target is down; rerun to resume
EXIT_INTERNAL = 4  # a bug in slant (e.g. scoring stored replies failed); stored work is kept
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT)
EXIT_TERMINATED = 143  # SIGTERM (128 + 15)


WHOLE_COUNT = "a whole number of at least 1"  # a count of probes, calls or connections


class SlantError(Exception):
    """An error with a one-line message meant for the user (no traceback)."""

    exit_code = EXIT_BAD_INPUT


def check_count(name: str, value: object) -> None:
    """A count given to the Python API is None or a whole number ≥ 1, with the CLI's wording."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise SlantError(f"{name}: expected {WHOLE_COUNT}, got {value!r}")


class SpecError(SlantError):
    """Bad input: names the file, the field and the problem."""

    def __init__(self, file: str, field: str, problem: str) -> None:
        self.file, self.field, self.problem = file, field, problem
        where = f"{file}: {field}" if field else file
        super().__init__(f"{where}: {problem}")


class TargetUnavailable(SlantError):
    """The target could not be started or reached at all."""

    exit_code = EXIT_INCOMPLETE


class ScoringFailed(SlantError):
    """Scoring stored replies failed: a bug in slant, not in the model or the input. The run is left
    ``failed``; every reply stays cached, so a fixed version rescores them without new calls."""

    exit_code = EXIT_INTERNAL


def one_line(e: BaseException) -> str:
    """An exception as one line; where it was raised, unless it is slant's own message for the user."""
    if isinstance(e, SlantError):
        return str(e)
    frames = traceback.extract_tb(e.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(e).__name__}: {e}{where}"
