"""compose_prompt: reproducible, conflict-free, satisfiable; the @constraint registry."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

from judges.ifeval import (
    BASE_TASKS,
    IFEVAL_IDS,
    YES_NO_TASKS,
    Kwarg,
    build_witness,
    check_instructions,
    compose_prompt,
    conflicts_between,
    constraint,
    get_constraint,
    list_constraints,
    resolve_kwargs,
)
from judges.ifeval import registry as registry_module
from judges.ifeval._common import WORD_POOL

SEEDS = range(500)


def test_same_seed_same_prompt_and_rng_objects_advance() -> None:
    for seed in (0, 1, 42, 10_000):
        assert compose_prompt(seed) == compose_prompt(seed)
    rng_a, rng_b = random.Random(3), random.Random(3)
    first = [compose_prompt(rng_a) for _ in range(5)]
    assert first == [compose_prompt(rng_b) for _ in range(5)]
    assert len({str(x) for x in first}) > 1


def test_composed_items_have_ifeval_shape_and_valid_kwargs() -> None:
    counts: Counter[int] = Counter()
    used: Counter[str] = Counter()
    for seed in SEEDS:
        item = compose_prompt(seed)
        assert set(item) == {"prompt", "instruction_id_list", "kwargs"}
        ids, kws = item["instruction_id_list"], item["kwargs"]
        assert 1 <= len(ids) <= 3 and len(ids) == len(kws) == len(set(ids))
        for cid, kw in zip(ids, kws, strict=True):
            resolve_kwargs(cid, kw)
            used[cid] += 1
        counts[len(ids)] += 1
    assert set(counts) == {1, 2, 3}
    assert set(used) == set(IFEVAL_IDS), "every IFEval instruction is drawn at some seed"


def test_no_conflicting_pairs_over_many_seeds() -> None:
    forbidden = {
        frozenset(p) for p in [
            ("change_case:english_lowercase", "change_case:capital_word_frequency"),
            ("change_case:english_lowercase", "change_case:english_capital"),
            ("detectable_format:json_format", "detectable_format:number_bullet_lists"),
            ("detectable_format:json_format", "length_constraints:number_paragraphs"),
            ("detectable_format:json_format", "punctuation:no_comma"),
            ("combination:two_responses", "length_constraints:number_paragraphs"),
            ("combination:two_responses", "length_constraints:nth_paragraph_first_word"),
            ("length_constraints:number_paragraphs", "length_constraints:nth_paragraph_first_word"),
            ("language:response_language", "change_case:english_capital"),
            ("startend:quotation", "combination:repeat_prompt"),
        ]
    }
    for seed in SEEDS:
        ids = compose_prompt(seed)["instruction_id_list"]
        for a, b in itertools.combinations(ids, 2):
            assert not conflicts_between(a, b), (seed, a, b)
            assert frozenset((a, b)) not in forbidden
        if "detectable_format:constrained_response" in ids:
            assert ids == ["detectable_format:constrained_response"]


def test_constrained_response_only_on_yes_no_tasks() -> None:
    for seed in SEEDS:
        item = compose_prompt(seed)
        if "detectable_format:constrained_response" in item["instruction_id_list"]:
            assert any(item["prompt"].startswith(t) for t in YES_NO_TASKS)


def test_conflicts_are_symmetric() -> None:
    for a, b in itertools.product(IFEVAL_IDS, repeat=2):
        assert conflicts_between(a, b) == conflicts_between(b, a)


def test_descriptions_appear_in_the_prompt() -> None:
    item = compose_prompt(11, base_tasks=["Write a haiku about rain."], n_constraints=2)
    assert item["prompt"].startswith("Write a haiku about rain. ")
    for cid, kw in zip(item["instruction_id_list"], item["kwargs"], strict=True):
        description = get_constraint(cid).describe(resolve_kwargs(cid, kw))
        assert description in item["prompt"]


def test_repeat_prompt_repeats_the_base_task() -> None:
    for seed in range(2000):
        item = compose_prompt(seed, base_tasks=["Write a haiku about rain."])
        if "combination:repeat_prompt" in item["instruction_id_list"]:
            i = item["instruction_id_list"].index("combination:repeat_prompt")
            assert item["kwargs"][i] == {"prompt_to_repeat": "Write a haiku about rain."}
            return
    pytest.fail("repeat_prompt never drawn")


@pytest.mark.parametrize("seed_base", [0, 1_000_003])
def test_witness_response_passes_every_composed_prompt(seed_base: int) -> None:
    for seed in range(seed_base, seed_base + 500):
        item = compose_prompt(seed)
        response = build_witness(item["instruction_id_list"], item["kwargs"])
        verdict = check_instructions(response, item["instruction_id_list"], item["kwargs"],
                                     prompt=item["prompt"])
        assert verdict.passed, (seed, item, response, verdict.reason)


def test_hand_written_response_passes_a_composed_prompt() -> None:
    item = compose_prompt(5, base_tasks=["Describe a rainy afternoon."],
                          constraint_ids=["punctuation:no_comma", "detectable_format:title",
                                          "change_case:english_lowercase"], n_constraints=3)
    assert sorted(item["instruction_id_list"]) == [
        "change_case:english_lowercase", "detectable_format:title", "punctuation:no_comma"]
    response = "<<a rainy afternoon>>\nthe rain tapped on the window and the street went quiet."
    assert check_instructions(response, item["instruction_id_list"], item["kwargs"]).passed
    assert not check_instructions(response.replace(" and", ", and"), item["instruction_id_list"],
                                  item["kwargs"]).passed


def test_compose_argument_errors() -> None:
    with pytest.raises(ValueError, match="n_constraints"):
        compose_prompt(0, n_constraints=(3, 1))
    with pytest.raises(ValueError, match="n_constraints"):
        compose_prompt(0, n_constraints=0)
    with pytest.raises(ValueError, match="base_tasks"):
        compose_prompt(0, base_tasks=[])
    with pytest.raises(TypeError, match="rng_or_seed"):
        compose_prompt("seed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown instruction id"):
        compose_prompt(0, constraint_ids=["nope:nope"])


def test_base_task_pool_and_word_pool_are_clean() -> None:
    assert len(BASE_TASKS) >= 40
    assert all("," not in t for t in BASE_TASKS + YES_NO_TASKS)
    assert not [(a, b) for a in WORD_POOL for b in WORD_POOL if a != b and a in b]


@pytest.fixture
def scratch_ids():
    """Ids registered by a test are removed afterwards."""
    before = set(registry_module._REGISTRY)
    yield
    for cid in set(registry_module._REGISTRY) - before:
        del registry_module._REGISTRY[cid]


def test_constraint_decorator_registers_a_custom_checker(scratch_ids: None) -> None:
    @constraint(
        "test:min_exclamations",
        kwargs={"count": Kwarg("int", minimum=1)},
        describe=lambda kw: f"Use at least {kw['count']} exclamation marks.",
        sample=lambda rng, ctx: {"count": rng.randint(1, 3)},
    )
    def min_exclamations(response: str, count: int) -> tuple[bool, str]:
        n = response.count("!")
        return n >= count, f"{n} exclamation marks"

    assert "test:min_exclamations" in list_constraints()
    assert check_instructions("Wow!! Yes!", ["test:min_exclamations"], [{"count": 3}]).passed
    assert not check_instructions("Wow!", ["test:min_exclamations"], [{"count": 2}]).passed
    with pytest.raises(ValueError, match="test:min_exclamations.*'count'"):
        check_instructions("Wow!", ["test:min_exclamations"], [{}])
    with pytest.raises(ValueError, match="already registered"):
        constraint("test:min_exclamations")(min_exclamations)
    item = compose_prompt(1, constraint_ids=["test:min_exclamations"], n_constraints=1)
    assert item["instruction_id_list"] == ["test:min_exclamations"]
    assert "exclamation marks" in item["prompt"]
    # The default candidate set stays IFEval's, so seeds keep their meaning.
    assert all(compose_prompt(s)["instruction_id_list"][0] in IFEVAL_IDS for s in range(50))


def test_custom_checker_gets_the_prompt_and_its_errors_fail_the_instruction(
    scratch_ids: None,
) -> None:
    @constraint("test:mentions_prompt_word")
    def mentions(response: str, prompt: str | None) -> tuple[bool, str]:
        word = (prompt or "").split()[-1].strip(".")
        return word.lower() in response.lower(), f"looked for {word!r}"

    ok = check_instructions("about lighthouses", ["test:mentions_prompt_word"], [{}],
                            prompt="Write about lighthouses.")
    assert ok.passed

    @constraint("test:buggy")
    def buggy(response: str) -> tuple[bool, str]:
        raise RuntimeError("boom")

    v = check_instructions("text", ["test:buggy"], [{}])
    assert not v.passed and "checker error: RuntimeError: boom" in v.reason
