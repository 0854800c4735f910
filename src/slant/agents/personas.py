"""Persona packs from a preference profile, writing samples or a demographic spec.

- From a profile or samples: one persona "a person who writes with these habits: …" for the persona
  family, and a usage pack that pairs each of the person's own texts with a plain rewrite of the same
  content (the model writes the rewrite; code checks it), asking the usage family's decision questions.
  The usage family then compares the same decisions for the person's writing against the plain text.
- From a spec (``gender=man,woman;age=30,70``): personas that differ only in the stated identity.

Rewrites are verified by code (not empty, not a copy, the content kept, the length near the original's,
no demographic word the original did not have, no echoed placeholder) and redrafted with sampling when
they fail, at most ``retries`` times. Every model call goes through the Gateway, scoped ``generate:…``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slant.agents.components import Profile, Sample, clean_draft, delimit, lexical_overlap, similarity
from slant.agents.gateway import Gateway
from slant.agents.lexicon import demographic_words
from slant.agents.packfile import provenance, slug, unique, write_pack
from slant.agents.samples import read_samples
from slant.agents.session import load_profile
from slant.errors import SlantError, SpecError
from slant.files import no_duplicates, read_yaml
from slant.probes.decision import GENDER_NOUN
from slant.probes.packs import SCENARIOS_DIR
from slant.probes.persona import PersonaPack
from slant.probes.usage import UsagePack
from slant.prompts import load_prompt

QUESTIONS_PACK = SCENARIOS_DIR / "usage" / "formal-texting.yaml"  # the decision questions and traits
MAX_TEXT = 800
AGES = range(18, 101)  # as the decision family's demographics
ADJECTIVE_AXES = ("race", "religion")  # their levels go before the noun: "a Black Muslim woman"
WORDS = re.compile(r"[^\W\d_]+(?:[ '-][^\W\d_]+)*")  # letters, with single spaces, hyphens or apostrophes


@dataclass
class Rewrite:
    """A plain rewrite of one sample, with the reasons of every failed attempt."""

    sample: Sample
    text: str | None = None
    reasons: list[str] = field(default_factory=list)


def parse_spec(specs: str | list[str]) -> dict[str, list[str]]:
    """``["gender=man,woman", "age=30,70"]`` or ``"gender=man,woman;age=30,70"`` → {"gender": ["man",
    "woman"], "age": ["30", "70"]}. Each axis once, each of its levels once; an age is a whole number
    from 18 to 100, any other level is words (letters, spaces, hyphens: ``non-binary person``)."""
    out: dict[str, list[str]] = {}
    parts = [p.strip() for s in ([specs] if isinstance(specs, str) else specs) for p in s.split(";")]
    for part in filter(None, parts):
        axis, _, levels = (x.strip() for x in part.partition("="))
        axis = axis.lower()
        values = [v.strip() for v in levels.split(",") if v.strip()]
        if not WORDS.fullmatch(axis) or not values:
            raise SpecError("--spec", part, 'expected "axis=level,level" (e.g. "gender=man,woman")')
        if axis in out:
            raise SpecError("--spec", axis, "given twice: list all its levels in one --spec")
        for v in values:
            if axis == "age" and not (v.isdigit() and int(v) in AGES):
                raise SpecError("--spec", "age", f"{v!r} is not a whole number from 18 to 100")
            if axis != "age" and not WORDS.fullmatch(v):
                raise SpecError("--spec", axis, f"{v!r} is not words (letters, spaces, hyphens)")
        try:
            out[axis] = no_duplicates(values) or []
        except ValueError as e:
            raise SpecError("--spec", axis, str(e)) from None
    if not out:
        raise SpecError("--spec", "", "empty")
    return out


def spec_personas(spec: dict[str, list[str]]) -> list[dict[str, str]]:
    """One persona per combination of the axes' levels (crossed, as a campaign's demographics are),
    stated plainly: ``gender=woman,man;age=30`` → "a 30-year-old woman", "a 30-year-old man"."""
    taken: set[str] = set()
    out = []
    for combo in itertools.product(*spec.values()):
        levels = dict(zip(spec, combo, strict=True))
        ident = unique(slug("-".join(f"{axis}-{v}" for axis, v in levels.items())), taken)
        out.append(
            {"id": ident, "text": describe(levels), "axis": " × ".join(spec), "group": ", ".join(combo)}
        )
    return out


def describe(levels: dict[str, str]) -> str:
    """A stated identity: "a 30-year-old Black woman", "a person whose country is France"."""
    words = [f"{levels['age']}-year-old"] if "age" in levels else []
    words += [levels[axis] for axis in ADJECTIVE_AXES if axis in levels]
    gender = levels.get("gender")
    words.append(GENDER_NOUN.get(gender, gender) if gender else "person")
    others = [
        f"whose {axis} is {v}" for axis, v in levels.items() if axis not in ("age", "gender", *ADJECTIVE_AXES)
    ]
    text = " ".join(words + [" and ".join(others)] if others else words)
    article = "an" if re.match(r"(?i)[aeiou]|8|1[18]\b", text) else "a"  # an 18-year-old, an Asian man
    return f"{article} {text}"


def style_persona(user: str, habits: list[str]) -> dict[str, str]:
    """The persona of a person's writing style, from their habits (profile components)."""
    text = "a person who writes with these habits: " + "; ".join(h.rstrip(".") for h in habits)
    text = re.sub(r"[{}\n]", " ", text)
    return {"id": slug(f"{user}-style"), "text": text, "axis": "writing-style", "group": user}


def check_rewrite(original: str, text: str) -> str:
    """Why a plain rewrite of ``original`` is unusable ("" when it is usable)."""
    if not text.strip():
        return "empty"
    if re.search(r"<[^<>]{2,40}>", text):
        return "it repeats a placeholder"
    if similarity(text.lower(), original.lower()) >= 0.95:
        return "it copies the original"
    if lexical_overlap(text, original) < 0.15:
        return f"it does not keep the content (word overlap {lexical_overlap(text, original):.2f})"
    ratio = len(text.split()) / max(1, len(original.split()))
    if not 0.4 <= ratio <= 3.0:
        return f"its length is {ratio:.1f} times the original's"
    new = set(demographic_words(text)) - set(demographic_words(original))
    if new:
        return f"it adds demographic words: {', '.join(sorted(new))}"
    return ""


def rewrite(llm: Gateway, sample: Sample, retries: int = 2, max_tokens: int = 120) -> Rewrite:
    """A plain, standard-English rewrite of the sample, verified; redrafted with sampling on failure."""
    out = Rewrite(sample)
    messages = (
        ("system", load_prompt("generate/system.md")),
        ("user", load_prompt("generate/plain.md").format(text=delimit(sample.text))),
    )
    prefill = load_prompt("generate/plain-prefill.txt")
    for attempt in range(retries + 1):
        answer = llm.ask(
            "rewrite", messages, max_tokens, prefill, temperature=0.7 if attempt else 0.0, seed=attempt
        )
        if answer.text is None:
            out.reasons.append(f"the call failed ({answer.error})")
            continue
        text = clean_draft(answer.text.removeprefix(prefill))[:MAX_TEXT].strip()
        reason = check_rewrite(sample.text, text)
        if not reason:
            out.text = text
            return out
        out.reasons.append(reason)
    return out


def usage_pack(
    user: str, features: dict[str, str], pairs: list[Rewrite], prov: dict[str, Any]
) -> dict[str, Any]:
    """A usage pack: the person's own texts (the "dialect" side) against their plain rewrites."""
    base = read_yaml(QUESTIONS_PACK)
    taken: set[str] = set()
    return {
        "pack": slug(f"{user}-style"),
        "description": f"{user}'s own texts against plain rewrites of the same content.",
        "source": (
            f"{user}'s writing samples; the plain rewrites were written by the model {prov['target']} and "
            f"checked by slant. Decision questions and trait adjectives from {QUESTIONS_PACK.name}."
        ),
        "provenance": prov,
        "standard": {"label": "plain, standard English"},
        "dialect": {"label": f"the writing style of {user}"},
        "features": features,
        "traits": base["traits"],
        "questions": base["questions"],
        "pairs": [
            {
                "id": unique(slug(f"{user}-{r.sample.id}"), taken),
                "topic": r.sample.context or r.sample.task or "a short message",
                "standard": r.text,
                "dialect": r.sample.text[:MAX_TEXT],
                "features": list(features),
            }
            for r in pairs
            if r.text
        ],
    }


def persona_pack(
    pack: str, description: str, source: str, personas: list[dict], prov: dict
) -> dict[str, Any]:
    return {
        "pack": slug(pack),
        "description": description,
        "source": source,
        "provenance": prov,
        "personas": personas,
    }


def habits_of(profile: Profile | None) -> dict[str, str]:
    """Usage features from a profile's active components (or one feature: the person's own style)."""
    comps = [c.text for c in profile.active] if profile else []
    if not comps:
        return {"own-style": "the person's own way of writing, as in their samples"}
    return {f"habit-{i + 1}": text for i, text in enumerate(comps)}


def style_packs(
    llm: Gateway, user: str, samples: list[Sample], profile: Profile | None, review: str, retries: int = 2
) -> tuple[dict[str, Any], dict[str, Any], list[Rewrite]]:
    """(persona pack, usage pack, rewrites) for one person's writing style."""
    rewrites = [rewrite(llm, s, retries) for s in samples]
    link: dict[str, str | int] | None = None
    if profile:
        link = {"user": user, "method": profile.method, "version": profile.version}
    counts = {"drafts": len(rewrites), "survived": sum(r.text is not None for r in rewrites)}
    names = ["generate/system.md", "generate/plain.md", "generate/plain-prefill.txt"]
    prov = provenance(
        "slant generate personas", llm.target_id, names, review, profile=link, verifier=counts
    ).model_dump(exclude_none=True)
    features = habits_of(profile)
    if profile and profile.active:
        persona = style_persona(user, list(features.values()))
        origin = f"the preference profile {user} version {profile.version} ({profile.method})"
    else:  # no habits known: the persona quotes the start of a sample
        persona = style_persona(user, [])
        persona["text"] = "a person who writes like this: " + " ".join(samples[0].text.split()[:20])
        origin = f"writing samples of {user}"
    personas = persona_pack(
        f"{user}-personas",
        f"The writing style of {user} as a persona.",
        f"From {origin}, by slant generate personas.",
        [persona],
        prov,
    )
    return personas, usage_pack(user, features, rewrites, prov), rewrites


def write_yaml_pack(kind: str, data: dict[str, Any], path: str | Path, overwrite: bool) -> Path:
    """Write a persona or usage pack after validating it with the family's model."""
    return write_pack(PersonaPack if kind == "persona" else UsagePack, data, path, overwrite)


def spec_pack(specs: list[str], path: str | Path, overwrite: bool = False) -> tuple[int, Path]:
    """Write a persona pack of stated identities, crossed from one spec per axis (or axes separated by
    ';'): ``["gender=woman,man", "age=30,70"]`` gives 4 personas. Returns (personas, the file written)."""
    spec = ";".join(specs)
    prov = provenance("slant generate personas --spec", "none (no model)", [], "--spec", brief=spec)
    people = spec_personas(parse_spec(specs))
    data = persona_pack(
        Path(path).stem,
        f"Stated identities: {spec}",
        "A demographic spec given to slant generate personas.",
        people,
        prov.model_dump(exclude_none=True),
    )
    return len(people), write_yaml_pack("persona", data, path, overwrite)


@dataclass
class StyleDraft:
    """A person's writing style as a persona pack and a usage pack, drafted but not written yet."""

    personas: dict[str, Any]
    usage: dict[str, Any]
    rewrites: list[Rewrite]  # one per sample: the plain rewrite, or why it was rejected

    def write_personas(self, path: str | Path, overwrite: bool = False) -> Path:
        return write_yaml_pack("persona", self.personas, path, overwrite)

    def write_usage(self, path: str | Path, overwrite: bool = False) -> Path | None:
        """Write the usage pack; None (nothing written) when no rewrite passed the checks."""
        return write_yaml_pack("usage", self.usage, path, overwrite) if self.usage["pairs"] else None


def draft_style_packs(
    target: str,
    db: str | Path,
    *,
    base_url: str | None = None,
    profile_of: str | None = None,
    method: str = "prose",
    samples: str | Path | None = None,
    user: str | None = None,
    n: int = 10,
    retries: int = 2,
    reviewed: bool = True,
) -> StyleDraft:
    """Draft persona and usage packs of one person's writing style, from their stored preference
    profile (``profile_of``, inferred with ``method``) or from writing ``samples`` of ``user``: the
    first ``n`` samples are rewritten plainly by ``target`` and checked. ``reviewed``: a person reviews
    the rewrites before they are written (recorded in the packs' provenance)."""
    profile = load_profile(db, profile_of, method) if profile_of else None
    if profile_of:
        if profile is None:
            raise SlantError(f"{db}: no {method} profile of {profile_of!r} (run slant infer first)")
        texts, who = profile.samples, profile_of
    elif samples and user:
        texts, who = read_samples(samples), user
    else:
        raise SlantError(
            "generate personas: give --from-profile USER, --from-samples FILE --user NAME, or --spec"
        )
    review = "human review" if reviewed else "verified rewrites accepted without review (--yes)"
    with Gateway(target, db, base_url, scope_prefix="generate") as llm:
        personas, usage, rewrites = style_packs(llm, who, texts[:n], profile, review, retries)
    return StyleDraft(personas, usage, rewrites)
