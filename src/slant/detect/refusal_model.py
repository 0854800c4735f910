"""The learned refusal detector: a logistic regression over hashed word and character n-grams.

The fitted weights ship with the package (``refusal_model.npz``, plain arrays, no pickle; trained by
``scripts/train_refusal.py``, sources and accuracy in ``docs/refusal-model.md``). ``features`` is the one
featurizer, used both to train and to score, so the two cannot drift apart. The model answers one
question, "does this reply refuse (fully or partly)?", as a calibrated probability; the three-way label
is made from it and the rules in ``slant.detect.refusal``.

Features of a reply, lower-cased with quotes and whitespace normalized, cut to its first
``MAX_CHARS`` characters: word 1-3-grams, character 3-5-grams inside words (padded with spaces), word
1-2-grams of its opening (the first ``HEAD_CHARS`` characters, where refusals sit) and a length bucket.
Each is hashed (CRC-32) into ``BUCKETS`` slots, counted sub-linearly (1 + log n) and L2-normalized.
The rules' verdict on the reply joins as indicator features (``extra``, value 1, not normalized: e.g.
"rule:full_refusal", "kind:redirect"), so the model learns how far to trust each rule label.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # stats imports detect at run time: import it lazily there
    from slant.stats.misclassification import DetectorError

BUCKETS = 1 << 18
MAX_CHARS = 2000
HEAD_CHARS = 160
MODEL_FILE = "refusal_model.npz"

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2014": "-"})
_WORDS = re.compile(r"[a-z0-9']+|[^\sa-z0-9']")
_SPACE = re.compile(r"\s+")


def _grams(tokens: list[str], n_max: int, prefix: str) -> list[str]:
    return [
        prefix + " ".join(tokens[i : i + n]) for n in range(1, n_max + 1) for i in range(len(tokens) - n + 1)
    ]


def _length_bucket(n_words: int) -> str:
    return "len:" + str(min(int(math.log2(n_words + 1)), 10))


def _slot(gram: str) -> int:
    return zlib.crc32(gram.encode()) & (BUCKETS - 1)


def features(text: str, extra: tuple[str, ...] = ()) -> dict[int, float]:
    """The reply's hashed n-grams, {slot: weight}, L2-normalized, plus each ``extra`` token at 1."""
    body = _SPACE.sub(" ", text.translate(_QUOTES).lower()).strip()[:MAX_CHARS]
    words = _WORDS.findall(body)
    if not words:
        return {_slot(t): 1.0 for t in extra}
    grams = _grams(words, 3, "w:") + _grams(_WORDS.findall(body[:HEAD_CHARS]), 2, "h:")
    grams += [
        "c:" + f" {w} "[i : i + n]
        for w in words
        if w.isalnum()
        for n in (3, 4, 5)
        for i in range(len(w) - n + 3)
    ]
    grams.append(_length_bucket(len(words)))
    counts: dict[int, int] = {}
    for g in grams:
        slot = _slot(g)
        counts[slot] = counts.get(slot, 0) + 1
    values = {slot: 1.0 + math.log(c) for slot, c in counts.items()}
    norm = math.sqrt(sum(v * v for v in values.values()))
    return {slot: v / norm for slot, v in values.items()} | {_slot(t): 1.0 for t in extra}


@dataclass(frozen=True)
class RefusalModel:
    """Weights over the hashed slots, an intercept, and the Platt calibration of the raw score."""

    weights: np.ndarray  # float32, BUCKETS long
    intercept: float
    scale: float  # calibrated P(refusal) = sigmoid(scale * raw + shift)
    shift: float
    version: str

    def probability(self, text: str, extra: tuple[str, ...] = ()) -> float:
        """Calibrated P(the reply refuses, fully or partly), in [0, 1]; ``extra`` as in ``features``."""
        feats = features(text, extra)
        raw = self.intercept + sum(float(self.weights[slot]) * v for slot, v in feats.items())
        z = self.scale * raw + self.shift
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def load(path: str | None = None) -> RefusalModel:
    """The model in ``path`` (an .npz written by scripts/train_refusal.py), else the shipped one."""
    if path is None:
        with resources.as_file(resources.files("slant.detect") / MODEL_FILE) as shipped:
            return _read(str(shipped))
    return _read(path)


def _read(path: str) -> RefusalModel:
    with np.load(path, allow_pickle=False) as z:
        if int(z["buckets"]) != BUCKETS:
            raise ValueError(
                f"{path}: model hashed into {int(z['buckets'])} slots, this slant uses {BUCKETS}"
            )
        return RefusalModel(
            weights=z["weights"].astype(np.float32),
            intercept=float(z["intercept"]),
            scale=float(z["scale"]),
            shift=float(z["shift"]),
            version=str(z["version"]),
        )


@cache
def shipped() -> RefusalModel:
    """The packaged model, loaded once per process."""
    return load()


ERROR_FILE = "refusal_error.json"  # scripts/measure_refusal_error.py writes it


@cache
def detector_error(policy: str) -> DetectorError | None:
    """How well ``policy`` detects a full refusal, measured on labelled replies no labeller was trained or
    tuned on (the counts and their source ship in ``refusal_error.json``); None for an unmeasured policy."""
    from slant.stats.misclassification import DetectorError

    text = resources.files("slant.detect").joinpath(ERROR_FILE).read_text(encoding="utf-8")
    measured = json.loads(text).get(policy)
    return None if measured is None else DetectorError(**measured)
