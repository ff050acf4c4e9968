"""Static screening of Python candidates (the rules; the API is `tools.verification.screening.screen`):
the `ast` of the program, never run, checked for verdict-forging primitives."""

from __future__ import annotations

import ast
import builtins
import re
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeGuard

from tools.verification.screening_common import FD_PATH, MAX_NESTED_SCREENS, MAX_SOURCE_CHARS, TOO_DEEP, Finding

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


def screen_python(code: str, depth: int) -> Finding | None:
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
        return _joined("", [_fold(p, depth + 1) for p in reversed(pieces)])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        template = _fold(node.left, depth + 1)
        args = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
        values = [_fold(a, depth + 1) for a in args]
        return _apply(lambda: template % tuple(values)) if template is not None and None not in values else None
    if isinstance(node, ast.JoinedStr):
        return _joined("", [_fold(v.value if isinstance(v, ast.FormattedValue) else v, depth + 1)
                             for v in node.values])
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
                return _joined(owner, [_fold(e, depth + 1) for e in node.args[0].elts])
            method, arguments = node.func.attr, [_fold(a, depth + 1) for a in node.args]
            if method in ("lower", "upper", "strip", "replace", "swapcase", "format") and None not in arguments:
                return _apply(lambda: getattr(owner, method)(*arguments))
    return None


def _joined(separator: str, parts: list[str | None]) -> str | None:
    """`parts` joined, or None when any of them did not fold."""
    texts = [part for part in parts if part is not None]
    return separator.join(texts) if len(texts) == len(parts) else None


def _is_addition(node: ast.AST | None) -> TypeGuard[ast.BinOp]:
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)


def _constant_runs(node: ast.AST) -> list[str]:
    """The strings that runs of constant pieces of an `a + b + ...` chain build: `x + 'f_b' + 'ack'`
    gives 'f_back' even though x is unknown."""
    pieces: list[ast.AST] = []
    while _is_addition(node):
        pieces.append(node.right)
        node = node.left
    pieces.append(node)
    runs: list[str] = []
    current: list[str] = []
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
        handlers: dict[type[ast.AST], Callable[[Any], None]] = {  # each takes its own kind of node
            ast.Import: self._check_import, ast.ImportFrom: self._check_import_from,
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
            unbound = isinstance(func, ast.Name) or (isinstance(func, ast.Attribute)
                                                     and isinstance(func.value, ast.Name)
                                                     and func.value.id in ("object", "type"))
            if unbound and len(node.args) >= 2:  # getattr(os, 'write'), object.__getattribute__(os, 'write')
                self._check_dynamic_attribute(node, name, node.args[0], node.args[1])
            elif isinstance(func, ast.Attribute) and not unbound and name.startswith("__"):
                # os.__getattribute__('write')
                self._check_dynamic_attribute(node, name, func.value, node.args[0])
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
            elif (inner := screen_python(text, self.depth + 1)) is not None:
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
            for run in _constant_runs(node):
                self._check_text(node, run)
            return
        text = _fold(node)
        if text is not None:
            if not isinstance(node, ast.Constant):
                self.covered.update(id(n) for n in ast.walk(node))
            self._check_text(node, text)

    def _check_text(self, node: ast.AST, text: str) -> None:
        if FD_PATH.search(text) or text == "proc":
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
        first_def: dict[str, ast.stmt] = {}  # the first def or class of each name
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
            if kind == "def" and isinstance(node, ast.stmt) and name not in first_def and not _is_overload(node):
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
