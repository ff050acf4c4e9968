"""Split source text into seed units: functions and classes with their docstrings, else the whole file.

Python goes through `ast`; other languages through tree-sitter grammars shipped as PyPI wheels
(`tree-sitter-javascript`, and the others of the seeds extra), or `tree-sitter-language-pack` when it has the grammar
locally.
A class longer than `max_chars` is split into its methods so that big classes still yield seeds.
"""

from __future__ import annotations

import ast
import textwrap
from functools import cache
from typing import Any

from tools.seeds.extra import require
from tools.seeds.models import Seed

EXTENSIONS = {
    ".py": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".tsx": "tsx", ".java": "java", ".go": "go", ".rs": "rust", ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp",
}
_GRAMMARS = {  # language -> (module, function returning the language pointer)
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"), "java": ("tree_sitter_java", "language"),
    "go": ("tree_sitter_go", "language"), "rust": ("tree_sitter_rust", "language"),
    "c": ("tree_sitter_c", "language"), "cpp": ("tree_sitter_cpp", "language"),
}
_FUNCTIONS = {"function_declaration", "generator_function_declaration", "method_definition", "method_declaration",
              "constructor_declaration", "function_item", "function_definition"}
_CLASSES = {"class_declaration", "class", "interface_declaration", "enum_declaration", "impl_item",
            "class_specifier", "struct_specifier", "trait_item"}
_VARIABLES = {"lexical_declaration", "variable_declaration"}  # const f = () => … / function () {…}
_FUNCTION_VALUES = {"arrow_function", "function_expression", "function"}


class SplitError(ValueError):
    """The file does not parse in its language (counted as a syntax error by the caller)."""


def split_source(text: str, language: str, path: str | None = None, max_chars: int = 800,
                 **provenance: Any) -> list[Seed]:
    """Seed units of one source file; raises SplitError when it does not parse."""
    if language == "python":
        units = _split_python(text, max_chars)
    else:
        parser = ts_parser(language)
        units = _split_tree_sitter(text, parser, max_chars) if parser else []
    if not units:
        lines = text.count("\n") + (0 if text.endswith("\n") else 1)
        units = [(text.strip("\n"), (1, max(lines, 1)), None, "file", None)]
    return [Seed(code=code, language=language, path=path, lines=span, name=name, kind=kind, docstring=doc,
                 **provenance) for code, span, name, kind, doc in units]


def _split_python(text: str, max_chars: int) -> list[tuple]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:  # deep nesting: not a crash
        raise SplitError(f"{type(error).__name__}: {error}") from error
    lines = text.splitlines(keepends=True)
    units: list[tuple] = []

    def segment(node: ast.stmt) -> tuple[str, tuple[int, int]]:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        end = node.end_lineno or node.lineno
        return "".join(lines[start - 1:end]).rstrip("\n"), (start, end)

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                code, span = segment(node)
                kind = "method" if prefix else "function"
                units.append((_dedent(code), span, prefix + node.name, kind, ast.get_docstring(node)))
            elif isinstance(node, ast.ClassDef):
                code, span = segment(node)
                if len(code) <= max_chars or not any(isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                                                     for child in node.body):
                    units.append((_dedent(code), span, prefix + node.name, "class", ast.get_docstring(node)))
                else:
                    visit(node.body, f"{prefix}{node.name}.")

    visit(tree.body, "")
    return units


def _dedent(code: str) -> str:
    return textwrap.dedent(code)


@cache
def ts_parser(language: str) -> Any | None:
    """A tree-sitter parser for `language`, or None when there is no grammar for it. The languages of the grammar
    wheels need their wheel (the seeds extra beyond JavaScript): when it is missing that is an error, not a
    whole-file seed in place of its functions."""
    purpose = f"splitting {language} sources"
    if language in _GRAMMARS:
        module_name, function = _GRAMMARS[language]
        tree_sitter = require("tree_sitter", purpose)
        grammar = require(module_name, purpose)
        try:
            return tree_sitter.Parser(tree_sitter.Language(getattr(grammar, function)()))
        except (AttributeError, ValueError):  # a grammar built for another tree-sitter: try the language pack
            pass
    try:  # the language pack only has grammars it downloaded before; it must not try the network here
        import tree_sitter_language_pack as pack
    except ImportError:
        return None
    try:
        return pack.get_parser(language) if language in pack.downloaded_languages() else None
    except pack.Error:
        return None


def _split_tree_sitter(text: str, parser: Any, max_chars: int) -> list[tuple]:
    data = text.encode("utf-8")
    tree = parser.parse(data)
    if tree.root_node.has_error:
        raise SplitError("tree-sitter found syntax errors")
    units: list[tuple] = []

    def node_text(node: Any) -> str:
        return data[node.start_byte:node.end_byte].decode("utf-8")

    def name_of(node: Any) -> str | None:
        named = node.child_by_field_name("name")
        if named is None and node.type in _VARIABLES:
            declarator = next((c for c in node.named_children if c.type == "variable_declarator"), None)
            named = declarator.child_by_field_name("name") if declarator else None
        if named is None:  # C/C++: the name sits inside the declarator
            declarator = node.child_by_field_name("declarator")
            while declarator is not None and declarator.child_by_field_name("declarator") is not None:
                declarator = declarator.child_by_field_name("declarator")
            named = declarator
        return node_text(named) if named is not None else None

    def comment_before(node: Any) -> str | None:
        previous = node.prev_sibling
        if previous is not None and "comment" in previous.type and previous.end_point[0] >= node.start_point[0] - 1:
            return node_text(previous)
        return None

    def is_function_variable(node: Any) -> bool:
        for declarator in node.named_children:
            value = declarator.child_by_field_name("value") if declarator.type == "variable_declarator" else None
            if value is not None and value.type in _FUNCTION_VALUES:
                return True
        return False

    def emit(node: Any, kind: str, prefix: str, outer: Any) -> None:
        start, end = outer.start_point[0] + 1, outer.end_point[0] + 1
        code = node_text(outer)
        units.append((code, (start, end), (prefix + (name_of(node) or "")) or None, kind, comment_before(outer)))

    def visit(node: Any, prefix: str, in_class: bool) -> None:
        for child in node.named_children:
            inner = child
            if child.type == "export_statement" and child.named_children:
                inner = child.named_children[0]
            if inner.type in _FUNCTIONS or (inner.type in _VARIABLES and is_function_variable(inner)):
                emit(inner, "method" if in_class else "function", prefix, child)
            elif inner.type in _CLASSES:
                if len(node_text(child)) <= max_chars:
                    emit(inner, "class", prefix, child)
                else:
                    class_name = name_of(inner)
                    visit(inner, f"{prefix}{class_name}." if class_name else prefix, True)
            elif child.named_child_count and child.type not in ("comment", "string"):
                visit(child, prefix, in_class)

    visit(tree.root_node, "", False)
    return units
