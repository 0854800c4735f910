"""Reading a user's writing samples from a folder of text files or a JSONL file, with one-line errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from pydantic import ValidationError

from slant.agents.components import Sample
from slant.errors import SpecError
from slant.files import field_path, read_text

SUFFIXES = (".txt", ".md")
# A sample goes into prompts whole (with others beside it): 100,000 characters is ~25,000 tokens.
MAX_CHARS = 100_000


def read_samples(path: str | Path, task: str = "") -> list[Sample]:
    """Samples from ``path``: a folder (one sample per .txt/.md file, id = file name) or a JSONL file
    (one object per line: ``text`` required; ``id``, ``task``, ``context`` optional). Every problem is a
    SpecError naming the file and field, raised before any model call.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES)
        if not files:
            raise SpecError(str(path), "", f"no sample files ({', '.join(SUFFIXES)}) in this folder")
        out = []
        for f in files:
            if f.stat().st_size > 4 * MAX_CHARS:  # not read at all: it cannot be a sample
                raise SpecError(str(f), "text", _too_long(f.stat().st_size, "bytes"))
            text = read_text(f)
            if len(text) > MAX_CHARS:
                raise SpecError(str(f), "text", _too_long(len(text), "characters"))
            if not text.strip():
                raise SpecError(str(f), "text", "empty sample")
            out.append(Sample(id=f.stem, task=task, text=text.strip()))
        return out
    lines = enumerate(read_text(path).splitlines(), 1)
    samples = [s for n, line in lines if (s := _jsonl_sample(path, n, line, task)) is not None]
    if not samples:
        raise SpecError(str(path), "", "no samples (expected one JSON object per line)")
    counts = Counter(s.id for s in samples)
    dup = next((i for i, n in counts.items() if n > 1), None)
    if dup is not None:
        raise SpecError(str(path), "id", f"{dup!r} is used by more than one sample")
    return samples


def _jsonl_sample(path: Path, n: int, line: str, task: str) -> Sample | None:
    if not line.strip():
        return None
    where = f"line {n}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as e:
        raise SpecError(str(path), where, f"not valid JSON: {e.msg}") from None
    if not isinstance(data, dict):
        raise SpecError(str(path), where, "expected a JSON object with a 'text' field")
    data = {"id": f"{path.stem}-{n}", "task": task, **data}
    try:
        sample = Sample.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        raise SpecError(str(path), f"{where}: {field_path(err['loc'])}", err["msg"]) from None
    if not sample.text.strip():
        raise SpecError(str(path), f"{where}: text", "empty sample")
    if len(sample.text) > MAX_CHARS:
        raise SpecError(str(path), f"{where}: text", _too_long(len(sample.text), "characters"))
    return sample


def _too_long(size: int, unit: str) -> str:
    return f"sample too long ({size:,} {unit}; at most {MAX_CHARS:,} characters per sample)"
