"""Static screening of candidate programs for verdict-forging primitives.

The sandbox runs candidate and test in one process (Python: one namespace; JavaScript: one module body),
so a candidate can try to forge its pass instead of earning it: patch the harness or the test's tools
(builtins, `console.assert`, modules), walk frames, read the completion nonce through a raw descriptor,
return an object whose `__eq__` always says yes, or stop the test from running at all. No in-process
harness is airtight, so `screen` reads the code (never runs it) and names the first such primitive it
finds. A flagged candidate is only distrusted (never `chosen`, never defines trusted tests); it still
runs. Screen the whole program that will run (HumanEval-style rows: prompt + completion).

Rules aim at zero flags on real solutions (every canonical benchmark solution is screened in the tests),
so this is a tripwire, not a proof. Known gaps: names computed from data at run time are not followed
(`getattr(obj, name)` on a non-module, `eval` of computed text unless the program also decodes data);
a dunder whose lie depends on state (`return self.ok or other`) looks honest; JavaScript's global object
reached other than through `globalThis`/`global`/`Function`/indirect `eval`/`this` of a plain function is
not traced, and the tokenizer only approximates regex-versus-division (regex text is searched too).
"""

from __future__ import annotations

import ast
import bisect
import builtins
import re
import warnings
from collections.abc import Callable, Iterator
from typing import Literal

MAX_SOURCE_CHARS = 300_000  # far beyond any real candidate; screening costs ~10 µs a character
MAX_NESTED_SCREENS = 3  # exec/eval of a constant string is screened too, this many levels deep
TOO_DEEP = "too deeply nested to screen"
Finding = tuple[int, str]  # (line, reason)


def screen(code: str | bytes, language: Literal["python", "javascript"]) -> str | None:
    """None when clean; else one short reason naming the primitive and its line, e.g.
    "replaces builtins.exec (line 3)". Never raises on hostile input (syntax errors, deep nesting, odd
    text); a Python syntax error returns None because the same interpreter will refuse to run it."""
    if isinstance(code, bytes):
        code = code.decode("utf-8", "replace")
    if len(code) > MAX_SOURCE_CHARS:
        return f"too large to screen ({len(code)} characters)"
    if language == "python":
        finding = _screen_python(code, 0)
    elif language == "javascript":
        finding = _screen_javascript(code, 0)
    else:
        raise ValueError(f"cannot screen language {language!r}")
    return None if finding is None else f"{finding[1]} (line {finding[0]})"


# ---------------------------------------------------------------- Python: what counts as a primitive

# Importing any of these is enough: frame and object-graph access, raw memory, code loading, pickles.
_FORBIDDEN_MODULES = frozenset({
    "ctypes", "cffi", "gc", "inspect", "builtins", "__builtin__", "__main__", "importlib", "imp", "pkgutil",
    "runpy", "code", "codeop", "pdb", "bdb", "trace", "profile", "cProfile", "pickle", "cPickle", "marshal",
    "shelve", "dill", "cloudpickle", "copyreg", "jsonpickle", "posix", "nt", "subprocess", "multiprocessing",
    "pty", "unittest.mock", "mock", "site", "sitecustomize", "zipimport",
})
# Private modules are the C halves of the above (`_ctypes`, `_io`, `_posixsubprocess`...); these are not.
_SAFE_PRIVATE_MODULES = frozenset({
    "__future__", "_collections_abc", "_collections", "_heapq", "_bisect", "_operator", "_functools",
    "_random", "_decimal", "_pydecimal", "_string", "_statistics", "_json", "_md5", "_sha1", "_sha256",
    "_sha512", "_hashlib", "_datetime", "_abc", "_strptime",
})
# sys: only what ordinary programs use; everything else (hooks, frames, modules, path...) is flagged.
_SYS_ALLOWED = frozenset({
    "maxsize", "maxunicode", "getsizeof", "getrecursionlimit", "setrecursionlimit", "float_info", "int_info",
    "hash_info", "float_repr_style", "version", "version_info", "hexversion", "api_version", "platform",
    "byteorder", "implementation", "intern", "stdin", "stdout", "stderr", "argv", "exit",
    "set_int_max_str_digits", "get_int_max_str_digits", "getdefaultencoding",
    "getfilesystemencoding", "flags", "copyright", "getrefcount",
})
# Raw descriptors (the completion nonce and report travel through inherited pipes) and process control.
_OS_DENIED = frozenset({
    "write", "read", "pread", "pwrite", "readv", "writev", "preadv", "pwritev", "sendfile", "splice",
    "copy_file_range", "dup", "dup2", "fdopen", "open", "openpty", "close", "closerange", "pipe", "pipe2",
    "lseek", "set_inheritable", "set_blocking", "ftruncate", "_exit", "abort", "kill", "killpg", "fork",
    "forkpty", "register_at_fork", "system", "popen", "execl", "execle", "execlp", "execlpe", "execv",
    "execve", "execvp", "execvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve",
    "spawnvp", "spawnvpe", "posix_spawn", "posix_spawnp", "memfd_create", "eventfd", "pidfd_open",
    "mkfifo", "chroot", "setuid", "seteuid", "setgid", "setegid",
})
_MODULE_DENIED: dict[str, frozenset[str]] = {
    "os": _OS_DENIED,
    "io": frozenset({"FileIO", "open_code"}),
    "types": frozenset({"CodeType", "FunctionType", "LambdaType", "FrameType", "TracebackType", "CellType"}),
    "threading": frozenset({"settrace", "setprofile", "settrace_all_threads", "setprofile_all_threads"}),
    "socket": frozenset({"fromfd", "fromshare"}),
    "traceback": frozenset({"walk_stack", "walk_tb"}),
    "asyncio": frozenset({"create_subprocess_exec", "create_subprocess_shell"}),
}
# Modules whose names are looked up dynamically (`getattr(os, name)`) only to reach something denied.
_GUARDED_MODULES = frozenset(_MODULE_DENIED) | {"sys"}
# Attribute names that are primitives on whatever object they are read from.
_DISTINCTIVE_ATTRS = frozenset({
    "f_back", "f_locals", "f_globals", "f_builtins", "f_code", "f_trace", "f_trace_lines", "tb_frame",
    "gi_frame", "cr_frame", "ag_frame", "gi_code", "cr_code", "ag_code", "__code__", "co_consts", "co_code",
    "co_names", "__globals__", "__closure__", "__builtins__", "__self__", "__subclasses__", "__bases__",
    "__base__", "__mro__", "__loader__", "__spec__", "__import__", "__traceback__", "__build_class__",
    "_getframe", "_current_frames", "_current_exceptions", "settrace", "setprofile", "gettrace",
    "getprofile", "addaudithook", "currentframe", "walk_stack", "walk_tb", "create_subprocess_exec",
    "create_subprocess_shell", "_exit", "ctypeslib", "pythonapi", "_getframemodulename", "get_stack",
})
# Identifier-like words that make a string constant suspect (`getattr(x, 'f_back')`, format-string tricks).
_STRING_WORDS = _DISTINCTIVE_ATTRS | {"builtins", "__builtin__", "ctypes", "_ctypes", "cffi"}
# Module attributes that lead back to a guarded module (`typing.sys`, `collections._sys`, `os.path.os`).
_REACHING_ATTRS = frozenset({"sys", "_sys", "os", "_os", "builtins", "posix", "_posix", "ctypes", "_ctypes",
                             "gc", "inspect", "subprocess", "_io", "importlib", "_imp", "_thread"})
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED = re.compile(r"[A-Za-z_][\w.:]*")
_FORMAT_FIELD = re.compile(r"\{[^{}]*\}")
_FD_PATH = re.compile(r"^/?proc(?:/|$)|/proc(?:/|$)|/dev/(?:fd|mem|kmem|port|tcp|udp)\b")
_COMPARISON_DUNDERS = frozenset({"__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__contains__"})
_BINARY_DUNDERS = _COMPARISON_DUNDERS | frozenset(
    f"__{side}{op}__" for op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor")
    for side in ("", "r"))
_UNARY_DUNDERS = frozenset({"__bool__", "__len__", "__abs__", "__index__", "__int__", "__float__", "__round__",
                            "__neg__", "__pos__", "__trunc__", "__floor__", "__ceil__", "__complex__"})
_ISA_DUNDERS = frozenset({"__instancecheck__", "__subclasscheck__"})
_LYING_DUNDERS = _BINARY_DUNDERS | _UNARY_DUNDERS | _ISA_DUNDERS
# Builtins a program may shadow without touching what tests compute (`input = sys.stdin.readline`).
_HARMLESS_BUILTINS = frozenset({"input", "print", "help", "exit", "quit", "copyright", "credits", "license",
                                "breakpoint"})
_BUILTIN_NAMES = (frozenset(n for n in dir(builtins) if not n.startswith("_")) - _HARMLESS_BUILTINS
                  | {"__import__", "__build_class__"})
_TEST_NAMES = frozenset({"check", "candidate", "METADATA"})  # what benchmark tests define and call
_TEST_MODULES = frozenset({"math", "cmath", "re", "random", "string", "itertools", "collections", "copy",
                           "functools", "operator", "heapq", "json", "decimal", "fractions", "statistics",
                           "hashlib", "numpy", "np", "sys", "os", "unittest", "pytest"})  # what tests import
_DECODERS = frozenset({"chr", "b64decode", "b32decode", "b16decode", "a85decode", "b85decode", "unhexlify",
                       "a2b_base64", "a2b_hex", "fromhex", "decompress", "decode"})
_DECODER_MODULES = frozenset({"base64", "binascii", "codecs", "zlib", "lzma", "bz2", "gzip"})
_OPENERS = frozenset({"open", "io.open", "codecs.open"})
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_LEAF_NODES = (ast.expr_context, ast.operator, ast.boolop, ast.unaryop, ast.cmpop)  # shared singletons
_ATTRIBUTE_FUNCS = frozenset({"getattr", "hasattr", "setattr", "delattr", "__getattribute__", "__getattr__",
                              "__setattr__", "__delattr__"})
_STRING_NODES = frozenset({ast.Constant, ast.JoinedStr, ast.BinOp, ast.Subscript, ast.Call})


def _screen_python(code: str, depth: int) -> Finding | None:
    try:
        with warnings.catch_warnings():  # the candidate's invalid escapes are not our warnings (nor, under
            warnings.simplefilter("ignore")  # `-W error`, a SyntaxError that would skip screening)
            tree = ast.parse(code)
    except (SyntaxError, ValueError, UnicodeError):  # compile() in the sandbox rejects it the same way
        return None
    except (RecursionError, MemoryError):
        return 1, TOO_DEEP
    try:
        return _PythonScreen(tree, depth).first_finding()
    except (RecursionError, MemoryError):
        return 1, TOO_DEEP


def _fold(node: ast.AST, depth: int = 0) -> str | None:
    """The constant string an expression builds ('built' + 'ins', ''.join([...]), 'x'[::-1], chr(95)), or None."""
    if depth > 40:
        return None
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str):
            return node.value
        return node.value.decode("latin-1") if isinstance(node.value, bytes) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        pieces = []  # walk the left spine iteratively: 'a' + 'b' + ... may have thousands of terms
        while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            pieces.append(node.right)
            node = node.left
        pieces.append(node)
        parts = [_fold(p, depth + 1) for p in reversed(pieces)]
        return None if None in parts else "".join(parts)  # type: ignore[arg-type]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        template = _fold(node.left, depth + 1)
        args = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
        values = [_fold(a, depth + 1) for a in args]
        return _apply(lambda: template % tuple(values)) if template is not None and None not in values else None
    if isinstance(node, ast.JoinedStr):
        parts = [_fold(v.value if isinstance(v, ast.FormattedValue) else v, depth + 1) for v in node.values]
        return None if None in parts else "".join(parts)  # type: ignore[arg-type]
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        text = _fold(node.value, depth + 1)
        bounds = [_int(b) for b in (node.slice.lower, node.slice.upper, node.slice.step)]
        if text is None or any(b is False for b in bounds) or bounds[2] == 0:
            return None
        return text[slice(*bounds)]
    if isinstance(node, ast.Call) and not node.keywords:
        if isinstance(node.func, ast.Name) and node.func.id == "chr" and len(node.args) == 1:
            value = _int(node.args[0])
            return chr(value) if isinstance(value, int) and 0 <= value < 0x110000 else None
        if isinstance(node.func, ast.Attribute):
            owner = _fold(node.func.value, depth + 1)
            if owner is None:
                return None
            if node.func.attr == "join" and len(node.args) == 1 and isinstance(node.args[0], (ast.List, ast.Tuple)):
                parts = [_fold(e, depth + 1) for e in node.args[0].elts]
                return None if None in parts else owner.join(parts)  # type: ignore[arg-type]
            args = [_fold(a, depth + 1) for a in node.args]
            if node.func.attr in ("lower", "upper", "strip", "replace", "swapcase", "format") and None not in args:
                return _apply(lambda: getattr(owner, node.func.attr)(*args))  # type: ignore[union-attr]
    return None


def _is_addition(node: ast.AST | None) -> bool:
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)


def _constant_runs(node: ast.BinOp) -> list[str]:
    """The strings that runs of constant pieces of an `a + b + ...` chain build: `x + 'f_b' + 'ack'`
    gives 'f_back' even though x is unknown."""
    pieces: list[ast.AST] = []
    while _is_addition(node):
        pieces.append(node.right)
        node = node.left  # type: ignore[assignment]
    pieces.append(node)
    runs, current = [], []
    for piece in reversed(pieces):
        text = _fold(piece)
        if text is None:
            runs.append("".join(current))
            current = []
        else:
            current.append(text)
    runs.append("".join(current))
    return [run for run in runs if run]


def _apply(operation: Callable[[], object]) -> str | None:
    """Run a string method on constants; malformed ones (`'%d' % 'x'`) simply do not fold."""
    try:
        result = operation()
    except (TypeError, ValueError, KeyError, IndexError, AttributeError):
        return None
    return result if isinstance(result, str) and len(result) <= MAX_SOURCE_CHARS else None


def _int(node: ast.AST | None) -> int | bool | None:
    """A constant int (None for an absent slice bound, False when not constant)."""
    if node is None:
        return None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _int(node.operand)
        return -value if isinstance(value, int) and value is not True and value is not False else False
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    return False


def _code_words(text: str) -> set[str]:
    """Primitive names a string hands to code: the whole string is a (dotted) name ('f_back',
    'builtins.abs'), or the name sits in a format field ('{0.__globals__}') or is private ('__import__').
    Prose that merely mentions 'builtins' is not code."""
    words = set(_WORD.findall(text)) & _STRING_WORDS
    if not words or _DOTTED.fullmatch(text.strip()):
        return words
    fields = set(_WORD.findall(" ".join(_FORMAT_FIELD.findall(text))))
    return {w for w in words if w.startswith("_") or w in fields}


def _names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _own_nodes(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node of a body, not descending into nested functions, classes or lambdas."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))


def _always_true(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return bool(node.value) and node.value is not NotImplemented
    if isinstance(node, ast.BoolOp):
        check = any if isinstance(node.op, ast.Or) else all
        return check(_always_true(v) for v in node.values)
    if isinstance(node, ast.IfExp):
        return _always_true(node.body) and _always_true(node.orelse)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return isinstance(node.operand, ast.Constant) and not node.operand.value
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        return (isinstance(node.ops[0], (ast.Eq, ast.Is, ast.LtE, ast.GtE))
                and ast.dump(node.left) == ast.dump(node.comparators[0]))
    return False


def _is_constant(node: ast.expr) -> bool:
    if isinstance(node, ast.IfExp):
        return _is_constant(node.body) and _is_constant(node.orelse)
    if isinstance(node, ast.UnaryOp):
        return _is_constant(node.operand)
    return isinstance(node, ast.Constant) or _always_true(node)


def _lie(name: str, function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> str | None:
    """Why this definition of a comparison/truth/arithmetic dunder cannot be an honest one, or None."""
    if name in _ISA_DUNDERS:
        return f"defines {name}"
    args = function.args
    params = [a.arg for a in args.posonlyargs + args.args]
    if isinstance(function, ast.Lambda):
        returns: list[ast.expr] = [function.body]
        used = _names_in(function.body)
    else:
        returns = [n.value if n.value else ast.Constant(None) for n in _own_nodes(function.body)
                   if isinstance(n, ast.Return)] or [ast.Constant(None)]
        used = set().union(*(_names_in(s) for s in function.body))
    honest = [r for r in returns if not (isinstance(r, ast.Name) and r.id == "NotImplemented")]
    if not honest:
        return None
    if all(isinstance(r, ast.Constant) for r in honest):
        return f"defines {name} that always returns {ast.unparse(honest[0])[:20]}"
    if all(_is_constant(r) for r in honest):
        return f"defines {name} that returns an always-true or constant expression"
    wanted = 2 if name in _BINARY_DUNDERS else 1
    operands = params[:wanted]
    missing = [p for p in operands if p not in used]
    if len(operands) < wanted and (args.vararg is None or args.vararg.arg not in used):
        missing.append("its operand")
    if missing:
        return f"defines {name} that ignores {missing[0]}"
    return None


class _PythonScreen:
    """One pass over a parsed program, collecting (line, reason) findings."""

    def __init__(self, tree: ast.Module, depth: int) -> None:
        self.tree, self.depth = tree, depth
        self.findings: list[tuple[int, bool, int, str]] = []  # (line, weak, end column, reason)
        self.parents: dict[int, ast.AST] = {}
        self.nodes: list[ast.AST] = []  # one iterative walk; every rule reads this list
        self.module_level: list[ast.AST] = []  # nodes outside any function, class or lambda body
        self.in_comprehension: set[int] = set()  # module-level nodes inside a comprehension's own scope
        stack: list[tuple[ast.AST, bool, bool]] = [(tree, True, False)]
        while stack:
            node, at_module, in_comprehension = stack.pop()
            self.nodes.append(node)
            if at_module:
                self.module_level.append(node)
                if in_comprehension:
                    self.in_comprehension.add(id(node))
            inside = at_module and not isinstance(node, _SCOPES)
            comprehension = in_comprehension or isinstance(node, _COMPREHENSIONS)
            for field in node._fields:
                value = getattr(node, field, None)
                for child in value if isinstance(value, list) else (value,):
                    if isinstance(child, ast.AST) and not isinstance(child, _LEAF_NODES):
                        self.parents[id(child)] = node
                        stack.append((child, inside, comprehension))
        self.covered: set[int] = set()  # string pieces already checked as part of a folded whole
        self.modules: dict[str, str] = {}  # local name → dotted module path (or module attribute)
        self.imported_modules: set[str] = set()  # names bound by `import x` (module objects)
        self.bound_elsewhere: set[str] = set()  # names also bound by parameters or assignments
        self.int_names: set[str] = set()  # names assigned an int-like value (possible descriptors)
        self.uses_decoder = False
        self._collect()

    def flag(self, node: ast.AST, reason: str, weak: bool = False) -> None:
        """Record a finding; on one line, strong ones beat `weak` ones, then the first to end wins."""
        self.findings.append((getattr(node, "lineno", 0), weak, getattr(node, "end_col_offset", 0) or 0, reason))

    def first_finding(self) -> Finding | None:
        handlers = {ast.Import: self._check_import, ast.ImportFrom: self._check_import_from,
                    ast.Attribute: self._check_attribute, ast.Name: self._check_name, ast.Call: self._check_call,
                    ast.Subscript: self._check_subscript, ast.Global: self._check_global,
                    ast.Dict: self._check_dict, ast.ClassDef: self._class_dunders}
        for node in self.nodes:
            kind = type(node)
            if kind in handlers:
                handlers[kind](node)
            if kind in _STRING_NODES:
                self._check_string(node)
        self._module_bindings()
        if not self.findings:
            return None
        line, _, _, reason = min(self.findings, key=lambda f: f[:3])
        return line, reason

    # ------------------------------------------------------------ facts gathered before the checks
    def _collect(self) -> None:
        for node in self.nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.split(".")[0]
                    self.modules[local] = alias.name if alias.asname else local
                    self.imported_modules.add(local)
                    self.uses_decoder |= alias.name.split(".")[0] in _DECODER_MODULES
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                self.uses_decoder |= node.module.split(".")[0] in _DECODER_MODULES
                for alias in node.names:
                    if alias.name != "*":
                        self.modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.arg):
                self.bound_elsewhere.add(node.arg)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                self.bound_elsewhere.add(node.id)
            elif isinstance(node, ast.Assign) and self._int_like(node.value):
                self.int_names.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif (isinstance(node, ast.Name) and node.id in _DECODERS) or (
                    isinstance(node, ast.Attribute) and node.attr in _DECODERS):
                self.uses_decoder = True

    def _int_like(self, node: ast.AST, depth: int = 0) -> bool:
        """Could this be a file descriptor number (`3`, `1 + 2`, `len('abc')`, `sys.stdout.fileno() + 2`)?"""
        if depth > 40:
            return False
        if isinstance(node, ast.Constant):
            return type(node.value) is int
        if isinstance(node, ast.BinOp):
            return self._int_like(node.left, depth + 1) and self._int_like(node.right, depth + 1)
        if isinstance(node, ast.UnaryOp):
            return self._int_like(node.operand, depth + 1)
        if isinstance(node, ast.Name):
            return node.id in self.int_names
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return node.func.id in ("int", "len", "ord", "abs", "sum", "max", "min", "round", "hash")
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "fileno")

    def _module_of(self, node: ast.AST) -> str | None:
        """The dotted module path an expression denotes (`os`, `__import__('os')`, `os.path`), or None."""
        attrs: list[str] = []
        while isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.modules:
            root = self.modules[node.id]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__"
              and node.args and (name := _fold(node.args[0])) is not None):
            root = name if len(node.args) > 3 else name.split(".")[0]
        else:
            return None
        return ".".join([root, *reversed(attrs)])

    # ------------------------------------------------------------ per-node rules
    def _check_import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(node, alias.name)

    def _check_import_from(self, node: ast.ImportFrom) -> None:
        if not node.module or node.level or self._check_module(node, node.module):
            return
        for alias in node.names:
            if alias.name == "*" and node.module in _GUARDED_MODULES:
                self.flag(node, f"imports * from {node.module}")
            elif alias.name != "*":
                self._check_dotted(node, f"{node.module}.{alias.name}")
                self._check_module(node, f"{node.module}.{alias.name}")

    def _check_dict(self, node: ast.Dict) -> None:
        for key in node.keys:
            if key is not None and (name := _fold(key)) in _LYING_DUNDERS:
                self.flag(node, f"builds a class namespace with {name}")

    def _check_module(self, node: ast.AST, dotted: str) -> bool:
        parts = dotted.split(".")
        prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        forbidden = sorted(prefixes & _FORBIDDEN_MODULES)
        if forbidden:
            self.flag(node, f"imports {forbidden[0]}")
        elif parts[0].startswith("_") and parts[0] not in _SAFE_PRIVATE_MODULES:
            self.flag(node, f"imports {parts[0]}")
        else:
            return False
        return True

    def _check_dotted(self, node: ast.AST, dotted: str) -> None:
        """Rules on a resolved `module.attr...` path."""
        parts = dotted.split(".")
        if len(parts) < 2:
            return
        head, attr = parts[0], parts[1]
        if ((head == "sys" and attr not in _SYS_ALLOWED) or attr in _MODULE_DENIED.get(head, ())
                or attr in _DISTINCTIVE_ATTRS):
            self.flag(node, f"uses {head}.{attr}")
        elif any(p in _REACHING_ATTRS for p in parts[1:]):
            at = next(i for i, p in enumerate(parts) if i and p in _REACHING_ATTRS)
            self.flag(node, f"reaches {parts[at]} through {'.'.join(parts[:at])}")
        elif attr == "__dict__":
            self.flag(node, f"uses the namespace of module {head}")

    def _check_attribute(self, node: ast.Attribute) -> None:
        if node.attr in _DISTINCTIVE_ATTRS:
            self.flag(node, f"uses .{node.attr}")
        module = self._module_of(node)
        if module is not None:
            self._check_dotted(node, module)
            self._check_module(node, module)
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                self.flag(node, f"replaces {module}")
        if isinstance(node.ctx, (ast.Store, ast.Del)) and (
                node.attr in _LYING_DUNDERS or node.attr in ("__class__", "__dict__")):
            self.flag(node, f"assigns .{node.attr}")

    def _check_name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load):
            return
        parent = self.parents.get(id(node))
        called = isinstance(parent, ast.Call) and parent.func is node
        if node.id in ("__builtins__", "__loader__", "__spec__", "__build_class__"):
            self.flag(node, f"uses {node.id}")
        elif node.id in ("exec", "compile", "__import__") and not called and node.id not in self.modules:
            self.flag(node, f"aliases {node.id}")
        elif (node.id in self.imported_modules and node.id not in self.bound_elsewhere
              and not isinstance(parent, ast.Attribute) and not self._read_only_getattr(parent, node)):
            self.flag(node, f"passes module {self.modules[node.id]} around as a value", weak=True)

    def _read_only_getattr(self, parent: ast.AST | None, node: ast.Name) -> bool:
        """The module is the object of getattr/setattr/vars/…: those calls have rules of their own."""
        if not isinstance(parent, ast.Call) or not parent.args or parent.args[0] is not node:
            return False
        func = parent.func
        return (isinstance(func, ast.Name) and func.id in _ATTRIBUTE_FUNCS | {"vars"}) or (
            isinstance(func, ast.Attribute) and func.attr in _ATTRIBUTE_FUNCS)

    def _check_call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        first = node.args[0] if node.args else None
        if isinstance(func, ast.Name) and name in ("exec", "compile", "eval") and name not in self.modules:
            self._check_code_string(node, name, first)
        elif isinstance(func, ast.Name) and name == "__import__":
            module = _fold(first) if first is not None else None
            if module is None:
                self.flag(node, "imports a computed module name")
            else:
                self._check_module(node, module)
        elif name in _ATTRIBUTE_FUNCS and node.args:
            unbound = isinstance(func, ast.Name) or (isinstance(func.value, ast.Name)  # type: ignore[attr-defined]
                                                     and func.value.id in ("object", "type"))  # type: ignore[attr-defined]
            if unbound and len(node.args) >= 2:  # getattr(os, 'write'), object.__getattribute__(os, 'write')
                self._check_dynamic_attribute(node, name, node.args[0], node.args[1])
            elif not unbound and name.startswith("__"):  # os.__getattribute__('write')
                self._check_dynamic_attribute(node, name, func.value, node.args[0])  # type: ignore[attr-defined]
        elif isinstance(func, ast.Name) and name in ("vars", "globals", "locals"):
            self._check_namespace_call(node, name, first)
        dotted = name if isinstance(func, ast.Name) else self._module_of(func)
        if dotted in _OPENERS and first is not None and self._int_like(first):
            self.flag(node, "opens a raw file descriptor")
        for keyword in node.keywords:
            if keyword.arg in ("opener", "closefd", "fileno"):
                self.flag(node, f"passes {keyword.arg}= (raw file descriptors)")
            elif keyword.arg in _LYING_DUNDERS:
                self.flag(node, f"builds a class namespace with {keyword.arg}")

    def _check_code_string(self, node: ast.Call, name: str, source: ast.expr | None) -> None:
        text = _fold(source) if source is not None else None
        if text is not None:
            if self.depth >= MAX_NESTED_SCREENS:
                self.flag(node, f"{name} nested too deep to screen")
            elif (inner := _screen_python(text, self.depth + 1)) is not None:
                self.flag(node, f"{name} of a string that {inner[1]}")
        elif name != "eval":
            self.flag(node, f"{name} of a computed string")
        elif self.uses_decoder:  # plain eval of computed text is ordinary (HumanEval/160); decoded text is not
            self.flag(node, "eval of a computed string in a program that decodes data")

    def _check_dynamic_attribute(self, node: ast.Call, func: str, owner: ast.expr, attr: ast.expr) -> None:
        module = self._module_of(owner)
        name = _fold(attr)
        writes = func in ("setattr", "delattr", "__setattr__", "__delattr__")
        if name is None:
            if module is not None and (writes or module.split(".")[0] in _GUARDED_MODULES):
                self.flag(node, f"{func} with a computed name on {module}")
            elif self.uses_decoder:
                self.flag(node, f"{func} with a computed name in a program that decodes data")
            return
        if name in _DISTINCTIVE_ATTRS:
            self.flag(node, f"{func} of {name}")
        if module is not None:
            self._check_dotted(node, f"{module}.{name}")
            if writes:
                self.flag(node, f"replaces {module}.{name}")
        if writes and (name in _LYING_DUNDERS or name in ("__class__", "__dict__")):
            self.flag(node, f"{func} of {name}")

    def _check_namespace_call(self, node: ast.Call, name: str, first: ast.expr | None) -> None:
        if name == "vars" and first is not None:
            if self._module_of(first) is not None:
                self.flag(node, f"uses vars() of module {self._module_of(first)}")
            return
        parent = self.parents.get(id(node))
        read_only = isinstance(parent, ast.Subscript) or (  # a store into it is _check_subscript's
            isinstance(parent, ast.Compare) and node in parent.comparators) or (
            isinstance(parent, ast.Attribute) and parent.attr in ("get", "keys", "items", "values", "copy")) or (
            isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id in ("eval", "len"))
        if not read_only:
            self.flag(node, f"modifies or passes on {name}()")

    def _check_subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Name) and func.id in ("globals", "locals", "vars"):
                self.flag(node, f"assigns into {func.id}()")

    def _check_global(self, node: ast.Global) -> None:
        for name in node.names:
            if name in _BUILTIN_NAMES or name in _TEST_NAMES or name in _TEST_MODULES:
                self.flag(node, f"declares {name} global (rebinds a name the tests use)")
            elif name in self.modules or name in self._definitions:
                self.flag(node, f"rebinds {name} from inside a function")

    def _check_string(self, node: ast.AST) -> None:
        parent = self.parents.get(id(node))
        if id(node) in self.covered or isinstance(parent, ast.Expr):
            return  # part of a larger string checked whole, or an inert statement string (docstring)
        if _is_addition(node):
            if _is_addition(parent):
                return  # the top of the chain checks it once
            self.covered.update(id(n) for n in ast.walk(node))  # 'f_ba' + 'ck' is one name, not two
            for text in _constant_runs(node):
                self._check_text(node, text)
            return
        text = _fold(node)
        if text is not None:
            if not isinstance(node, ast.Constant):
                self.covered.update(id(n) for n in ast.walk(node))
            self._check_text(node, text)

    def _check_text(self, node: ast.AST, text: str) -> None:
        if _FD_PATH.search(text) or text == "proc":
            self.flag(node, f"names {text[:40]!r} (process internals or raw descriptors)")
        words = _code_words(text)
        if words:
            self.flag(node, f"mentions {min(words)} in a string", weak=True)

    # ------------------------------------------------------------ whole-program rules
    @property
    def _definitions(self) -> set[str]:
        return {s.name for s in self.tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}

    def _module_bindings(self) -> None:
        """Module-level names the tests share: shadowing a builtin or redefining a function the tests call
        (HumanEval/32's test calls the prompt's `poly`) changes what the tests compute."""
        first_def: dict[str, ast.AST] = {}
        bindings = [(name, node, kind) for name, node, kind in _bindings(self.module_level)
                    if id(node) not in self.in_comprehension or isinstance(self.parents.get(id(node)), ast.NamedExpr)]
        callables = [n for _, n, kind in bindings if kind == "def" or (
            isinstance(parent := self.parents.get(id(n)), ast.Assign) and isinstance(parent.value, ast.Lambda))]
        for name, node, kind in bindings:
            # `from math import pow` keeps its meaning; a program whose only definition is `def sum` (MBPP
            # 126) defines the entry point the tests call: it fails unless that is the task's own name.
            sole_entry = kind == "def" and callables == [node]
            if name in _BUILTIN_NAMES and kind != "from" and not sole_entry:
                self.flag(node, f"shadows built-in {name} at module level")
            earlier = first_def.get(name)
            if earlier is not None and name != "_" and not self._wraps(node, name) and not _is_stub(earlier):
                self.flag(node, f"redefines {name} (first defined on line {earlier.lineno})")
            if kind == "def" and name not in first_def and not _is_overload(node):
                first_def[name] = node

    def _wraps(self, node: ast.AST, name: str) -> bool:
        """`f = cache(f)`: a rebinding that decorates the earlier definition."""
        parent = self.parents.get(id(node))
        return (isinstance(parent, ast.Assign) and isinstance(parent.value, ast.Call)
                and name in _names_in(parent.value))

    def _class_dunders(self, cls: ast.ClassDef) -> None:
        local_defs = {s.name for s in cls.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}
        for stmt in cls.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name in _LYING_DUNDERS:
                if (reason := _lie(stmt.name, stmt)) is not None:
                    self.flag(stmt, reason)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    if not (isinstance(target, ast.Name) and target.id in _LYING_DUNDERS):
                        continue
                    value = stmt.value
                    if isinstance(value, ast.Lambda):
                        if (reason := _lie(target.id, value)) is not None:
                            self.flag(stmt, reason)
                    elif not (isinstance(value, ast.Name) and value.id in local_defs) and not (
                            isinstance(value, ast.Constant) and value.value is None):
                        self.flag(stmt, f"assigns {target.id} in a class body")


def _bindings(module_level: list[ast.AST]) -> list[tuple[str, ast.AST, str]]:
    """(name, node, kind) for every module-level binding in source order; kind: def, assign, import, or
    from (`from m import name` without `as`)."""
    found: list[tuple[str, ast.AST, str]] = []
    for node in module_level:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.append((node.name, node, "def"))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            found.append((node.id, node, "assign"))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    continue
                name = alias.asname or alias.name.split(".")[0]
                plain_from = isinstance(node, ast.ImportFrom) and alias.asname is None
                found.append((name, node, "from" if plain_from else "import"))
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            found.append((node.name, node, "assign"))
        elif isinstance(node, ast.MatchMapping) and node.rest:
            found.append((node.rest, node, "assign"))
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.append((node.name, node, "assign"))
    found.sort(key=lambda f: (getattr(f[1], "lineno", 0), getattr(f[1], "col_offset", 0)))
    return found


def _is_stub(node: ast.AST) -> bool:
    body = getattr(node, "body", [])
    return all(isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
               for s in body)


def _is_overload(node: ast.AST) -> bool:
    return any(_names_in(d) & {"overload", "register", "setter", "getter", "deleter"} or (
        isinstance(d, ast.Attribute) and d.attr in ("overload", "register", "setter", "deleter"))
        for d in getattr(node, "decorator_list", []))


# ---------------------------------------------------------------- JavaScript: tokens, not a parser

_JS_KEYWORDS = frozenset({
    "break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete", "do", "else",
    "export", "extends", "finally", "for", "function", "if", "import", "in", "instanceof", "let", "new",
    "return", "static", "switch", "throw", "try", "typeof", "var", "void", "while", "with", "yield", "await",
    "async", "of", "get", "set",
})
_JS_VALUE_WORDS = frozenset({"this", "super", "true", "false", "null", "undefined", "NaN", "Infinity"})
_JS_REGEX_AFTER = frozenset({"return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw",
                             "case", "do", "else", "yield", "await", "extends"})
_JS_CONTROL = frozenset({"if", "while", "for", "with", "switch", "catch"})
_JS_PUNCT = re.compile(r">>>=|\.\.\.|===|!==|\*\*=|<<=|>>=|>>>|&&=|\|\|=|\?\?=|=>|==|!=|<=|>=|&&|\|\||\?\?"
                       r"|\?\.(?!\d)|\+\+|--|\+=|-=|\*=|/=|%=|&=|\|=|\^=|\*\*|<<|>>|.", re.S)
_JS_ASSIGN = frozenset({"=", "+=", "-=", "*=", "/=", "%=", "**=", "<<=", ">>=", ">>>=", "&=", "|=", "^=",
                        "&&=", "||=", "??="})
_JS_LINE_BREAKS = "\n\r\u2028\u2029"
_JS_BREAK = re.compile(r"\r\n?|[\n\u2028\u2029]")
_JS_SPACE = re.compile(r"[\s\ufeff]+")
_JS_NUMBER = re.compile(r"\.?[0-9][\w.]*")
# Spaces, plain ASCII names (not followed by an escape or a non-ASCII identifier part) and numbers.
_JS_FAST = re.compile(r"(?P<space>[ \t\n]+)|(?P<name>[A-Za-z_$][\w$]*+)(?![\\\x80-\U0010ffff])|"
                      r"(?P<num>[0-9][\w.]*)", re.ASCII)
# Built-in globals the tests (and the harness's `console.assert`) rely on: never mutated, never shadowed.
_JS_GLOBALS = frozenset({
    "console", "Math", "JSON", "Object", "Array", "String", "Number", "Boolean", "Symbol", "Reflect", "Promise",
    "Error", "TypeError", "RangeError", "SyntaxError", "Function", "Date", "RegExp", "Map", "Set", "WeakMap",
    "WeakSet", "BigInt", "Buffer", "Intl", "parseInt", "parseFloat", "isNaN", "isFinite", "setTimeout",
    "setInterval", "setImmediate", "queueMicrotask", "structuredClone", "ArrayBuffer", "DataView", "Int8Array",
    "Uint8Array", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "Float32Array", "Float64Array",
    "BigInt64Array", "BigUint64Array", "require", "undefined", "NaN", "Infinity", "Proxy",
})
_JS_SOFT_GLOBALS = frozenset({"process", "global", "globalThis", "window", "self", "module"})  # may be user names
_JS_PROCESS_SAFE = frozenset({"env", "version", "versions", "platform", "arch", "hrtime", "nextTick",
                              "memoryUsage", "cpuUsage", "uptime", "release"})
_JS_MODULE_SAFE = frozenset({"exports", "id", "filename", "loaded", "path"})
_JS_NODE_BUILTINS = frozenset({
    "_http_agent", "_http_client", "_http_common", "_http_incoming", "_http_outgoing", "_http_server",
    "_stream_duplex", "_stream_passthrough", "_stream_readable", "_stream_transform", "_stream_wrap",
    "_stream_writable", "_tls_common", "_tls_wrap", "assert", "async_hooks", "buffer", "child_process", "cluster",
    "console", "constants", "crypto", "dgram", "diagnostics_channel", "dns", "domain", "events", "fs", "http",
    "http2", "https", "inspector", "module", "net", "os", "path", "perf_hooks", "process", "punycode",
    "querystring", "readline", "repl", "stream", "string_decoder", "sys", "timers", "tls", "trace_events", "tty",
    "url", "util", "v8", "vm", "wasi", "worker_threads", "zlib", "test", "sea", "sqlite",
})
_JS_NODE_ALLOWED = frozenset({"assert", "assert/strict", "util", "util/types", "crypto", "buffer",
                              "string_decoder", "events", "path", "path/posix", "url", "querystring", "punycode",
                              "readline", "timers"})
_JS_FORBIDDEN_PROPS = frozenset({"__proto__", "caller", "callee", "prepareStackTrace", "_linkedBinding",
                                 "mainModule", "__defineGetter__", "__defineSetter__", "__lookupGetter__",
                                 "__lookupSetter__", "toPrimitive", "hasInstance", "getPrototypeOf"})
_JS_REACHING_PROPS = frozenset({"console", "process", "globalThis", "global", "require", "Function"})
_JS_DECODERS = frozenset({"atob", "fromCharCode", "fromCodePoint", "unescape", "Buffer"})
_JS_DEFINERS = {"Object": frozenset({"defineProperty", "defineProperties", "assign", "setPrototypeOf"}),
                "Reflect": frozenset({"set", "defineProperty", "setPrototypeOf", "deleteProperty"})}
_JS_REGEX_SMELL = re.compile(r"\b(?:process|require|globalThis|constructor|__proto__|console)\b")


class _Tok:
    """kind: name, num, str (decoded), tpl (part of a template with substitutions), regex or punct."""

    __slots__ = ("computed", "kind", "line", "text")

    def __init__(self, kind: str, text: str, line: int, computed: bool = False) -> None:
        self.kind, self.text, self.line, self.computed = kind, text, line, computed

    def is_(self, text: str) -> bool:
        return self.kind == "punct" and self.text == text


class _JsTokenizer:
    """Comments dropped, string and template text decoded, identifier escapes (`\\u0070rocess`) resolved,
    regex literals told from division by the previous token and the bracket that closed before it.
    Also records what matters to the harness's `code + test` concatenation: a top-level `return`, text
    left open at the end, unbalanced brackets."""

    def __init__(self, source: str) -> None:
        self.src, self.i = source, 0
        self.breaks = [m.start() for m in _JS_BREAK.finditer(source)]
        self.tokens: list[_Tok] = []
        self.problems: list[tuple[int, str]] = []
        self.stack: list[str] = []  # paren(-control, -fn), bracket, block, func(-plain), object, template(-open)
        self.functions: list[str] = []  # the func entries of the stack alone: `return` and `this` ask it
        self.last_paren, self.last_brace = "paren", "block"
        self._run()

    def _emit(self, kind: str, text: str, line: int | None = None) -> None:
        self.tokens.append(_Tok(kind, text, self.line if line is None else line))

    @property
    def line(self) -> int:
        return bisect.bisect_left(self.breaks, self.i) + 1

    def _advance_to(self, end: int) -> None:
        self.i = end

    def _run(self) -> None:
        src, n = self.src, len(self.src)
        while self.i < n:
            fast = _JS_FAST.match(src, self.i)
            if fast is not None:  # the common tokens, one regex match each
                if fast.lastgroup == "name":
                    self._plain_name(fast.group())
                elif fast.lastgroup == "num":
                    self._emit("num", fast.group())
                self._advance_to(fast.end())
                continue
            ch = src[self.i]
            if ch.isspace() or ch == "\ufeff":
                self._advance_to(_JS_SPACE.match(src, self.i).end())  # type: ignore[union-attr]
            elif src.startswith("//", self.i) or (self.i == 0 and src.startswith("#!")):
                self._advance_to(self._line_end(self.i))
            elif src.startswith("/*", self.i):
                end = src.find("*/", self.i + 2)
                if end < 0:
                    self.problems.append((self.line, "leaves a comment open at the end"))
                self._advance_to(n if end < 0 else end + 2)
            elif ch in "'\"":
                self._string(ch)
            elif ch == "`":
                self.stack.append("template-open")
                self._template()
            elif ch == "}" and self.stack and self.stack[-1] == "template":
                self._template()
            elif ch.isalpha() or ch in "_$\\" or ord(ch) > 127:
                self._name()
            elif ch.isdigit() or (ch == "." and src[self.i + 1:self.i + 2].isdigit()):
                match = _JS_NUMBER.match(src, self.i)
                self._emit("num", match.group())  # type: ignore[union-attr]
                self._advance_to(match.end())  # type: ignore[union-attr]
            elif ch == "/" and self._regex_allowed() and self._regex():
                pass
            else:
                text = _JS_PUNCT.match(src, self.i).group()  # type: ignore[union-attr]
                self._punct(text)
                self._advance_to(self.i + len(text))
        if self.stack:
            opened = self.stack[-1]
            self.problems.append((self.line, "leaves a template open at the end" if "template" in opened
                                  else f"leaves a {opened.split('-')[0]} open at the end"))

    def _line_end(self, start: int) -> int:
        ends = [p for p in (self.src.find(c, start) for c in _JS_LINE_BREAKS) if p >= 0]
        return min(ends) if ends else len(self.src)

    def _escape(self, j: int) -> tuple[str, int]:
        """Decode the escape starting at src[j] == '\\'; returns (text, next index)."""
        src = self.src
        c = src[j + 1:j + 2]
        if c == "u" and src[j + 2:j + 3] == "{":
            end = src.find("}", j + 3)
            digits = src[j + 3:end] if end > 0 else ""
            if digits and all(d in "0123456789abcdefABCDEF" for d in digits) and int(digits, 16) < 0x110000:
                return chr(int(digits, 16)), end + 1
            return "", j + 2
        if c in ("u", "x"):
            width = 4 if c == "u" else 2
            digits = src[j + 2:j + 2 + width]
            if len(digits) == width and all(d in "0123456789abcdefABCDEF" for d in digits):
                return chr(int(digits, 16)), j + 2 + width
            return c, j + 2
        if c in _JS_LINE_BREAKS:
            return "", j + (3 if src[j + 1:j + 3] == "\r\n" else 2)
        if c.isdigit() and c < "8":
            match = re.compile(r"[0-7]{1,3}").match(src, j + 1)
            return chr(int(match.group(), 8) & 0xFF), match.end()  # type: ignore[union-attr]
        return {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}.get(c, c), j + 2

    def _string(self, quote: str) -> None:
        src, j, out, line = self.src, self.i + 1, [], self.line
        while j < len(src) and src[j] != quote and src[j] not in "\n\r":
            if src[j] == "\\":
                text, j = self._escape(j)
                out.append(text)
            else:
                out.append(src[j])
                j += 1
        if j >= len(src) or src[j] != quote:
            self.problems.append((line, "leaves a string open"))
        self._advance_to(min(j + 1, len(src)))
        self._emit("str", "".join(out), line)

    def _template(self) -> None:
        """Read template text from a backtick or a `}` closing `${`, up to the next `${` or backtick."""
        fresh = self.stack.pop() == "template-open"
        src, j, out, line = self.src, self.i + 1, [], self.line
        while j < len(src) and src[j] != "`" and not src.startswith("${", j):
            if src[j] == "\\":
                text, j = self._escape(j)
                out.append(text)
            else:
                out.append(src[j])
                j += 1
        if j >= len(src):
            self.problems.append((line, "leaves a template open at the end"))
            self._advance_to(len(src))
        elif src[j] == "`":
            self._advance_to(j + 1)
        else:
            self._advance_to(j + 2)
            self.stack.append("template")
        whole = fresh and j < len(src) and src[j] == "`"
        self._emit("str" if whole else "tpl", "".join(out), line)

    def _name(self) -> None:
        src, j, out = self.src, self.i, []
        while j < len(src):
            c = src[j]
            if c == "\\" and src[j + 1:j + 2] == "u":
                text, j = self._escape(j)
                out.append(text)
            elif c.isalnum() or c in "_$" or (ord(c) > 127 and not c.isspace() and c not in "\u2028\u2029\ufeff"):
                out.append(c)
                j += 1
            else:
                break
        if j == self.i:  # a lone backslash or the like: keep going
            self._punct(src[j])
            j += 1
        else:
            self._plain_name("".join(out))
        self._advance_to(j)

    def _plain_name(self, name: str) -> None:
        if name == "return" and not self.functions:
            self.problems.append((self.line, "returns from the module body, so the tests never run"))
        self._emit("name", name)
        if name == "this" and self.functions and self.functions[-1] == "func-plain":
            self.tokens[-1].computed = True  # marks `this` of a plain function: the global object when sloppy

    def _prev(self) -> _Tok | None:
        return self.tokens[-1] if self.tokens else None

    def _regex_allowed(self) -> bool:
        prev = self._prev()
        if prev is None:
            return True
        if prev.kind == "name":
            return prev.text in _JS_REGEX_AFTER
        if prev.kind != "punct":
            return False
        if prev.text == ")":
            return self.last_paren == "paren-control"
        if prev.text == "}":
            return self.last_brace in ("block", "func", "func-plain")
        return prev.text not in ("]", "++", "--")

    def _regex(self) -> bool:
        src, j, in_class = self.src, self.i + 1, False
        while j < len(src) and src[j] not in _JS_LINE_BREAKS:
            c = src[j]
            if c == "\\":
                j += 2
                continue
            if c == "[":
                in_class = True
            elif c == "]":
                in_class = False
            elif c == "/" and not in_class:
                end = re.compile(r"[\w$]*").match(src, j + 1).end()  # type: ignore[union-attr]
                self._emit("regex", src[self.i + 1:j])
                self._advance_to(end)
                return True
            j += 1
        return False

    def _punct(self, text: str) -> None:
        prev = self._prev()
        if text == "(":
            control = prev is not None and prev.kind == "name" and (prev.text in _JS_CONTROL or (
                prev.text == "await" and len(self.tokens) > 1 and self.tokens[-2].text == "for"))
            recent = [t.text for t in self.tokens[-3:]]
            plain = "function" in recent and "=>" not in recent and "." not in recent[-1:]
            self.stack.append("paren-control" if control else "paren-fn" if plain else "paren")
        elif text == "[":
            self.stack.append("bracket")
        elif text == "{":
            self.stack.append(self._brace_kind(prev))
            if self.stack[-1].startswith("func"):
                self.functions.append(self.stack[-1])
        elif text in ")]}":
            expected = {")": ("paren", "paren-control", "paren-fn"), "]": ("bracket",),
                        "}": ("block", "func", "func-plain", "object")}[text]
            if not self.stack or self.stack[-1] not in expected:
                self.problems.append((self.line, f"closes a {text!r} it never opened"))
            else:
                closed = self.stack.pop()
                if closed.startswith("func"):
                    self.functions.pop()
                if text == ")":
                    self.last_paren = closed
                elif text == "}":
                    self.last_brace = closed
        self._emit("punct", text)

    def _brace_kind(self, prev: _Tok | None) -> str:
        if prev is None or (prev.kind == "punct" and prev.text in (";", "{", "}")):
            return "block"
        if prev.kind == "punct" and prev.text == ")":
            return {"paren-control": "block", "paren-fn": "func-plain"}.get(self.last_paren, "func")
        if prev.kind == "punct" and prev.text == "=>":
            return "func"
        if prev.kind == "name" and prev.text not in _JS_REGEX_AFTER:
            return "block"  # else, try, finally, class bodies, static blocks
        return "object"


def _fold_js(tokens: list[_Tok]) -> list[_Tok]:
    """'em' + 'it' → 'emit'; obj['x'] and obj?.x → obj.x (marked computed)."""
    out: list[_Tok] = []
    for tok in tokens:
        if (tok.kind == "str" and len(out) >= 2 and out[-1].is_("+") and out[-2].kind == "str"
                and not (len(out) >= 3 and out[-3].kind == "punct" and out[-3].text in ("*", "/", "%", "-", "."))):
            out.pop()
            out[-1] = _Tok("str", out[-1].text + tok.text, out[-1].line)
        elif tok.is_("?."):
            out.append(_Tok("punct", ".", tok.line))
        else:
            out.append(tok)
    folded: list[_Tok] = []
    k = 0
    while k < len(out):
        tok = out[k]
        prev = folded[-1] if folded else None
        member_able = prev is not None and (prev.kind in ("str", "num", "regex") or (
            prev.kind == "name" and (prev.text not in _JS_KEYWORDS or prev.text in _JS_VALUE_WORDS)) or (
            prev.kind == "punct" and prev.text in (")", "]", "}")))
        if (tok.is_("[") and member_able and k + 2 < len(out) and out[k + 1].kind == "str"
                and out[k + 2].is_("]")):
            folded.append(_Tok("punct", ".", tok.line))
            folded.append(_Tok("name", out[k + 1].text, tok.line, computed=True))
            k += 3
            continue
        folded.append(tok)
        k += 1
    return folded


def _screen_javascript(code: str, depth: int) -> Finding | None:
    try:
        tokenizer = _JsTokenizer(code)
        findings = list(tokenizer.problems) if depth == 0 else []
        tokens = _fold_js(tokenizer.tokens)
        findings += _JsRules(tokens, depth).findings
        if depth == 0:
            findings += _tail(tokenizer)
    except (RecursionError, MemoryError):
        return 1, TOO_DEEP
    return min(findings, key=lambda f: f[0]) if findings else None


def _tail(tokenizer: _JsTokenizer) -> list[tuple[int, str]]:
    """The harness appends the tests to the candidate: a candidate that ends mid-statement (`if (0)`,
    `false &&`, `() =>`, `else`) makes the first test statement part of its own code."""
    last = tokenizer.tokens[-1] if tokenizer.tokens else None
    if last is None:
        return []
    if last.kind == "punct" and last.text not in (";", "}", ")", "]", "++", "--"):
        return [(last.line, f"ends mid-statement with {last.text!r}, swallowing the first test")]
    if last.is_(")") and tokenizer.last_paren == "paren-control":
        return [(last.line, "ends with a bare if/while/for header, swallowing the first test")]
    if last.kind == "name" and last.text in _JS_KEYWORDS and last.text not in ("get", "set", "of", "async"):
        return [(last.line, f"ends with the keyword {last.text!r}, swallowing the first test")]
    return []


class _JsRules:
    """Token-pattern rules; findings are (line, reason)."""

    def __init__(self, tokens: list[_Tok], depth: int) -> None:
        self.t, self.depth = tokens, depth
        self.findings: list[tuple[int, str]] = []
        self.declared = self._declared()
        self.required: set[str] = set()  # names bound to require(...) results
        self.uses_decoder = any(tok.kind == "name" and tok.text in _JS_DECODERS for tok in tokens)
        for k, tok in enumerate(tokens):
            self._visit(k, tok)

    def flag(self, tok: _Tok, reason: str) -> None:
        self.findings.append((tok.line, reason))

    def at(self, k: int) -> _Tok:
        return self.t[k] if 0 <= k < len(self.t) else _Tok("end", "", self.t[-1].line if self.t else 0)

    def _declared(self) -> set[str]:
        names: set[str] = set()
        for k, tok in enumerate(self.t):
            if tok.kind == "name" and tok.text in ("var", "let", "const", "function", "class"):
                nxt = self.at(k + 1)
                if nxt.kind == "name":
                    names.add(nxt.text)
                elif nxt.is_("{") or nxt.is_("["):
                    names.update(self._pattern_names(k + 1))
        return names

    def _pattern_names(self, start: int) -> list[str]:
        """Names bound by a destructuring pattern starting at token `start` (keys before ':' excluded)."""
        names, depth, k = [], 0, start
        while k < len(self.t):
            tok = self.t[k]
            if tok.kind == "punct" and tok.text in "{[":
                depth += 1
            elif tok.kind == "punct" and tok.text in "}]":
                depth -= 1
                if depth == 0:
                    break
            elif tok.kind == "name" and not self.at(k + 1).is_(":") and not self.at(k - 1).is_("="):
                names.append(tok.text)
            k += 1
        return names

    def _matching(self, k: int, step: int) -> int:
        """Index of the bracket matching the one at k, scanning in direction step (+1 or -1)."""
        opening, closing = ("([{", ")]}") if step > 0 else (")]}", "([{")
        depth = 0
        while 0 <= k < len(self.t):
            tok = self.t[k]
            if tok.kind == "punct" and tok.text in opening:
                depth += 1
            elif tok.kind == "punct" and tok.text in closing:
                depth -= 1
                if depth == 0:
                    return k
            k += step
        return -1

    def _visit(self, k: int, tok: _Tok) -> None:
        if tok.kind in ("str", "tpl"):
            if _FD_PATH.search(tok.text) or tok.text == "proc":
                self.flag(tok, f"names {tok.text[:40]!r} (process internals or raw descriptors)")
            if tok.text in _JS_FORBIDDEN_PROPS or tok.text == "valueOf":
                self.flag(tok, f"names {tok.text} in a string")
            return
        if tok.kind == "regex":
            if (smell := _JS_REGEX_SMELL.search(tok.text)) is not None:
                self.flag(tok, f"mentions {smell.group()} in a regex literal")
            return
        if tok.kind == "punct":
            if tok.text in _JS_ASSIGN:
                self._check_target(tok, self._chain_before(k - 1))
            elif tok.text in ("++", "--"):
                prev = self.at(k - 1)
                after = prev.kind == "name" or prev.is_("]") or prev.is_(")")
                self._check_target(tok, self._chain_before(k - 1) if after else self._chain_after(k + 1))
            return
        if tok.kind != "name":
            return
        name, prev, nxt = tok.text, self.at(k - 1), self.at(k + 1)
        if name in _JS_FORBIDDEN_PROPS:
            self.flag(tok, f"uses {name}")
        if prev.is_("."):
            self._check_property(k, tok)
            return
        if name == "this" and tok.computed and not (nxt.is_(".") or nxt.is_("[")):
            self.flag(tok, "uses `this` of a plain function as a value (the global object in sloppy mode)")
        elif name == "delete":
            self._check_target(tok, self._chain_after(k + 1))
        elif name in ("var", "let", "const", "function", "class"):
            shadowed = [nxt.text] if nxt.kind == "name" else (
                self._pattern_names(k + 1) if nxt.is_("{") or nxt.is_("[") else [])
            for shadow in shadowed:
                if shadow in _JS_GLOBALS:
                    self.flag(tok, f"declares {shadow}, shadowing the built-in the tests use")
            if nxt.kind == "name" and self.at(k + 2).is_("=") and self._is_require_call(k + 3):
                self.required.add(nxt.text)
            elif (nxt.is_("{") and (end := self._matching(k + 1, 1)) > 0 and self.at(end + 1).is_("=")
                  and self._is_require_call(end + 2)):
                self.required.update(self._pattern_names(k + 1))
        elif prev.kind == "name" and prev.text in ("var", "let", "const", "function", "class"):
            return
        elif name == "process":
            self._check_process(k, tok)
        elif name == "require":
            self._check_require(k, tok)
        elif name == "module" and (nxt.is_(".") or nxt.is_("[")):
            member = self.at(k + 2)
            if not (nxt.is_(".") and member.text in _JS_MODULE_SAFE):
                self.flag(tok, f"uses module.{member.text if nxt.is_('.') else '[...]'}")
        elif name == "globalThis" or (name in ("global", "window", "self") and name not in self.declared):
            if not self._is_key(k):
                self.flag(tok, f"uses {name}")
        elif name == "Function" and (nxt.is_("(") or prev.text == "new"):
            self.flag(tok, "builds a function from a string (Function)")
        elif name == "eval" and nxt.is_("("):
            self._check_eval(k, tok)
        elif name == "eval":
            self.flag(tok, "uses eval indirectly (global scope)")
        elif name == "with" and nxt.is_("("):
            self.flag(tok, "uses a with statement")
        elif name == "Proxy":
            self.flag(tok, "uses Proxy")
        elif name == "import" and (nxt.is_("(") or nxt.is_(".")):
            self.flag(tok, "uses dynamic import()")
        elif name == "import":
            self._check_static_import(k, tok)
        elif name == "valueOf" and (nxt.is_("(") or nxt.is_(":")):
            self.flag(tok, "defines valueOf")
        elif (name == "console" and not (nxt.is_(".") or nxt.is_("[")) and not self._is_key(k)
              and not (self.at(k - 2).text == "bind" and nxt.is_(")"))):  # console.log.bind(console)
            self.flag(tok, "uses console as a value")
        elif (name in _JS_DEFINERS and nxt.is_(".") and self.at(k + 2).text in _JS_DEFINERS[name]
              and self.at(k + 3).is_("(")):
            self._check_definer(k, tok, f"{name}.{self.at(k + 2).text}")

    def _is_key(self, k: int) -> bool:
        return self.at(k + 1).is_(":") and (self.at(k - 1).is_("{") or self.at(k - 1).is_(","))

    def _check_property(self, k: int, tok: _Tok) -> None:
        name, nxt = tok.text, self.at(k + 1)
        if name == "constructor" and (nxt.is_("(") or nxt.is_("[") or (
                nxt.is_(".") and self.at(k + 2).text in ("constructor", "prototype"))):
            self.flag(tok, "reaches Function or a prototype through .constructor")
        elif name in _JS_REACHING_PROPS and not nxt.is_("(") and (
                self.at(k - 2).is_(")") or self.at(k - 2).is_("]") or self.at(k - 2).text == "this"):
            self.flag(tok, f"reaches {name} through a property")

    def _check_process(self, k: int, tok: _Tok) -> None:
        nxt = self.at(k + 1)
        if nxt.is_("."):
            member = self.at(k + 2).text
            if member not in _JS_PROCESS_SAFE:
                self.flag(tok, f"process.{member}")
        elif nxt.is_("["):
            self.flag(tok, "computed access on process")
        elif not nxt.is_("(") and "process" not in self.declared and not self._is_key(k):
            self.flag(tok, "uses process as a value")

    def _is_require_call(self, k: int) -> bool:
        return self.at(k).text == "require" and self.at(k).kind == "name" and self.at(k + 1).is_("(")

    def _check_require(self, k: int, tok: _Tok) -> None:
        nxt = self.at(k + 1)
        if nxt.is_("("):
            arg, close = self.at(k + 2), self.at(k + 3)
            if arg.kind != "str" or not close.is_(")"):
                self.flag(tok, "require of a computed module name")
            elif (reason := _js_module_reason(arg.text)) is not None:
                self.flag(tok, reason)
        elif nxt.is_("."):
            if self.at(k + 2).text not in ("main", "resolve"):
                self.flag(tok, f"uses require.{self.at(k + 2).text}")
        elif "require" not in self.declared:
            self.flag(tok, "uses require as a value")

    def _check_static_import(self, k: int, tok: _Tok) -> None:
        j = k + 1
        while j < len(self.t) and j < k + 64 and self.t[j].kind != "str" and not self.t[j].is_(";"):
            j += 1
        if self.at(j).kind == "str" and (reason := _js_module_reason(self.at(j).text)) is not None:
            self.flag(tok, reason)

    def _check_eval(self, k: int, tok: _Tok) -> None:
        arg, close = self.at(k + 2), self.at(k + 3)
        if arg.kind == "str" and close.is_(")"):
            if self.depth >= MAX_NESTED_SCREENS:
                self.flag(tok, "eval nested too deep to screen")
            elif (inner := _screen_javascript(arg.text, self.depth + 1)) is not None:
                self.flag(tok, f"eval of a string that {inner[1]}")
        elif self.uses_decoder:
            self.flag(tok, "eval of a computed string in a program that decodes data")

    def _check_definer(self, k: int, tok: _Tok, definer: str) -> None:
        end = self._matching(k + 3, 1)
        j, first = k + 4, []
        while j < (end if end > 0 else len(self.t)) and not self.t[j].is_(","):
            first.append(self.t[j])
            j += 1
        names = {t.text for t in first if t.kind == "name"}
        protected = _JS_GLOBALS | _JS_SOFT_GLOBALS | self.required
        if first and ((first[0].kind == "name" and first[0].text in protected)
                      or names & {"prototype", "__proto__", "constructor"}):
            self.flag(tok, f"{definer} on {first[0].text}")

    def _chain_before(self, k: int) -> tuple[_Tok | None, list[str]]:
        """The assignment target ending at token k: (root name or callee, member names outermost last)."""
        members: list[str] = []
        while k >= 0:
            tok = self.t[k]
            if tok.kind == "name" and self.at(k - 1).is_("."):
                members.append(tok.text)
                k -= 2
            elif tok.is_("]"):
                k = self._matching(k, -1)
                if k < 0:
                    return None, members
                members.append("[]")
                k -= 1
            elif tok.is_(")"):
                k = self._matching(k, -1)
                callee = self.at(k - 1)
                return (callee if callee.kind == "name" else None), members[::-1]
            elif tok.kind == "name":
                return tok, members[::-1]
            else:
                return None, members[::-1]
        return None, members[::-1]

    def _chain_after(self, k: int) -> tuple[_Tok | None, list[str]]:
        root = self.at(k)
        if root.kind != "name":
            return None, []
        members, k = [], k + 1
        while k < len(self.t):
            if self.t[k].is_(".") and self.at(k + 1).kind == "name":
                members.append(self.t[k + 1].text)
                k += 2
            elif self.t[k].is_("["):
                members.append("[]")
                k = self._matching(k, 1) + 1
                if k <= 0:
                    break
            else:
                break
        return root, members

    def _check_target(self, tok: _Tok, chain: tuple[_Tok | None, list[str]]) -> None:
        root, members = chain
        root_name = root.text if root is not None else ""
        target = ".".join([root_name or "(...)", *members])
        if root is None and not members:
            return
        if not members:
            if root_name in _JS_GLOBALS or (root_name in _JS_SOFT_GLOBALS and root_name not in self.declared):
                self.flag(tok, f"assigns {root_name}")
            return
        protected_root = root_name in _JS_GLOBALS or root_name in self.required or root_name in (
            "globalThis", "process") or (root_name in _JS_SOFT_GLOBALS and root_name not in self.declared)
        if (protected_root and members[0] != "exports") or (root_name == "module" and members[0] != "exports") or (
                {"__proto__", "constructor", "valueOf", "assert"} | _JS_GLOBALS) & set(members):
            self.flag(tok, f"assigns {target}")


def _js_module_reason(name: str) -> str | None:
    bare = name[5:] if name.startswith("node:") else name
    if bare.startswith((".", "/")) or "\\" in bare:
        return f"requires a file path {name!r}"
    if name.startswith("node:") and bare.split("/")[0] not in _JS_NODE_BUILTINS:
        return f"requires {name!r}"
    if bare.split("/")[0] in _JS_NODE_BUILTINS and bare not in _JS_NODE_ALLOWED:
        return f"requires {name!r}"
    return None
