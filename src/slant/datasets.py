"""Released benchmark data sets: where each is published, its licence and citation, how its files are
found in the user's copy, and an optional download of that copy from its canonical source.

slant ships no benchmark data: a probe set names the user's copy (``data: path/to/BBQ/data/*.jsonl``),
and ``slant data download NAME DIR`` fetches the released files where the network allows.
"""

from __future__ import annotations

import glob
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from slant.errors import SlantError, SpecError


@dataclass(frozen=True)
class Dataset:
    """A released data set a family reads."""

    name: str  # what ``slant data download`` takes
    title: str
    homepage: str  # the canonical repository
    licence: str
    citation: str
    files: tuple[str, ...] = ()  # raw URLs of the released files ``download`` fetches


DATASETS: dict[str, Dataset] = {}


def register_dataset(dataset: Dataset) -> Dataset:
    """Make a data set known to ``slant data download`` and ``slant probes``."""
    DATASETS[dataset.name] = dataset
    return dataset


def data_files(pattern: str, base: Path, where: str, field: str = "data") -> list[Path]:
    """The files a ``data:`` path or glob names, relative to the campaign's folder, sorted; none found is
    a one-line error naming the campaign and field (before any model call)."""
    path = Path(pattern).expanduser()
    full = path if path.is_absolute() else base / path
    found = sorted(Path(p) for p in glob.glob(str(full), recursive=True) if Path(p).is_file())
    if not found:
        raise SpecError(where, field, f"no file matches {pattern!r} (relative to {base})")
    return found


def download_dataset(name: str, dest: Path, timeout: float = 30.0) -> list[Path]:
    """Fetch a data set's released files into ``dest``; a failed fetch is one line saying where to get
    them by hand."""
    if name not in DATASETS:
        raise SlantError(f"unknown data set {name!r}: one of {', '.join(sorted(DATASETS)) or 'none'}")
    ds = DATASETS[name]
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for url in ds.files:
        target = dest / url.rsplit("/", 1)[-1]
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (https URLs of our own list)
                target.write_bytes(r.read())
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise SlantError(
                f"cannot download {name} from {url} ({reason}): get it from {ds.homepage} and give the "
                "files' path as the probe set's data"
            ) from None
        out.append(target)
    return out
