"""Static checks on model-written code (never executed here): syntax, entry points, signatures, identity.

Python is checked with `ast`. JavaScript is parsed with tree-sitter's JavaScript grammar when installed,
else with `node --check` (which parses without running); if neither is available the syntax check is
skipped rather than guessed. The agents turn a failed check into `OutputRejected` with these messages.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

EXECUTABLE_LANGUAGES = ("python", "javascript")
_FENCED = re.compile(r"^\s*```[\w+#-]*[ \t]*\n(.*?)\n?[ \t]*```\s*$", re.DOTALL)
LANGUAGE_NAMES = {"python": "Python", "javascript": "JavaScript"}


def display_name(language: str) -> str:
    return LANGUAGE_NAMES.get(language, language.capitalize())


def unfence(code: str) -> str:
    """Code without the Markdown fence a model may wrap it in even inside JSON (a fence is valid JavaScript
    — template literals — so it must be removed, not merely rejected by the parser)."""
    match = _FENCED.match(code)
    return match.group(1) if match else code


def syntax_error(code: str, language: str) -> str | None:
    """A one-line description of the first syntax error, or None if the code parses."""
    if language == "python":
        try:
            ast.parse(code)
        except SyntaxError as error:
            return f"line {error.lineno}: {error.msg}"
        except ValueError as error:  # e.g. null bytes
            return str(error)
        return None
    if language == "javascript":
        return _javascript_syntax_error(code)
    return None


@lru_cache(maxsize=1)
def _javascript_parser() -> Any:
    try:
        import tree_sitter
        import tree_sitter_javascript
    except ImportError:
        return None
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_javascript.language()))


def _javascript_syntax_error(code: str) -> str | None:
    parser = _javascript_parser()
    if parser is not None:
        root = parser.parse(code.encode("utf-8")).root_node
        if not root.has_error:
            return None
        stack = [root]
        while stack:
            node = stack.pop()
            if node.type == "ERROR" or node.is_missing:
                return f"line {node.start_point[0] + 1}: unexpected or missing token near {node.text[:40]!r}"
            stack.extend(reversed(node.children))
        return "does not parse"
    node = shutil.which("node")
    if node is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "snippet.js"
        path.write_text(code, encoding="utf-8")
        done = subprocess.run([node, "--check", str(path)], capture_output=True, text=True, timeout=10)
    if done.returncode == 0:
        return None
    lines = [line for line in done.stderr.splitlines() if "Error" in line]
    return lines[0].strip() if lines else "does not parse"


def _js_definition(name: str) -> re.Pattern[str]:
    escaped = re.escape(name)
    return re.compile(
        rf"(?:\bfunction\s*\*?\s*{escaped}\s*\(|\b(?:const|let|var)\s+{escaped}\s*=|\bclass\s+{escaped}\b)"
    )


def defines(code: str, name: str, language: str) -> bool:
    """True if `code` defines `name` at the top level (function, class or assignment)."""
    if language == "python":
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            return False
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
                return True
            if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == name for target in node.targets
            ):
                return True
        return False
    return bool(_js_definition(name).search(code))


def references(code: str, name: str, language: str) -> bool:
    """True if `code` mentions `name` as an identifier (Python: a real `Name` node, not a string)."""
    if language == "python":
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            return False
        return any(isinstance(node, ast.Name) and node.id == name for node in ast.walk(tree))
    return bool(re.search(rf"(?<![\w$.]){re.escape(name)}(?![\w$])", code))


def signature(code: str, name: str, language: str) -> str:
    """The header of `name`'s definition (no body, no docstring), or "" if not found."""
    if language == "python":
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            return ""
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
                prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
                returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
                return f"{prefix} {name}({ast.unparse(node.args)}){returns}:"
        return ""
    match = _js_definition(name).search(code)
    if not match:
        return ""
    line_end = code.find("\n", match.start())
    header = code[match.start(): line_end if line_end != -1 else len(code)]
    if "=>" in header:  # an arrow function: keep the parameters, never a one-line body
        return header.split("=>", 1)[0].rstrip() + " =>"
    return header.split("{", 1)[0].rstrip()


def normalized(code: str, language: str) -> str:
    """A form that ignores formatting and comments (Python AST dump; JS without comments and spaces)."""
    if language == "python":
        try:
            return ast.dump(ast.parse(code))
        except (SyntaxError, ValueError):
            pass
    without_comments = re.sub(r"//[^\n]*|/\*.*?\*/", "", code, flags=re.DOTALL)
    return re.sub(r"\s+", "", without_comments)


def python_test_problem(test: str, entry_point: str) -> str | None:
    """Why a Python test cannot be a valid test of `entry_point`, or None if it can."""
    tree = ast.parse(test)
    if not any(isinstance(node, ast.Assert | ast.Raise) for node in ast.walk(tree)):
        return "has no assert statement"
    defined = [node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    if entry_point in defined:
        return f"redefines `{entry_point}` instead of testing it"
    if defined and all(isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Import | ast.ImportFrom)
                       for node in tree.body):
        return f"defines {', '.join(defined)} but never calls it"
    return None


def javascript_test_problem(test: str, entry_point: str) -> str | None:
    """Why a JavaScript test cannot be a valid test of `entry_point`, or None if it can."""
    if not re.search(r"\bassert\b|\bthrow\b|console\.assert", test):
        return "has no assertion (use console.assert(...) or throw an Error)"
    if _js_definition(entry_point).search(test):
        return f"redefines `{entry_point}` instead of testing it"
    return None


PLACEHOLDERS = frozenset({
    "", "n a", "na", "none", "null", "nil", "yes", "no", "true", "false", "ok", "okay", "reason", "reasons",
    "todo", "tbd", "same", "see above", "as above", "pass", "passed", "fail", "failed", "x", "string", "text",
    "analysis", "explanation", "because", "it does", "it is", "correct", "incorrect", "good", "fine"})
_WORD = re.compile(r"[a-z0-9_]+")
_JSON_ESCAPE = re.compile(r"\\[nrt]")  # examples are shown as JSON: "\n" in them is a line break, not an "n"


def _words(text: str) -> list[str]:
    return _WORD.findall(_JSON_ESCAPE.sub(" ", text).lower())


def placeholder(text: str, names: tuple[str, ...] = ()) -> bool:
    """True for a non-answer: empty, punctuation ("..."), a stock word ("n/a", "yes"), or a check's name."""
    words = " ".join(_words(text)).replace("_", " ")  # "task_name" names the field "task name"
    return words in PLACEHOLDERS or words in {name.replace("_", " ") for name in names}


def copies(text: str, source: str, min_chars: int = 20) -> bool:
    """True when `text` is, word for word, a stretch of `source` (a copied question or instruction)."""
    words = " ".join(_words(text))
    return len(words) >= min_chars and words in " ".join(_words(source))


def repeats(text: str, source: str, share: float = 0.7) -> bool:
    """True when most of `text`'s word trigrams come from `source`: an analysis restating the prompt."""
    words = _words(text)
    trigrams = {tuple(words[i:i + 3]) for i in range(len(words) - 2)}
    if len(trigrams) < 4:
        return False
    seen = _words(source)
    known = {tuple(seen[i:i + 3]) for i in range(len(seen) - 2)}
    return len(trigrams & known) / len(trigrams) >= share


def judgment_problem(reasons: dict[str, str], analysis: str, prompt: str, examples: str = "") -> str | None:
    """Why a rubric judgment has no substance (for a re-ask), or None: every check needs a reason of its
    own, not a placeholder, not the rubric's or prompt's words copied back, not the reasons of the worked
    `examples` the prompt shows; the analysis likewise, and not even loosely the example's."""
    names = tuple(reasons)
    empty = [name for name, reason in reasons.items() if placeholder(reason, names)]
    if empty:
        return f"give a real reason for {', '.join(empty)}: a placeholder such as '...' or 'n/a' is not a reason"
    # A reason patterned on the example's, with this instance's names, is a reason; a word-for-word one is not
    # (the example's reasons name its own functions, so a copy says nothing true of this instance).
    borrowed = [name for name, reason in reasons.items() if copies(reason, examples)]
    if borrowed:
        return (f"the reason for {', '.join(borrowed)} is copied from the worked example, which is about a "
                "different instance: say what you found in this one")
    copied = [name for name, reason in reasons.items() if copies(reason, prompt)]
    if copied:
        return (f"the reason for {', '.join(copied)} copies the question or the instance: say what you "
                "found in the instance")
    distinct = {" ".join(_words(reason)) for reason in reasons.values()}
    if len(reasons) >= 3 and len(distinct) == 1:
        return "every check has the same reason: give each check its own reason"
    if copies(analysis, examples) or repeats(analysis, examples):
        return "the analysis is copied from the worked example: summarise what you found in this instance"
    if placeholder(analysis) or copies(analysis, prompt) or repeats(analysis, prompt):
        return "the analysis repeats the instructions or says nothing: summarise what you found"
    return None


# How long a field wholly made of the prompt's own words may be before it counts as copied (20 characters of
# words, else): a bug description may name its kind in the prompt's words ("a wrong comparison or operator").
COPY_CHARS = {"bug_description": 40}


def copy_problem(fields: dict[str, str], answer: str, *, prompt: str, examples: str, seed_code: str = "") -> str | None:
    """Why a generator reply copies instead of writing (for a re-ask), or None.

    `fields` are the reply's prose fields (task name, instruction, ...) and its `answer` (the summary or the
    solution); `prompt` is the prompt's own wording (without the seed code and the examples), `examples` the
    examples it shows. No field may be a placeholder or a stretch of `prompt`; the answer may not copy, even
    loosely, an example; a prose answer (`seed_code` given) may not restate the code or the instruction.
    """
    names = (*fields, "task", "name", "instruction", "summary", "solution", "code", "description")
    for name, text in fields.items():
        label = name.replace("_", " ")
        if placeholder(text, names):
            return f"\"{name}\" is a placeholder ({text.strip()[:40]!r}): write the {label} itself"
        if copies(text, prompt, COPY_CHARS.get(name, 20)):
            return f"\"{name}\" copies the prompt's own words: write the {label} for the code given"
    text = fields[answer]
    if copies(text, examples) or repeats(text, examples):
        return f"\"{answer}\" is copied from an example in the prompt, which is about other code: write your own"
    if seed_code:
        if copies(text, seed_code) or repeats(text, seed_code):
            return f"\"{answer}\" repeats the code instead of describing it in prose"
        instruction = fields.get("instruction", "")
        if answer != "instruction" and (copies(text, instruction) or repeats(text, instruction)):
            return f"\"{answer}\" repeats the instruction instead of answering it"
    return None
