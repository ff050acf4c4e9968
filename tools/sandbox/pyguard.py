"""What keeps a Python candidate from forging its verdict (standard library only; loaded by the worker).

The harness and the candidate share one process, so the harness keeps its secrets where plain Python
cannot reach them and refuses the few primitives that could:

- `install_audit_hook`: an audit hook (PEP 578; it cannot be removed once added), armed in the child just
  before the candidate runs, refuses frame walking (`sys._getframe`, `tb_frame`, `gi_frame`, …), `gc`
  object enumeration, `ctypes`, trace and profile
  hooks, and opening `/proc`, `/sys` or `/dev/fd`. The refusal is a `ValueError`, which the standard
  library's own frame users (namedtuple, typing, enum, logging) already tolerate. Every refusal is
  recorded, and the report names the first one.
- `compile_test`: compiles the (trusted) test with every comparison operand passed through an honesty
  check bound into the code's constants (unreachable by name): a value that claims to equal, or be
  ordered against, or contain an arbitrary object fails the assertion instead of passing it.
- `make_test_namespace`: the test runs with a pristine copy of the builtins, so patching `builtins`
  cannot change what the test computes. (A global of the candidate's own that shadows a builtin is
  left alone — MBPP's task 126 is a function named `sum` — and is screening's business.)
"""

from __future__ import annotations

import ast
import builtins
import collections
import os
import sys
from collections.abc import Callable, Iterator
from types import CodeType
from typing import Any

BLOCKED_EVENTS = frozenset({
    "sys._getframe", "sys._current_frames", "sys.settrace", "sys.setprofile", "sys.addaudithook",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents"})
FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"})
CODE_ATTRIBUTES = frozenset({"__code__"})
BLOCKED_PATHS = ("/proc", "/sys", "/dev/fd", "/dev/mem", "/dev/kmem", "/dev/port")
PATH_EVENTS = frozenset({"open", "os.listdir", "os.scandir", "os.chdir", "os.symlink", "os.link"})
PRISTINE_BUILTINS = dict(builtins.__dict__)  # taken when the worker starts, before any candidate ran


class Refused(ValueError):
    """A sandboxed check used a primitive that could forge its verdict; the operation did not happen."""


def frame_readers() -> frozenset:
    """Code of the standard-library functions that may call `sys._getframe`: each reads only its caller's
    module name and returns no frame (namedtuple, typing's NamedTuple/TypeVar, Enum's functional API)."""
    import enum
    import typing

    private = (typing._caller, enum.EnumType._create_)  # type: ignore[attr-defined]  # not in the stubs
    return frozenset({collections.namedtuple.__code__, *(function.__code__ for function in private)})


def install_audit_hook(readers: frozenset = frozenset()) -> Callable[[], list[str]]:
    """Install the hook, disarmed, in the worker (every fork inherits it); returns `arm`, which a forked
    child calls just before the candidate runs: from then on the hook refuses, and `arm()`'s list records
    each refusal. Installed once here rather than in every child: building and adding it there wrote ~40
    copied pages per check. Only the worker's `Worker` object and the harness's frames hold `arm`: a
    candidate reaches neither without frame walking or gc enumeration, which the armed hook refuses; and an
    installed hook cannot be removed.
    `readers`: code objects allowed to call `sys._getframe` (see `frame_readers`)."""
    import _thread

    record: list[str] = []
    armed = False
    append, startswith, realpath, fspath, decode = (record.append, str.startswith, os.path.realpath,
                                                    os.fspath, bytes.decode)
    str_, bytes_, isinstance_, refused, getframe, ident = str, bytes, isinstance, Refused, sys._getframe, \
        _thread.get_ident
    blocked, frames, code_attrs, paths, path_events = (BLOCKED_EVENTS, FRAME_ATTRIBUTES, CODE_ATTRIBUTES,
                                                       BLOCKED_PATHS, PATH_EVENTS)
    looking: set[int] = set()  # threads in which the hook itself is looking at its caller

    def refuse(what: str) -> None:
        append(what)
        raise refused(f"{what} is not allowed in the sandbox")

    def caller_may_read_frames() -> bool:
        me = ident()
        if me in looking:  # our own look below
            return True
        looking.add(me)
        try:
            caller = getframe(2)  # 0: this function, 1: the hook, 2: whoever called sys._getframe
        finally:
            looking.discard(me)
        return caller.f_code in readers

    def hook(event: str, args: tuple) -> None:
        if not armed:  # the worker, or a child still setting up
            return
        if event in blocked:
            if event == "sys._getframe" and caller_may_read_frames():
                return
            refuse(event)
        elif event == "object.__getattr__":
            if args[1] in frames:
                refuse(f"frame access ({args[1]})")
        elif event == "object.__setattr__":
            if args[1] in code_attrs:
                refuse(f"rewriting a function ({args[1]})")
        elif startswith(event, "ctypes."):
            refuse("ctypes")
        elif event in path_events and args:
            target = args[0]
            if isinstance_(target, bytes_):
                target = decode(target, "utf-8", "replace")
            if isinstance_(target, str_):
                resolved = realpath(fspath(target))
                for prefix in paths:
                    if resolved == prefix or startswith(resolved, prefix + "/"):
                        refuse(f"host introspection ({prefix})")

    def arm() -> list[str]:
        nonlocal armed
        armed = True
        return record

    sys.addaudithook(hook)
    return arm


def make_test_namespace() -> Callable[[dict], dict]:
    """`namespace(candidate_globals)`: the same globals (the test sees what the candidate defined and
    vice versa), with a pristine copy of the builtins for the test's own lookups; the candidate's
    functions keep the builtins they were defined with. Bound now, before any candidate runs:
    afterwards this module's globals may have been rewritten.

    The copy is made here, once, in the worker: each check is a forked child with its own copy-on-write
    view of it, so what one check does to it no other check sees. (Copying it again in every child
    wrote ~300 reference counts all over the shared heap: a fifth of a trivial check's CPU.) So call
    `namespace` at most once per process."""
    pristine = dict(PRISTINE_BUILTINS)

    def namespace(candidate_globals: dict) -> dict:
        candidate_globals["__builtins__"] = pristine
        return candidate_globals

    return namespace


def _guard_comparisons(tree: ast.AST, placeholder: str) -> None:
    """Wrap every comparison operand in a call to the honesty check (a placeholder name), in place. The
    new nodes take the comparison's position, as `ast.fix_missing_locations` would give them (a walk and
    direct assignments: a NodeTransformer plus that fix cost ~1 ms per test, for every test a worker sees)."""
    compare, call, constant = ast.Compare, ast.Call, ast.Constant
    for node in [node for node in ast.walk(tree) if type(node) is compare]:
        where = {"lineno": node.lineno, "col_offset": node.col_offset, "end_lineno": node.end_lineno,
                 "end_col_offset": node.end_col_offset}

        def wrap(operand: ast.expr, where: dict = where) -> ast.expr:
            return call(func=constant(placeholder, **where), args=[operand], keywords=[], **where)

        node.left = wrap(node.left)
        node.comparators = [wrap(operand) for operand in node.comparators]


def compile_test(source: str, check: Callable[[object], object], filename: str = "<test>") -> CodeType:
    """Compile the test with its comparison operands checked by `check` (placed in the constants)."""
    placeholder = "codemill-honesty-check-" + os.urandom(8).hex()
    tree = ast.parse(source, filename, "exec")
    _guard_comparisons(tree, placeholder)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "'str' object is not callable": the placeholder, replaced below
        code = compile(tree, filename, "exec", dont_inherit=True)
    return _bind(code, placeholder, check)


def _bind(code: CodeType, placeholder: str, check: Callable[[object], object]) -> CodeType:
    consts = tuple(check if const == placeholder and isinstance(const, str)
                   else _bind(const, placeholder, check) if isinstance(const, type(code)) else const
                   for const in code.co_consts)
    return code.replace(co_consts=consts)


def make_honesty_check() -> Callable[[object], object]:
    """`check(value) -> value`, raising AssertionError for a value (or an element of one) that lies in
    comparisons. Everything it uses is bound now: the candidate may patch builtins later."""
    heap_flag = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by a class statement (candidate or stdlib)
    plain = frozenset({int, float, complex, str, bytes, bool, type(None), range, slice, type(...), bytearray})
    sequences = (list, tuple, set, frozenset, collections.deque)
    flags_of = type.__dict__["__flags__"].__get__
    mro_of = type.__dict__["__mro__"].__get__
    dict_of = type.__dict__["__dict__"].__get__
    type_, id_, isinstance_, truth, assertion = type, id, isinstance, bool, AssertionError
    dict_items, exception, next_, set_, object_ = dict.items, Exception, next, set, object
    iterators: dict[type, Callable[[Any], Iterator[object]]] = {
        list: list.__iter__, tuple: tuple.__iter__, set: set.__iter__, frozenset: frozenset.__iter__,
        collections.deque: collections.deque.__iter__}

    def claims(outcome: Callable[[], object]) -> bool:
        try:
            return truth(outcome())
        except exception:
            return False

    def lies(value: Any, kind: type) -> str | None:  # Any: whatever the candidate made, probed with every operator
        sentinel = object_()
        if claims(lambda: value == sentinel) or not claims(lambda: value != sentinel):
            return "claims to equal an arbitrary object"
        if claims(lambda: value < sentinel) or claims(lambda: value > sentinel) \
                or claims(lambda: value <= sentinel) or claims(lambda: value >= sentinel):
            return "claims an order against an arbitrary object"
        for klass in mro_of(kind):
            if "__contains__" in dict_of(klass):
                if claims(lambda: sentinel in value):
                    return "claims to contain an arbitrary object"
                break
        return None

    def check(value: object) -> object:
        stack: list[Any] = [value]  # the compared value and everything it holds, of any type
        seen = set_()
        while stack:
            item = stack.pop()
            kind = type_(item)
            if kind in plain:
                continue
            if flags_of(kind) & heap_flag:
                reason = lies(item, kind)
                if reason is not None:
                    raise assertion(f"a compared value of type {kind.__name__!s:.80} {reason}")
            if isinstance_(item, dict) or isinstance_(item, sequences):
                if id_(item) in seen:
                    continue
                seen.add(id_(item))
                if isinstance_(item, dict):
                    for key, element in dict_items(item):
                        stack.append(key)
                        stack.append(element)
                else:
                    base = next_(b for b in mro_of(kind) if b in iterators)
                    stack.extend(iterators[base](item))
        return value

    return check
