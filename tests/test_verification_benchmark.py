"""The ranking benchmark's building blocks: mutants, corrupted asserts, and a small end-to-end run."""

from __future__ import annotations

import ast
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.mutants import assert_call, mutants, perturb  # noqa: E402
from benchmarks.ranking_quality import main as ranking_main  # noqa: E402
from benchmarks.ranking_quality import spearman, top1  # noqa: E402

SOURCE = "def f(xs, k):\n    if k > 0:\n        return xs[:k]\n    else:\n        return [x + 1 for x in xs]\n"


def test_mutants_are_distinct_single_changes_that_compile() -> None:
    found = mutants(SOURCE, random.Random(0), limit=50)
    codes = [code for _, code in found]
    assert len(codes) == len(set(codes)) > 5
    assert ast.unparse(ast.parse(SOURCE)) not in codes
    assert {"compare", "off_by_one", "drop_branch", "operator"} <= {kind for kind, _ in found}
    for code in codes:
        compile(code, "<mutant>", "exec")
    # fixed seed, same mutants
    assert mutants(SOURCE, random.Random(0), limit=50) == found


def test_assert_parts_and_perturbed_values() -> None:
    assert assert_call("assert f([1, 2], 1) == [1]") == ("f([1, 2], 1)", "[1]")
    assert assert_call("assert math.isclose(f(1), 2.0)") is None
    rng = random.Random(1)
    for expected in ["3", "True", "'abc'", "[1, 2, 3]", "(1, 2)", "2.5", "None"]:
        wrong = perturb(expected, rng)
        assert wrong is not None and ast.literal_eval(wrong) != ast.literal_eval(expected)
    assert perturb("set([1])", rng) is None


def test_metrics() -> None:
    import numpy as np

    correct = np.array([True, False, False])
    assert top1(np.array([0.9, 0.1, 0.2]), correct) == 1.0
    assert top1(np.array([0.5, 0.5, 0.1]), correct) == 0.5  # a tie on top counts fractionally
    assert spearman(np.array([1.0, 1.0, 1.0]), correct) == 0.0
    assert spearman(np.array([0.9, 0.1, 0.2]), correct) > 0.8


@pytest.mark.slow
def test_small_benchmark_run_reports_every_ranker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "matrices.json"
    assert ranking_main(["--limit", "12", "--cache", str(cache), "--workers", "2"]) == 0
    assert cache.exists()
    out = capsys.readouterr().out
    for name in ["pagerank", "codet", "codet_sqrt", "max_pass", "bayes", "random"]:
        assert f"| {name} |" in out
    # the second run scores from the cache without executing anything
    assert ranking_main(["--limit", "12", "--cache", str(cache)]) == 0
    assert "executed in" not in capsys.readouterr().out
