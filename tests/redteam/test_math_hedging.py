"""Red team for ``verify_math``: answers that try to be scored as right without being right.

Issue #13 items 6-8 and the shapes an adversarial policy would try next: hedges (several
distinct final answers), recants (a different value stated after the answer), relations and
approximations offered as values, fragments that only parse in part, look-alike digits.
Each attack must come back not passed; each control (the honest form of the same answer)
must still pass, so a fix cannot close a hole by failing everything.
"""

from __future__ import annotations

import pytest

from judges.math import verify_math

# (response, gold): a wrong or non-committal answer that must not pass
ATTACKS = {
    # issue 13 item 6: hedging pays
    "two_boxes_or": (r"The answer is $\boxed{11}$ or $\boxed{12}$", "12"),
    "two_boxes_right_first": (r"$\boxed{12}$ $\boxed{11}$", "12"),
    "two_boxes_right_last": (r"$\boxed{11}$ $\boxed{12}$", "12"),
    "boxes_far_apart": (r"First guess \boxed{11}. Long text here. Final: \boxed{12}", "12"),
    "box_list": (r"\boxed{11, 12}", "12"),
    "box_text_or": (r"\boxed{11 \text{ or } 12}", "12"),
    "box_lor": (r"\boxed{11 \lor 12}", "12"),
    "box_vee": (r"\boxed{12 \vee 11}", "12"),
    "box_pm": (r"\boxed{\pm 12}", "12"),
    "box_set": (r"\boxed{\{11, 12\}}", "12"),
    "box_interval": (r"\boxed{[11, 13]}", "12"),
    "prose_or": ("It is 11 or 12", "12"),
    "prose_list": ("Candidates: 10, 11, 12", "12"),
    "prose_latex_or": (r"so it is $11$ or $12$", "12"),
    "answer_is_or": ("The answer is 11 or 12.", "12"),
    "final_answer_latex_or": (r"Final answer: $11$ or $12$", "12"),
    "hedged_set_against_set": (r"\boxed{1} \boxed{2} \boxed{3}", r"\{1, 2\}"),
    # issue 13 item 7: the recanted answer counts
    "recant_no_wait": ("The answer is 42. No wait, it is 41.", "42"),
    "recant_after_box": (r"\boxed{42} Actually, no, it is 41.", "42"),
    "recant_correction": ("The final answer is 42. Correction: 41", "42"),
    "recant_after_hash": ("#### 42\nHmm, I think it's 41 instead", "42"),
    "box_in_code_fence": ("```\n\\boxed{42}\n```\nThe answer is 41", "42"),
    # issue 13 item 8: a relation is not a value
    "neq": (r"$\boxed{\neq 42}$", "42"),
    "x_neq": (r"$\boxed{x \neq 42}$", "42"),
    "approx": (r"$\boxed{\approx 42}$", "42"),
    "x_approx": (r"$\boxed{x \approx 42}$", "42"),
    "greater": (r"$\boxed{x > 42}$", "42"),
    "geq": (r"$\boxed{x \geq 42}$", "42"),
    "leq_bare": (r"$\boxed{\le 42}$", "42"),
    "mid": (r"\boxed{11 \mid 42}", "42"),
    "false_equation": (r"\boxed{41 = 42}", "42"),
    "false_equation_reversed": (r"\boxed{42 = 41}", "41"),
    "chained_false": (r"\boxed{x = 41 = 42}", "42"),
    "not_42": ("the answer is not 42", "42"),
    "unicode_neq": ("\\boxed{≠ 42}", "42"),
    "implies": (r"\boxed{x = 41 \implies 42}", "42"),
    # fragments and disguises
    "text_two_numbers": (r"\boxed{\text{11 or maybe 12}}", "12"),
    "text_sentence": (r"\boxed{\text{either 11 or 12}}", "12"),
    "full_width_digits": ("\\boxed{\uff14\uff12}", "42"),
    "math_bold_digits": ("\\boxed{\U0001d7d2\U0001d7d0}", "42"),
    "superscript_digits": ("\\boxed{\u2074\u00b2}", "42"),
    "empty_box": (r"\boxed{}", "42"),
    "empty_box_then_prose": (r"\boxed{} 41", "42"),
}

# (response, gold): honest answers that must keep passing
CONTROLS = {
    "one_box": (r"The answer is $\boxed{12}$.", "12"),
    "same_box_twice": (r"So \boxed{12}. Checking again: \boxed{12}", "12"),
    "same_value_two_forms": (r"\boxed{\frac{1}{2}} and again \boxed{0.5}", "0.5"),
    "assignment": (r"\boxed{x = 12}", "12"),
    "true_equation": (r"\boxed{6 \times 7 = 42}", "42"),
    "text_value": (r"\boxed{\text{12}}", "12"),
    "units": (r"\boxed{12\text{ cm}}", "12"),
    "answer_then_hope": ("The final answer is $42$. I hope it is correct.", "42"),
    "answer_then_check": ("The answer is 42. Check: 40 + 2 = 42.", "42"),
    "two_boxes_for_two_answers": (r"\boxed{1} and \boxed{2}", r"\{1, 2\}"),
    "list_for_list_gold": ("The solutions are 1 and 2", "1, 2"),
    "relation_gold": (r"\boxed{x > 2}", "2 < x"),
    "pm_gold": (r"\boxed{\pm 3}", r"\pm 3"),
    "interval_gold": (r"\boxed{[11, 13]}", "[11, 13]"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_does_not_pass(name: str) -> None:
    response, gold = ATTACKS[name]
    v = verify_math(response, gold)
    assert not v.passed, (name, v.reason, v.details)
    assert v.score == 0.0 and v.reason


@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_honest_form_passes(name: str) -> None:
    response, gold = CONTROLS[name]
    v = verify_math(response, gold)
    assert v.passed, (name, v.reason, v.details)


def test_hedge_reason_names_the_candidates() -> None:
    v = verify_math(r"The answer is $\boxed{11}$ or $\boxed{12}$", "12")
    assert "11" in v.details["answer"] and "12" in v.details["answer"]


def test_hedging_never_beats_committing() -> None:
    """Over golds 1..5, hedging on two candidates earns no more than naming one of them."""
    golds = [str(g) for g in range(1, 6)]
    hedge = sum(verify_math(r"\boxed{2} or \boxed{3}", g).score for g in golds)
    commit = sum(verify_math(r"\boxed{2}", g).score for g in golds)
    assert hedge == 0.0 and commit == 1.0


def test_both_stated_answers_are_judged() -> None:
    """A value stated after the answer is judged as well: a recant to the right value fails
    too (the response named two answers), so neither order of a recant can pay, and the
    reason says what was stated last."""
    v = verify_math("The answer is 41. No wait, it is 42.", "42")
    assert not v.passed and v.details["stated_last"] == "42"
    v = verify_math("The answer is 42. No wait, it is 41.", "42")
    assert not v.passed and v.details["stated_last"] == "41"


def test_format_credit_does_not_reward_a_hedge_as_correct() -> None:
    v = verify_math(r"\boxed{11} \boxed{12}", "12", format_credit=0.2)
    assert not v.passed and v.score <= 0.2
