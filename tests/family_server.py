"""A test server that answers every probe family in its own format, and the campaign that reaches every
metric the families can write (the full campaign, reshaped)."""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path
from typing import Any

import yaml
from conftest import ROOT, SCENARIOS
from openai_server import FakeOpenAIServer


def _u(*parts: Any) -> float:
    """A number in [0, 1) fixed by the parts."""
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:8], 16) / 16**8


def _user_text(body: dict[str, Any]) -> str:
    if "messages" in body:
        return [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
    return body["prompt"].rsplit("<|im_start|>user\n", 1)[-1].split("<|im_end|>")[0]


def _answer_space(user: str) -> tuple[str, ...]:
    if options := re.findall(r"^Option \d: (.+)$", user, re.M):  # fill-in, published: the option text
        return tuple(options)
    if "A, B, C or D" in user or "(A), (B), (C), (D)" in user:
        return ("A", "B", "C", "D")
    if "either A, B or C" in user:
        return ("A", "B", "C")
    if "either A or B" in user:
        return ("A", "B")
    return ("yes", "no")


class FamilyServer(FakeOpenAIServer):
    """Replies in each family's format (word lists for IAT and usage, letters for options, yes/no else),
    chosen by a hash of the prompt and seed, so every family gets usable, varied answers. ``identical``:
    the same answer distribution for every prompt and the same choice for every listed word, whoever the
    prompt is about (a group-blind model)."""

    def __init__(self, *args: Any, identical: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.identical = identical
        self.start_token = "<s>"  # listed first in an echo, as vLLM does: whole sentences can be scored

    def _u(self, *parts: Any) -> float:
        return (0.5 if len(parts) < 3 else 0.3) if self.identical else _u(*parts)

    def _completion(self, path: str, prompt: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = super()._completion(path, prompt, body)
        if body.get("echo") and not prompt.startswith("<|im_start|>"):
            return payload  # a raw-text log-likelihood read (benchmark families): the echo as it is
        user, seed = _user_text(body), body.get("seed")
        space = _answer_space(user)
        weights = {t: 0.1 + self._u(prompt, t) for t in space}
        total = sum(weights.values())
        probs = {t: 0.96 * w / total for t, w in weights.items()} | {"The": 0.04}
        word = max(space, key=weights.__getitem__)
        if (body.get("temperature") or 0) > 0:
            u, acc = self._u(prompt, seed), 0.0
            for t in space:
                acc += weights[t] / total
                if u < acc:
                    word = t
                    break
        text = self._lines(user, seed) or (f"({word})" if len(space) == 4 else word)
        choice = payload["choices"][0]
        if "message" in choice:
            choice["message"]["content"] = text
            if choice["logprobs"]:
                top = [{"token": t, "logprob": math.log(p), "bytes": None} for t, p in probs.items()]
                choice["logprobs"]["content"] = [
                    {"token": word, "logprob": 0.0, "bytes": None, "top_logprobs": top}
                ]
        else:
            choice["text"] = text
            if choice["logprobs"]:
                top = {t: math.log(p) for t, p in probs.items()}
                choice["logprobs"] |= {"tokens": [word], "token_logprobs": [top[word]], "top_logprobs": [top]}
        return payload

    def _lines(self, user: str, seed: Any) -> str | None:
        """One "word - choice" line per listed word (IAT terms, usage traits), or None."""
        if m := re.search(r'choose one of the two terms "(.+?)" or "(.+?)"', user):
            choices, words = m.groups(), re.search(r"Words: (.+)", user).group(1).split(", ")
        elif m := re.search(r"write the writer it fits, A or B: (.+?)\. Put", user):  # usage, bui-2025
            words = m.group(1).split(", ")
            return "\n".join(f"{w}: {'AB'[self._u(user, seed, w) < 0.5]}" for w in words)
        elif m := re.search(r"Adjectives: (.+)", user):
            words = m.group(1).split(", ")
            choices = ("A", "B") if '"adjective - A"' in user else ("yes", "no")
        else:
            return None
        return "\n".join(f"{w} - {choices[self._u(user, seed, w) < 0.5]}" for w in words)


def full_campaign(tmp: Path) -> Path:
    """The shipped campaign with one small probe set of every family, against the fake server."""
    c = yaml.safe_load((ROOT / "scenarios" / "campaigns" / "full.yaml").read_text())
    c |= {"target": "openai-compat/fake", "db": str(tmp / "audit.db"), "prefill": "chatml", "max_retries": 1}
    path = ROOT / "scenarios" / "campaigns"  # its paths are relative to the campaign file
    for ps in c["probes"]:
        keys = (
            "scenarios",
            "packs",
            "statements",
            "personas",
            "questions",
            "items",
            "texts",
            "data",
            "occupations",
        )
        for key in keys:
            if key in ps:
                ps[key] = str((path / ps[key]).resolve())
    out = tmp / "campaign.yaml"
    out.write_text(yaml.safe_dump(c, sort_keys=False))
    return out


def coverage_campaign(tmp: Path, sampled: bool) -> Path:
    """The shipped full campaign, reshaped so that a --limit 40 run reaches every metric its families
    can write: three races (Cochran's Q), a calibrated decision set, an association-paired usage set."""
    path = full_campaign(tmp)
    c = yaml.safe_load(path.read_text())
    decision = next(ps for ps in c["probes"] if ps["family"] == "decision")
    decision |= {"cues": ["explicit"], "conditions": ["none"], "calibration": False}
    decision["demographics"]["race"] = ["white", "Black", "Asian"]
    prior = {
        "family": "decision",
        "name": "prior",
        "scenarios": str(SCENARIOS / "decisions" / "lending.yaml"),
        "demographics": {"age": [40], "gender": ["female"], "race": ["white"]},
        "calibration": True,
    }
    usage = next(ps for ps in c["probes"] if ps["family"] == "usage")
    usage["tasks"] = ["association", "decision"]  # the limit would stop before association-paired
    fill_in = next(ps for ps in c["probes"] if ps["family"] == "fill-in")
    orders = fill_in | {"name": "fill-in-orders", "mode": "all-orders", "permutations": "rotations"}
    c["probes"] += [prior, usage | {"name": "usage-paired", "tasks": ["association-paired"]}, orders]
    for ps in c["probes"]:  # every family that can read logprobs, in one mode (attack samples by default)
        if ps["family"] not in ("decision", "attack", "pairwise", "persona", "fill-in"):
            continue
        if sampled:
            ps["scoring"] = {"sample": {"n": 2}}
        elif ps.get("mode", "published") != "published" or ps["family"] != "fill-in":
            ps["scoring"] = "logprobs"  # fill-in's published mode reads a text answer only
    path.write_text(yaml.safe_dump(c, sort_keys=False))
    return path
