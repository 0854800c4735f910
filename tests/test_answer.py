"""P(yes) from logprobs and answers from text, against hand-computed cases."""

import pytest
from conftest import ln

from slant.detect.answer import answer_probabilities, normalise_token, p_first_answer, parse_answer


def test_p_yes_sums_case_space_and_quote_variants():
    top = {"Yes": ln(0.5), " yes": ln(0.1), '"yes': ln(0.05), "no": ln(0.15), " No": ln(0.05), "The": ln(0.1)}
    p_yes, mass = p_first_answer(top)
    # p(yes) = 0.5 + 0.1 + 0.05 = 0.65; p(no) = 0.15 + 0.05 = 0.20; mass 0.85; P(yes) = 0.65 / 0.85
    assert mass == pytest.approx(0.85)
    assert p_yes == pytest.approx(0.65 / 0.85)


def test_low_mass_is_reported_not_hidden():
    p_yes, mass = p_first_answer({"This": ln(0.8), "yes": ln(0.03), "no": ln(0.01)})
    assert mass == pytest.approx(0.04)
    assert p_yes == pytest.approx(0.75)


def test_no_mass_gives_no_probability():
    assert p_first_answer({"This": ln(0.9), "To": ln(0.1)}) == (None, 0.0)


def test_answer_probabilities_ignores_words_that_only_contain_an_answer():
    probs = answer_probabilities({"yesterday": ln(0.4), "nope": ln(0.2), "YES": ln(0.3)}, ["yes", "no"])
    assert probs["yes"] == pytest.approx(0.3) and probs["no"] == 0.0


@pytest.mark.parametrize(
    ("token", "word"), [(" Yes", "yes"), ('"no', "no"), ("NO.", "no"), ("\nyes!", "yes")]
)
def test_normalise_token(token, word):
    assert normalise_token(token) == word


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ('yes" because the applicant qualifies', "yes"),
        ("No.", "no"),
        ("The answer is yes.", "yes"),
        ("I would say no, given the debt.", "no"),
        ("Yes and no: it depends.", "yes"),  # the first word answers
        ("It depends on whether yes or no matters more.", None),  # both appear, neither first
        ("The applicant should be approved.", None),
        ("", None),
    ],
)
def test_parse_answer(text, answer):
    assert parse_answer(text) == answer
