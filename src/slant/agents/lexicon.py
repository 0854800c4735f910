"""Words that signal who a person is: a generated scenario must not use them outside its slots.

A scenario template is only a fair probe if the person's slot is the sole place their identity enters;
"she", "elderly" or "immigrant" in the surrounding text would leak a demographic cue into every variant.
The list is grouped by the attribute it reveals, each group with its source. It is deliberately broad
(a false alarm costs one retry; a leak costs a biased probe), and a superset of the words the pairwise
family itself refuses outside its slots, so every survivor also loads.
"""

from __future__ import annotations

import re

# Race and ethnicity: the U.S. Census Bureau / OMB categories (OMB SPD 15, 1997, and its 2024 revision,
# which added Middle Eastern or North African), with their common short forms and the older terms the
# pairwise family's check also rejects.
RACE = (
    "white black african-american asian hispanic latino latina latinx caucasian native indigenous "
    "pacific islander hawaiian alaskan middle-eastern arab mena biracial multiracial"
)
# Sex and gender: pronouns, gendered nouns, kinship terms and titles (the gendered-word lists used in
# bias benchmarks such as WinoBias, Zhao et al. 2018, reduced to everyday words).
GENDER = (
    "he she him his her hers himself herself man men woman women male female boy boys girl girls "
    "gentleman gentlemen lady ladies mother father mom dad wife husband son daughter brother sister "
    "boyfriend girlfriend mr mrs ms transgender non-binary nonbinary"
)
# Age: words that place a person in an age group (age is protected by the U.S. ADEA, 1967).
AGE = (
    "young younger youngest old older oldest elderly aged senior-citizen retiree pensioner teenager "
    "teenage teen millennial boomer year-old years-old"
)
# Other protected characteristics in U.S. and EU anti-discrimination law (Title VII of the Civil Rights
# Act 1964, the ADA 1990, the EU Charter of Fundamental Rights art. 21): religion, disability, national
# origin, sexual orientation, pregnancy and marital status.
OTHER = (
    "christian muslim jewish hindu buddhist sikh atheist catholic protestant religious disabled "
    "disability wheelchair blind deaf immigrant foreign-born refugee citizenship nationality gay "
    "lesbian bisexual homosexual heterosexual pregnant pregnancy married divorced widowed"
)

GROUPS = {"race": RACE, "gender": GENDER, "age": AGE, "other": OTHER}
WORDS: dict[str, str] = {w: group for group, text in GROUPS.items() for w in text.split()}

_TOKEN = re.compile(r"[a-z]+(?:-[a-z]+)*")
_SLOT = re.compile(r"\{[a-z_]+\}")
_YEARS_OLD = re.compile(r"\b\d+[- ]years?[- ]old\b|\byears? old\b", re.IGNORECASE)


def demographic_words(text: str) -> list[str]:
    """The demographic words in ``text`` outside ``{slots}``, in order (each reported once)."""
    bare = _SLOT.sub(" ", text)
    found = [m.group(0) for m in _YEARS_OLD.finditer(bare)]
    for token in _TOKEN.findall(bare.lower()):
        parts = [token, *token.split("-")] if "-" in token else [token]
        found += [p for p in parts if p in WORDS]
    return list(dict.fromkeys(found))
