"""Ranking quality without an LLM: which ranker puts a correct candidate on top?

    python benchmarks/ranking_quality.py                 # build (or load the cached) matrices, score, report
    python benchmarks/ranking_quality.py --limit 60      # a quick run on the first 60 problems
    python benchmarks/ranking_quality.py --rebuild       # re-execute even if the cache exists

Sanitized MBPP problems become candidates (reference + AST mutants, wrong ones repeated) and tests
(original + corrupted asserts, some agreeing with the repeated wrong mutant); see ranking_data.py.
Executed pass matrices are cached, so rankers are re-scored in a second. Reported per ranker: top-1
(share of problems whose top candidate is truly correct; ties count fractionally) and the mean
Spearman correlation between scores and true correctness; on all problems, on the tuning half (even
task_ids; the `bayes` hyperparameters were chosen there) and on the held-out half (odd task_ids).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ranking_data import RankingProblem, build  # noqa: E402
from tools.benchmark_data import load_benchmark  # noqa: E402
from tools.verification.rankers import RANKERS, BayesParams, bayes  # noqa: E402

CACHE_DIR = ROOT / "benchmarks" / ".cache"


def top1(scores: np.ndarray, correct: np.ndarray) -> float:
    best = scores >= scores.max() - 1e-12
    return float(correct[best].mean())


def spearman(scores: np.ndarray, correct: np.ndarray) -> float:
    if np.ptp(scores) == 0:
        return 0.0  # a ranker that cannot tell candidates apart has no correlation
    return float(spearmanr(scores, correct.astype(float)).statistic)


def evaluate(problems: list[RankingProblem], score, seed: int = 0, draws: int = 1) -> dict[str, float]:
    """Mean top-1 and Spearman; a randomised scorer is averaged over `draws` draws per problem."""
    rng = np.random.default_rng(seed)
    tops, rhos = [], []
    for problem in problems:
        passed, correct = np.array(problem.passed, dtype=bool), np.array(problem.correct)
        for _ in range(draws):
            scores = np.asarray(score(passed, rng), dtype=float)
            tops.append(top1(scores, correct) / draws)
            rhos.append(spearman(scores, correct) / draws)
    n = max(len(problems), 1)
    return {"top1": float(np.sum(tops)) / n, "spearman": float(np.sum(rhos)) / n, "n": len(problems)}


def random_scores(passed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.random(passed.shape[0])


def _scorer(ranker):
    return lambda passed, _rng: ranker(passed).code_scores


def scorers(params: BayesParams | None = None) -> dict:
    table = {name: _scorer(ranker) for name, ranker in RANKERS.items()}
    if params is not None:
        table["bayes"] = lambda m, _rng: bayes(m, params).code_scores
    table["random"] = random_scores
    return table


def tune(problems: list[RankingProblem]) -> tuple[BayesParams, dict[str, float]]:
    """Grid search of the six global `bayes` hyperparameters, by top-1 then Spearman on `problems`."""
    grid = itertools.product([0.3, 0.5, 0.7], [0.02, 0.05, 0.15], [0.5, 0.7, 0.85], [0.2, 0.4],
                             [0.0, 0.5, 1.0], [0.5, 2.0, 8.0, 1e6])
    best: tuple[tuple[float, float], BayesParams] | None = None
    for p, q, pi, rho, alpha, kappa in grid:
        params = BayesParams(pass_correct_test=p, pass_wrong_test=q, test_prior=pi, code_prior=rho,
                             duplicate_power=alpha, concentration=kappa)
        result = evaluate(problems, lambda m, _rng, params=params: bayes(m, params).code_scores)
        key = (result["top1"], result["spearman"])
        if best is None or key > best[0]:
            best = (key, params)
    assert best is not None
    return best[1], {"top1": best[0][0], "spearman": best[0][1]}


SENSITIVITY = {"duplicate_power": [0.0, 0.5, 1.0], "concentration": [0.5, 2.0, 8.0, 32.0, 1e6],
               "test_prior": [0.5, 0.7, 0.85], "pass_wrong_test": [0.02, 0.05, 0.15, 0.3],
               "pass_correct_test": [0.3, 0.5, 0.7], "code_prior": [0.1, 0.2, 0.4]}


def sensitivity(problems: list[RankingProblem]) -> None:
    """One hyperparameter at a time around the defaults: how fragile is the win?"""
    print("| bayes parameter | value | top-1 | Spearman |")
    print("|---|---|---|---|")
    for key, values in SENSITIVITY.items():
        for value in values:
            params = BayesParams(**{key: value})
            r = evaluate(problems, lambda m, _rng, params=params: bayes(m, params).code_scores)
            print(f"| {key} | {value:g} | {r['top1']:.3f} | {r['spearman']:.3f} |")


def load_or_build(args: argparse.Namespace) -> list[RankingProblem]:
    cache = Path(args.cache) if args.cache else CACHE_DIR / "ranking_{seed}_{limit}_{correct_copies}.json".format(
        **settings(args))
    if cache.exists() and not args.rebuild:
        data = json.loads(cache.read_text())
        if data.get("settings") == settings(args):
            return [RankingProblem.model_validate(item) for item in data["problems"]]
    from tools.sandbox import Sandbox

    problems = load_benchmark("mbpp-sanitized")
    problems = problems[: args.limit] if args.limit else problems
    start = time.perf_counter()
    with Sandbox(workers=args.workers) as sandbox:
        built = build(problems, sandbox.run, seed=args.seed, timeout_s=args.timeout,
                      correct_copies=args.correct_copies)
    print(f"executed in {time.perf_counter() - start:.1f}s")
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"settings": settings(args), "problems": [p.model_dump() for p in built]}))
    return built


def settings(args: argparse.Namespace) -> dict:
    return {"seed": args.seed, "limit": args.limit, "timeout": args.timeout, "correct_copies": args.correct_copies}


def describe(problems: list[RankingProblem]) -> str:
    n_cand = np.mean([len(p.correct) for p in problems])
    n_tests = np.mean([len(p.original) for p in problems])
    wrong_tests = np.mean([1 - np.mean(p.original) for p in problems])
    correct = np.mean([np.mean(p.correct) for p in problems])
    return (f"{len(problems)} problems with both correct and wrong candidates; per problem on average "
            f"{n_cand:.1f} candidates ({correct:.0%} correct), {n_tests:.1f} tests ({wrong_tests:.0%} wrong)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N problems (0: all 427)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--cache", default="", help="matrix cache (default benchmarks/.cache/ranking_*.json)")
    parser.add_argument("--correct-copies", type=int, default=0,
                        help="robustness variant: also repeat the reference this many times")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--tune", action="store_true", help="re-run the hyperparameter search on the tuning half")
    parser.add_argument("--sensitivity", action="store_true",
                        help="also vary each bayes hyperparameter alone, scored on the held-out half")
    args = parser.parse_args(argv)
    everything = load_or_build(args)
    problems = [p for p in everything if any(p.correct) and not all(p.correct)]
    halves = {"all": problems, "tuning half": [p for p in problems if int(p.task_id) % 2 == 0],
              "held-out half": [p for p in problems if int(p.task_id) % 2 == 1]}
    params = None
    if args.tune:
        params, found = tune(halves["tuning half"])
        print(f"tuned on the tuning half: {params.model_dump()} -> {found}")
    print(describe(problems))
    print("| ranker | top-1 all | Spearman all | top-1 tuning | top-1 held-out | Spearman held-out |")
    print("|---|---|---|---|---|---|")
    for name, score in scorers(params).items():
        draws = 50 if name == "random" else 1
        r = {half: evaluate(items, score, seed=args.seed, draws=draws) for half, items in halves.items()}
        print(f"| {name} | {r['all']['top1']:.3f} | {r['all']['spearman']:.3f} | {r['tuning half']['top1']:.3f} "
              f"| {r['held-out half']['top1']:.3f} | {r['held-out half']['spearman']:.3f} |")
    if args.sensitivity:
        sensitivity(halves["held-out half"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
