"""Build the ranking benchmark's pass matrices: sanitized-MBPP references, AST mutants, corrupted asserts.

Per problem (fixed seed): candidates are the reference plus up to `max_mutants` single-point mutants;
one wrong mutant is "popular" (1–3 extra copies, as LLMs repeat a mistake) and with probability 1/2 a
second wrong mutant gets one copy. Tests are the original asserts plus corrupted ones: for each
`assert f(x) == y`, with probability `agree_rate` an assert of what the popular wrong mutant returns on
that input (so the wrong tests agree with the wrong majority), and with probability `perturb_rate` an
assert of a plausible wrong value. Candidate and test order is shuffled. A candidate is truly correct
when it passes every original assert. Mutants that time out or crash on the original inputs are
dropped (they would only slow the benchmark down, and every ranker already rejects them).
`correct_copies` > 0 is a robustness variant where the reference is repeated too.
"""

from __future__ import annotations

import ast
import json
import random
from collections.abc import Callable

from pydantic import BaseModel

from benchmarks.mutants import assert_call, mutants, perturb
from tools.benchmark_data import BenchmarkProblem
from tools.sandbox.models import Check, CheckResult, Limits, Status

Execute = Callable[[list[Check]], list[CheckResult]]
MARK = "\x1eRANKING-BENCH "


class RankingProblem(BaseModel):
    """One benchmark item: the executed pass matrix and the ground truth, nothing else is needed to score."""

    task_id: str
    passed: list[list[bool]]  # candidates × tests
    correct: list[bool]  # per candidate: passes every original assert
    original: list[bool]  # per test: an original assert (else corrupted)
    agreeing: list[bool]  # per test: corrupted to agree with the popular wrong mutant
    kinds: list[str]  # per candidate: "reference", a mutation kind, or "<kind>+copy"


def split_problem(problem: BenchmarkProblem) -> tuple[str, list[str]]:
    """(setup imports, one source string per original assert)."""
    tree = ast.parse(problem.test)
    setup = [ast.get_source_segment(problem.test, s) for s in tree.body if not isinstance(s, ast.Assert)]
    asserts = [ast.get_source_segment(problem.test, s) for s in tree.body if isinstance(s, ast.Assert)]
    return "\n".join(setup), asserts


def probe_test(setup: str, asserts: list[str]) -> str:
    """Test code that reports, per original assert, whether it holds and the repr of the tested value."""
    lines = [setup, "import json as _bench_json"]
    for index, source in enumerate(asserts):
        parts = assert_call(source)
        body = (f"    _v = ({parts[0]})\n    _r = repr(_v)\n    _ok = bool(_v == ({parts[1]}))\n" if parts
                else f"    _r = None\n    {source}\n    _ok = True\n")
        lines.append(f"try:\n{body}except BaseException:\n    _r, _ok = None, False\n"
                     f"print({MARK!r} + _bench_json.dumps([{index}, _r, _ok]))")
    return "\n".join(lines) + "\n"


def parse_probe(result: CheckResult, n_asserts: int) -> list[tuple[str | None, bool]] | None:
    if result.status is not Status.PASSED:
        return None
    found: dict[int, tuple[str | None, bool]] = {}
    for line in result.stdout.split("\n"):  # not splitlines(): it splits on \x1e too
        if line.startswith(MARK):
            index, value, ok = json.loads(line[len(MARK):])
            found[index] = (value, ok)
    return [found[i] for i in range(n_asserts)] if len(found) == n_asserts else None


def _literal(value: str | None) -> bool:
    try:
        ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return value is not None and len(value) < 2000


def build(problems: list[BenchmarkProblem], execute: Execute, seed: int = 0, max_mutants: int = 8,
          agree_rate: float = 0.6, perturb_rate: float = 0.3, timeout_s: float = 3.0, correct_copies: int = 0,
          on_progress: Callable[[str], None] = print) -> list[RankingProblem]:
    # one generator per problem: a check that times out under load in one problem cannot shift the
    # random choices of every later problem
    rngs = {p.task_id: random.Random(f"{seed}/{p.task_id}") for p in problems}
    limits = Limits(timeout_s=timeout_s)
    plans = []
    for problem in problems:
        setup, asserts = split_problem(problem)
        plans.append((problem, setup, asserts, mutants(problem.solution, rngs[problem.task_id], max_mutants)))
    on_progress(f"probing {sum(len(p[3]) for p in plans)} mutants on their original asserts")
    probes = execute([Check(code=code, test=probe_test(setup, asserts), limits=limits)
                      for _, setup, asserts, found in plans for _, code in found])
    items: list[tuple[BenchmarkProblem, list[str], list[str], list[str], list[bool], list[bool], list[str]]] = []
    position = 0
    for problem, setup, asserts, found in plans:
        rng = rngs[problem.task_id]
        outcomes = [parse_probe(r, len(asserts)) for r in probes[position:position + len(found)]]
        position += len(found)
        kept = [(kind, code, out) for (kind, code), out in zip(found, outcomes, strict=True) if out is not None]
        wrong = [entry for entry in kept if not all(ok for _, ok in entry[2])]
        codes = [problem.solution] * (1 + correct_copies) + [code for _, code, _ in kept]
        kinds = ["reference"] + ["reference+copy"] * correct_copies + [kind for kind, _, _ in kept]
        tests = [f"{setup}\n{a}\n" for a in asserts]
        original, agreeing = [True] * len(asserts), [False] * len(asserts)
        if wrong:
            popular = rng.choice(wrong)
            extra = [popular] * rng.randint(1, 3)
            if len(wrong) > 1 and rng.random() < 0.5:
                extra.append(rng.choice([w for w in wrong if w is not popular]))
            codes += [code for _, code, _ in extra]
            kinds += [f"{kind}+copy" for kind, _, _ in extra]
            for source, (value, ok) in zip(asserts, popular[2], strict=True):
                parts = assert_call(source)
                if parts is None:
                    continue
                if not ok and _literal(value) and rng.random() < agree_rate:
                    tests.append(f"{setup}\nassert {parts[0]} == {value}\n")
                    original.append(False)
                    agreeing.append(True)
                wrong_value = perturb(parts[1], rng) if rng.random() < perturb_rate else None
                if wrong_value is not None:
                    tests.append(f"{setup}\nassert {parts[0]} == {wrong_value}\n")
                    original.append(False)
                    agreeing.append(False)
        items.append((problem, codes, kinds, tests, original, agreeing, []))
    distinct = [(problem, sorted(set(codes)), tests) for problem, codes, _, tests, *_ in items]
    on_progress(f"running {sum(len(c) * len(t) for _, c, t in distinct)} checks (distinct code × tests)")
    flat = execute([Check(code=code, test=test, limits=limits) for _, codes, tests in distinct
                    for code in codes for test in tests])
    results: list[RankingProblem] = []
    position = 0
    for (problem, codes, kinds, tests, original, agreeing, _), (_, unique, _) in zip(items, distinct, strict=True):
        rows: dict[str, list[bool]] = {}
        for code in unique:
            rows[code] = [r.status is Status.PASSED for r in flat[position:position + len(tests)]]
            position += len(tests)
        rng = rngs[problem.task_id]
        order = list(range(len(codes)))
        rng.shuffle(order)
        test_order = list(range(len(tests)))
        rng.shuffle(test_order)
        passed = [[rows[codes[i]][j] for j in test_order] for i in order]
        results.append(RankingProblem(
            task_id=problem.task_id, passed=passed,
            correct=[all(rows[codes[i]][j] for j in range(len(tests)) if original[j]) for i in order],
            original=[original[j] for j in test_order], agreeing=[agreeing[j] for j in test_order],
            kinds=[kinds[i] for i in order],
        ))
    return results
