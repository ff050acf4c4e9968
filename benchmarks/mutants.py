"""Single-point AST mutants of a Python program and corrupted asserts, for the ranking benchmark.

Mutation operators: operator swaps (arithmetic, comparison, boolean), off-by-one on integer constants,
constant changes, and dropped branches (an `if` keeps only its body or only its `else`).
"""

from __future__ import annotations

import ast
import copy
import random
from collections.abc import Iterator

ARITH_SWAPS: dict[type, type] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult, ast.Div: ast.Mult,
    ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd,
}
COMPARE_SWAPS: dict[type, type] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
BOOL_SWAPS: dict[type, type] = {ast.And: ast.Or, ast.Or: ast.And}


def _sites(tree: ast.AST) -> Iterator[tuple[int, str, object]]:
    """(node index in ast.walk order, mutation kind, argument) for every applicable single mutation."""
    # ast.walk order is deterministic, so an index names the same node in a deep copy
    for index, node in enumerate(ast.walk(tree)):
        if isinstance(node, ast.BinOp | ast.AugAssign) and type(node.op) in ARITH_SWAPS:
            yield index, "operator", None
        elif isinstance(node, ast.Compare):
            for position, op in enumerate(node.ops):
                if type(op) in COMPARE_SWAPS:
                    yield index, "compare", position
        elif isinstance(node, ast.BoolOp):
            yield index, "boolean", None
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            yield index, "off_by_one", 1
            yield index, "off_by_one", -1
            yield index, "constant", None
        elif isinstance(node, ast.Constant) and (isinstance(node.value, bool) or
                                                 (isinstance(node.value, str) and node.value)):
            yield index, "constant", None
        elif isinstance(node, ast.Call) and len(node.args) == 2 and not any(
                isinstance(a, ast.Starred) for a in node.args):
            yield index, "swap_arguments", None
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
            yield index, "drop_unary", None
        elif isinstance(node, ast.If):
            yield index, "drop_branch", "body"
            if node.orelse:
                yield index, "drop_branch", "orelse"


def _apply(tree: ast.AST, site: tuple[int, str, object]) -> ast.AST:
    mutant = copy.deepcopy(tree)
    index, kind, argument = site
    node = next(n for i, n in enumerate(ast.walk(mutant)) if i == index)
    if kind == "operator":
        node.op = ARITH_SWAPS[type(node.op)]()
    elif kind == "compare":
        node.ops[argument] = COMPARE_SWAPS[type(node.ops[argument])]()
    elif kind == "boolean":
        node.op = BOOL_SWAPS[type(node.op)]()
    elif kind == "off_by_one":
        node.value = node.value + argument
    elif kind == "constant" and isinstance(node.value, bool):
        node.value = not node.value
    elif kind == "swap_arguments":
        node.args = node.args[::-1]
    elif kind == "drop_unary":
        return ast.fix_missing_locations(_replace(mutant, node, node.operand))
    elif kind == "constant" and isinstance(node.value, str):
        node.value = node.value[::-1] if len(node.value) > 1 else node.value + node.value
    elif kind == "constant":
        node.value = 0 if node.value not in (0,) else 2
    elif kind == "drop_branch" and argument == "body":
        # the condition is skipped: only the else part (or nothing) remains
        node.test = ast.Constant(value=False)
    elif kind == "drop_branch":
        node.orelse = []
    return ast.fix_missing_locations(mutant)


def _replace(tree: ast.AST, old: ast.AST, new: ast.AST) -> ast.AST:
    """Put `new` where `old` sits in its parent (a field or a list entry)."""
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, field, new)
                return tree
            if isinstance(value, list) and any(item is old for item in value):
                setattr(parent, field, [new if item is old else item for item in value])
                return tree
    return tree


def mutants(source: str, rng: random.Random, limit: int) -> list[tuple[str, str]]:
    """Up to `limit` distinct mutants (kind, code) of `source`, differing from it, in random order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    original = ast.unparse(tree)
    sites = list(_sites(tree))
    rng.shuffle(sites)
    seen = {original}
    found: list[tuple[str, str]] = []
    for site in sites:
        if len(found) >= limit:
            break
        try:
            code = ast.unparse(_apply(tree, site))
            compile(code, "<mutant>", "exec")
        except (SyntaxError, ValueError, TypeError, AttributeError):
            continue
        if code not in seen:
            seen.add(code)
            found.append((site[1], code))
    return found


def assert_call(assert_source: str) -> tuple[str, str] | None:
    """For `assert <expr> == <expected>`: (expr, expected) source; None for other assert shapes."""
    try:
        statement = ast.parse(assert_source.strip()).body
    except SyntaxError:
        return None
    if len(statement) != 1 or not isinstance(statement[0], ast.Assert):
        return None
    test = statement[0].test
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
        return ast.unparse(test.left), ast.unparse(test.comparators[0])
    return None


def perturb(expected_source: str, rng: random.Random) -> str | None:
    """A plausible but wrong expected value (what a confused test writer asserts), or None."""
    try:
        value = ast.literal_eval(expected_source)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if isinstance(value, bool):
        wrong: object = not value
    elif isinstance(value, int):
        wrong = value + rng.choice([-1, 1, 2])
    elif isinstance(value, float):
        wrong = round(value * 1.5 + 1, 3)
    elif isinstance(value, str):
        wrong = value[::-1] if len(set(value)) > 1 else value + "x"
    elif isinstance(value, list | tuple) and value:
        wrong = type(value)(list(value)[:-1]) if rng.random() < 0.5 else type(value)(list(value)[::-1])
    elif value is None:
        wrong = 0
    else:
        return None
    return repr(wrong) if wrong != value else None
