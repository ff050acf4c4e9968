"""Hygiene: filters name their reason, duplicates name the seed they duplicated, contamination the item."""

from __future__ import annotations

import pytest

from tools.benchmark_data import load_benchmark
from tools.seeds import Seed, SeedsConfig
from tools.seeds.decontam import BenchmarkIndex, decontaminate
from tools.seeds.hygiene import apply_filters, exact_dedup, near_dedup

BODY = "    total = 0\n    for value in values:\n        total += value * value\n    return total\n"


def seed(code: str, language: str = "python", name: str | None = None) -> Seed:
    return Seed(code=code, language=language, name=name, path=f"{name}.py")


def test_filters_drop_with_a_reason_per_seed() -> None:
    seeds = [seed("def f(): pass", name="short"), seed("def g(x):\n" + "    x += 1\n" * 100, name="long"),
             seed("def broken(:\n    return 'this does not parse at all'\n", name="bad"),
             seed("# auto-generated file, do not edit\ndef h():\n    return 12345678\n", name="gen"),
             seed("DATA = [" + ", ".join(["1"] * 60) + "]\n", name="data"),
             seed("def squares(values):\n" + BODY, name="ok")]
    kept, drops = apply_filters(seeds, SeedsConfig())
    assert [s.name for s in kept] == ["ok"]
    assert {d.name: d.reason for d in drops} == {"short": "too_short", "long": "too_long", "bad": "syntax_error",
                                                 "gen": "generated", "data": "minified_or_data"}


def test_length_limits_are_configurable() -> None:
    kept, _ = apply_filters([seed("def f(): pass", name="short")], SeedsConfig(min_chars=5))
    assert len(kept) == 1


def test_exact_duplicates_ignore_formatting_and_name_the_kept_seed() -> None:
    original = seed("def squares(values):\n" + BODY, name="a")
    reformatted = seed("def squares( values ):\n" + BODY.replace("    ", "  "), name="b")
    kept, drops = exact_dedup([original, reformatted])
    assert kept == [original]
    assert (drops[0].reason, drops[0].matched) == ("exact_duplicate", original.id)


def test_near_duplicates_are_found_by_minhash_and_distinct_code_is_kept() -> None:
    a = seed("def squares(values):\n    '''Sum of squares.'''\n" + BODY, name="a")
    b = seed("def square_sum(values):\n    '''Sum of squares.'''\n" + BODY, name="b")  # renamed only
    c = seed("def greet(name):\n    message = 'hello ' + name\n    print(message)\n    return len(message)\n",
             name="c")
    kept, drops = near_dedup([a, b, c], SeedsConfig(jaccard=0.7))
    assert [s.name for s in kept] == ["a", "c"]
    assert drops[0].matched == a.id and drops[0].reason == "near_duplicate"
    kept_strict, _ = near_dedup([a, b, c], SeedsConfig(jaccard=0.99))
    assert len(kept_strict) == 3


@pytest.fixture(scope="module")
def index() -> BenchmarkIndex:
    return BenchmarkIndex(["humaneval", "mbpp"], n=10)


def test_a_reformatted_humaneval_solution_is_caught_with_its_task_id(index: BenchmarkIndex) -> None:
    problem = load_benchmark("humaneval")[0]
    copied = problem.program().replace("    ", "  ").replace('"""', "'''")
    clean = seed("def squares(values):\n" + BODY, name="clean")
    kept, drops = decontaminate([seed(copied, name="copy"), clean], index)
    assert kept == [clean]
    assert drops[0].matched == "humaneval:HumanEval/0" and drops[0].reason == "contaminated"


def test_an_mbpp_solution_is_caught(index: BenchmarkIndex) -> None:
    problem = load_benchmark("mbpp")[10]
    kept, drops = decontaminate([seed(problem.solution, name="mbpp")], index)
    assert kept == [] and drops[0].matched == f"mbpp:{problem.task_id}"
