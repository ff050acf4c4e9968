"""codemill-complexity: an example codemill plug-in with two agents, registered in `codemill.agents`.

- `ComplexityReviewer` (slot `reviewer`) measures the top-ranked candidate with `ast`: McCabe cyclomatic
  complexity per function and the deepest nesting of blocks, and writes one `Review` into `reviews`.
- `StaticDiscriminator` (slot `discriminator`) replaces the LLM judge with deterministic checks; its verdict
  and feedback flow through the graph exactly like the built-in discriminator's.

Agents take no constructor arguments; state and run context arrive with every call. They return a partial
state update and only write the fields they declare in `writes`.
"""

from __future__ import annotations

import ast
import builtins
from typing import Any, ClassVar

from agents.api import Review, RubricCheck, SynthesisState, TaskType, Verdict

MAX_COMPLEXITY = 10  # McCabe's own threshold
MAX_NESTING = 4
MAX_SUMMARY_WORDS = 120
LANGUAGE_NAMES = {"python": "Python", "javascript": "JavaScript"}
_BLOCKS = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.Match)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def _decisions(node: ast.AST) -> int:
    """Decision points directly inside `node` (not inside nested functions or classes)."""
    count = 0
    for child in ast.iter_child_nodes(node):
        if isinstance(child, _SCOPES) and not isinstance(child, ast.Lambda):
            continue
        if isinstance(child, ast.If | ast.For | ast.AsyncFor | ast.While | ast.IfExp | ast.ExceptHandler
                      | ast.Assert | ast.match_case):
            count += 1
        elif isinstance(child, ast.BoolOp):
            count += len(child.values) - 1
        elif isinstance(child, ast.comprehension):
            count += 1 + len(child.ifs)
        count += _decisions(child)
    return count


def _nesting(node: ast.AST, depth: int = 0) -> int:
    """The deepest chain of blocks (if/for/while/with/try/match) below `node`."""
    deepest = depth
    for child in ast.iter_child_nodes(node):
        inner = depth + 1 if isinstance(child, _BLOCKS) else depth
        deepest = max(deepest, _nesting(child, inner))
    return deepest


def measure(code: str) -> dict[str, Any]:
    """Per-function cyclomatic complexity and nesting of Python `code` (raises SyntaxError)."""
    tree = ast.parse(code)
    functions = {node.name: {"complexity": 1 + _decisions(node), "nesting": _nesting(node)}
                 for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    module = {"complexity": 1 + _decisions(tree), "nesting": _nesting(tree)}
    measured = list(functions.values()) or [module]
    return {"functions": functions, "max_complexity": max(item["complexity"] for item in measured),
            "max_nesting": max(item["nesting"] for item in measured),
            "lines": sum(1 for line in code.splitlines() if line.strip())}


class ComplexityReviewer:
    """Reviews the code a trained model would be taught: the top-ranked candidate, else the solution."""

    name: ClassVar[str] = "complexity"
    slot: ClassVar[str] = "reviewer"
    reads: ClassVar[frozenset[str]] = frozenset({"instance", "candidates", "verification"})
    writes: ClassVar[frozenset[str]] = frozenset({"reviews"})

    async def __call__(self, state: SynthesisState, ctx: Any) -> dict[str, Any]:
        if state.instance is None:
            return {}
        top = state.verification.top_candidate if state.verification is not None else None
        if top is not None and 0 <= top < len(state.candidates):
            code, target = state.candidates[top], f"candidate {top}"
        else:
            code, target = state.instance.output, "solution"
        if state.instance.language != "python":
            return {"reviews": [Review(reviewer=self.name, notes=f"{target}: only Python is measured",
                                       data={"target": target, "language": state.instance.language})]}
        try:
            metrics = measure(code)
        except SyntaxError as error:
            return {"reviews": [Review(reviewer=self.name, passed=False, data={"target": target},
                                       notes=f"{target} does not parse: {error.msg} (line {error.lineno})")]}
        passed = metrics["max_complexity"] <= MAX_COMPLEXITY and metrics["max_nesting"] <= MAX_NESTING
        notes = (f"{target}: cyclomatic complexity {metrics['max_complexity']} (limit {MAX_COMPLEXITY}), "
                 f"nesting {metrics['max_nesting']} (limit {MAX_NESTING})")
        return {"reviews": [Review(reviewer=self.name, score=float(metrics["max_complexity"]), passed=passed,
                                   notes=notes, data={"target": target, **metrics})]}


def undefined_names(tree: ast.AST) -> list[str]:
    """Names read but never bound anywhere in the module nor built in: usually a missing import."""
    bound = set(dir(builtins))
    loaded: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            bound.add(node.name)
    if "*" in bound:  # a star import may bind anything: nothing can be called undefined
        return []
    return sorted(loaded - bound)


def _check(name: str, passed: bool, reason: str) -> RubricCheck:
    return RubricCheck(name=name, passed=passed, reason=reason)


def code_checks(code: str, entry_point: str, task: TaskType, buggy_code: str) -> list[RubricCheck]:
    """Parses, defines the entry point, imports what it uses, documents its helpers; a repair changes code."""
    try:
        tree = ast.parse(code)
    except SyntaxError as error:
        return [_check("parses", False, f"does not parse: {error.msg} (line {error.lineno})")]
    checks = [_check("parses", True, "the code parses")]
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    if entry_point:
        checks.append(_check("entry_point", entry_point in defined,
                             f"`{entry_point}` is {'' if entry_point in defined else 'not '}defined at top level"))
    missing = undefined_names(tree)
    checks.append(_check("imports", not missing,
                         f"undefined names (missing imports?): {', '.join(missing)}" if missing
                         else "every name used is defined or imported"))
    undocumented = sorted(node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                          and node.name != entry_point and ast.get_docstring(node) is None)
    checks.append(_check("documented_helpers", not undocumented,
                         f"helpers without a docstring: {', '.join(undocumented)}" if undocumented
                         else "no undocumented helper"))
    if task is TaskType.REPAIR:
        changed = ast.dump(tree) != _dump(buggy_code)
        checks.append(_check("changes_code", changed, "the fix changes the code" if changed
                             else "the 'fixed' code is the buggy code"))
    return checks


def _dump(code: str) -> str:
    try:
        return ast.dump(ast.parse(code))
    except SyntaxError:
        return code


def summary_checks(summary: str) -> list[RubricCheck]:
    words = len(summary.split())
    looks_like_code = "```" in summary or any(line.lstrip().startswith(("def ", "function ", "return "))
                                              for line in summary.splitlines())
    return [_check("non_empty", words > 0, f"{words} words"),
            _check("prose", not looks_like_code, "contains code" if looks_like_code else "prose only"),
            _check("concise", words <= MAX_SUMMARY_WORDS, f"{words} words (limit {MAX_SUMMARY_WORDS})")]


class StaticDiscriminator:
    """Deterministic rubric: same inputs, same verdict, no model call."""

    name: ClassVar[str] = "static_discriminator"
    slot: ClassVar[str] = "discriminator"
    reads: ClassVar[frozenset[str]] = frozenset({"instance"})
    writes: ClassVar[frozenset[str]] = frozenset({"verdict", "feedback"})

    async def __call__(self, state: SynthesisState, ctx: Any) -> dict[str, Any]:
        instance = state.instance
        if instance is None:
            return {}
        languages = {instance.language, instance.source_language or instance.language}
        named = [LANGUAGE_NAMES.get(language, language) for language in sorted(languages)]
        stated = any(name.lower() in instance.instruction.lower() for name in named)
        checks = [_check("language_stated", stated, f"the instruction {'names' if stated else 'does not name'} "
                         f"{' or '.join(named)}")]
        if instance.task_type is TaskType.SUMMARIZATION:
            checks += summary_checks(instance.output)
        elif instance.language == "python":
            checks += code_checks(instance.output, instance.entry_point, instance.task_type, instance.buggy_code)
        verdict = Verdict(checks=checks, accepted=all(check.passed for check in checks),
                          analysis=f"{len(checks)} static checks by {self.name}")
        return {"verdict": verdict, "feedback": verdict.reasons}
