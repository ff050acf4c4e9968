"""Static screening of candidates: every forging primitive is named, no canonical benchmark solution is
flagged, and hostile input (syntax errors, deep nesting, odd text, obfuscation) never escapes as an error."""

from __future__ import annotations

import json
import random

import pytest

from tools.benchmark_data import DEFAULT_DATA_DIR, load_benchmark
from tools.verification.screening import MAX_SOURCE_CHARS, TOO_DEEP, screen


def _canonical_programs() -> dict[str, list[tuple[str, str, str]]]:
    """benchmark → [(task id, language, program)], programs built the way `evaluate` runs them, plus
    HumanEvalPack's declaration + solution variant."""
    programs: dict[str, list[tuple[str, str, str]]] = {}
    for name in ("humaneval", "mbpp", "mbpp-sanitized", "humanevalpack-python", "humanevalpack-js"):
        programs[name] = [(p.task_id, p.language, p.program()) for p in load_benchmark(name)]
    for language, suffix in (("python", "python"), ("javascript", "js")):
        path = DEFAULT_DATA_DIR / f"humanevalpack-{suffix}.jsonl"
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        programs[f"humanevalpack-{suffix}-declaration"] = [
            (r["task_id"], language, r["declaration"] + r["canonical_solution"]) for r in rows]
    return programs


def _nested(function: str, code: str, levels: int) -> str:
    for _ in range(levels):
        code = f"{function}({code!r})"
    return code


CANONICAL = _canonical_programs()
MINIMUM_SIZES = {"humaneval": 164, "mbpp": 900, "mbpp-sanitized": 400, "humanevalpack-python": 164,
                 "humanevalpack-js": 164, "humanevalpack-python-declaration": 164,
                 "humanevalpack-js-declaration": 164}


@pytest.mark.parametrize("benchmark", sorted(CANONICAL))
def test_no_canonical_solution_is_flagged(benchmark):
    programs = CANONICAL[benchmark]
    assert len(programs) >= MINIMUM_SIZES[benchmark]  # a loader that found nothing must not pass
    offenders = [(task_id, reason) for task_id, language, code in programs
                 if (reason := screen(code, language)) is not None]
    assert offenders == [], f"{len(offenders)} canonical solutions flagged: {offenders}"


# ------------------------------------------------------------------------------------------- Python

PYTHON_ATTACKS = [
    # builtins
    ("import builtins\nbuiltins.exec = print", "imports builtins"),
    ("__builtins__.abs = lambda x: 0", "__builtins__"),
    ("__builtins__['len'] = lambda x: 3", "__builtins__"),
    ("from builtins import *", "imports builtins"),
    ("print.__self__.len = lambda x: 3", "__self__"),
    # sys hooks and frames
    ("import sys\nsys.settrace(lambda *a: None)", "settrace"),
    ("import sys\nsys.setprofile(print)", "setprofile"),
    ("import sys\nf = sys._getframe(1)", "_getframe"),
    ("import sys\nframes = sys._current_frames()", "_current_frames"),
    ("import sys\nsys.addaudithook(print)", "addaudithook"),
    ("import sys\nsys.modules['math'] = object()", "sys.modules"),
    ("import sys\nsys.path.insert(0, '.')", "sys.path"),
    ("import sys\nsys.stdout = open('out', 'w')", "sys.stdout"),
    ("import sys\nsys.displayhook = print", "sys.displayhook"),
    ("import sys\ntb = sys.exc_info()[2]", "sys.exc_info"),
    ("def f():\n    try:\n        1 / 0\n    except Exception as e:\n        return e.__traceback__",
     "__traceback__"),
    ("def f(tb):\n    return tb.tb_frame.f_back.f_locals", "tb_frame"),
    ("def f(frame):\n    return frame.f_back.f_locals", "f_back"),
    ("g = (x for x in [1])\nframe = g.gi_frame", "gi_frame"),
    ("async def c():\n    pass\nframe = c().cr_frame", "cr_frame"),
    ("def f(frame):\n    return frame.f_globals", "f_globals"),
    ("import logging\nframe = logging.currentframe()", "currentframe"),
    ("import traceback\nframes = list(traceback.walk_stack(None))", "walk_stack"),
    ("import threading\nthreading.settrace(print)", "settrace"),
    # code objects and function internals
    ("def f():\n    pass\nf.__code__ = (lambda: 1).__code__", "__code__"),
    ("g = (lambda: 0).__globals__", "__globals__"),
    ("cells = (lambda: x).__closure__", "__closure__"),
    ("def f():\n    return 1\nconsts = f.__code__.co_consts", "__code__"),
    ("import types\nf = types.FunctionType(code, {})", "types.FunctionType"),
    # gc, inspect, ctypes, cffi, object graph
    ("import gc\nobjects = gc.get_objects()", "imports gc"),
    ("import inspect\nframe = inspect.currentframe()", "imports inspect"),
    ("import ctypes\nctypes.pythonapi.PyFrame_LocalsToFast", "imports ctypes"),
    ("import _ctypes", "imports _ctypes"),
    ("from cffi import FFI", "imports cffi"),
    ("subclasses = object.__subclasses__()", "__subclasses__"),
    ("s = ().__class__.__base__.__subclasses__()", "__base__"),
    ("m = int.__mro__", "__mro__"),
    # /proc and raw descriptors
    ("open('/proc/self/fd/3')", "/proc/self/fd/3"),
    ("import os\nos.listdir('/proc')", "/proc"),
    ("data = open('/dev/fd/4', 'rb').read()", "/dev/fd/4"),
    ("open('/dev/mem')", "/dev/mem"),
    ("import os\nos.write(3, b'{}')", "os.write"),
    ("import os\nnonce = os.read(4, 64)", "os.read"),
    ("import os\nos.dup2(1, 3)", "os.dup2"),
    ("import os\nf = os.fdopen(3, 'w')", "os.fdopen"),
    ("import os\nfd = os.open('x', os.O_RDONLY)", "os.open"),
    ("import os\nos._exit(0)", "_exit"),
    ("import os\nos.closerange(3, 10)", "os.closerange"),
    ("open(3, 'wb').write(b'x')", "raw file descriptor"),
    ("fd = 1 + 2\nopen(fd, 'wb')", "raw file descriptor"),
    ("import sys\nopen(sys.stdout.fileno() + 2, 'w')", "raw file descriptor"),
    ("open(len('abc'), 'w')", "raw file descriptor"),
    ("import io\nio.FileIO(3, 'w')", "io.FileIO"),
    ("import io\nio.open(3, 'w')", "raw file descriptor"),
    ("import _io", "imports _io"),
    ("import socket\ns = socket.socket(fileno=3)", "fileno="),
    ("open('x', opener=lambda p, f: 3)", "opener="),
    ("import posix\nposix.write(3, b'')", "imports posix"),
    ("import os\nos.system('true')", "os.system"),
    ("import subprocess", "imports subprocess"),
    ("import multiprocessing", "imports multiprocessing"),
    ("import os\nos.kill(os.getppid(), 9)", "os.kill"),
    # lying dunders
    ("class A:\n    def __eq__(self, other):\n        return True", "__eq__ that always returns True"),
    ("class A:\n    def __ne__(self, other):\n        return False", "__ne__ that always returns False"),
    ("class A(int):\n    def __eq__(self, other):\n        return self is self", "__eq__"),
    ("class A:\n    def __eq__(self, other):\n        return other == other", "__eq__"),
    ("class A:\n    def __eq__(self, other):\n        print(other)\n        return 1 or other", "__eq__"),
    ("class A:\n    def __eq__(self, other):\n        return self.x == self.x", "__eq__"),
    ("class A:\n    def __eq__(self, other):\n        return self.x", "ignores other"),
    ("class A:\n    def __eq__(self, *rest):\n        return bool(self)", "ignores its operand"),
    ("class A:\n    __eq__ = lambda s, o: True", "__eq__ that always returns True"),
    ("class A:\n    __eq__ = object.__ne__", "assigns __eq__ in a class body"),
    ("class A:\n    def __lt__(self, other):\n        return True if other else True", "__lt__"),
    ("class A:\n    def __contains__(self, item):\n        return True", "__contains__"),
    ("class A:\n    def __bool__(self):\n        return True", "__bool__ that always returns True"),
    ("class A:\n    def __len__(self):\n        return 0", "__len__"),
    ("class A:\n    def __sub__(self, other):\n        return 0", "__sub__"),
    ("class A:\n    def __rsub__(self, other):\n        return self", "__rsub__ that ignores other"),
    ("class A:\n    def __abs__(self):\n        return 0", "__abs__"),
    ("class M(type):\n    def __instancecheck__(cls, x):\n        return True", "__instancecheck__"),
    ("A = type('A', (), {'__eq__': lambda s, o: True})", "__eq__"),
    ("A = type('A', (), dict(__eq__=lambda s, o: True))", "__eq__"),
    ("class A:\n    pass\nA.__eq__ = lambda s, o: True", "__eq__"),
    ("class A:\n    pass\nsetattr(A, '__eq__', lambda s, o: True)", "__eq__"),
    ("x = 1\nx.__class__ = bool", "__class__"),
    # exec/eval/compile and code from strings
    ("exec = print", "shadows built-in exec"),
    ("import builtins\nbuiltins.eval = lambda s: 0", "imports builtins"),
    ("run = exec\nrun('x = 1')", "aliases exec"),
    ("exec(bytes.fromhex('7072696e74283129').decode())", "exec of a computed string"),
    ("code = compile(source, '<x>', 'exec')", "compile of a computed string"),
    ("exec('import ctypes')", "exec of a string that imports ctypes"),
    ("eval(\"__import__('gc').get_objects()\")", "eval of a string that imports gc"),
    (_nested("exec", "x = 1", 5), "nested too deep"),
    ("import base64\neval(base64.b64decode('MQ=='))", "eval of a computed string in a program that decodes"),
    ("s = ''.join(chr(c) for c in [49])\nresult = eval(s)", "eval of a computed string in a program that decodes"),
    # module mutation, namespaces, dynamic imports
    ("import math\nmath.sqrt = lambda x: 0", "replaces math.sqrt"),
    ("import math\nsetattr(math, 'isclose', lambda *a, **k: True)", "replaces math.isclose"),
    ("import math\ndel math.isclose", "replaces math.isclose"),
    ("import json\njson.encoder.encode_basestring_ascii = str", "replaces json.encoder"),
    ("from collections import Counter\nCounter.most_common = None", "replaces collections.Counter"),
    ("import math\nm = math\nm.sqrt = abs", "passes module math around as a value"),
    ("import math\nfrom functools import partial\nset_math = partial(setattr, math)", "passes module math"),
    ("import math\nd = math.__dict__", "namespace of module math"),
    ("import math\nns = vars(math)", "vars() of module math"),
    ("globals()['abs'] = lambda x: 0", "assigns into globals()"),
    ("g = globals()\ng['abs'] = len", "globals()"),
    ("globals().update(abs=len)", "globals()"),
    ("module = __import__(name)", "imports a computed module name"),
    ("m = __import__('ctypes')", "imports ctypes"),
    ("import importlib\nm = importlib.import_module('math')", "imports importlib"),
    ("import pickle\npickle.loads(b'')", "imports pickle"),
    ("import marshal", "imports marshal"),
    ("from unittest.mock import ANY\ndef f(x):\n    return ANY", "imports unittest.mock"),
    ("import unittest\nany_value = unittest.mock.ANY", "unittest.mock"),
    ("import __main__", "imports __main__"),
    ("from os import *\nwrite(3, b'')", "imports * from os"),
    ("from sys import _getframe as g\nframe = g()", "_getframe"),
    ("from os import write as w\nw(3, b'')", "os.write"),
    # names the tests share
    ("def abs(x):\n    return 0\ndef f(x):\n    return x", "shadows built-in abs"),
    ("abs = lambda x: 0\ndef f(x):\n    return x", "shadows built-in abs"),
    ("import numpy as sum\ndef f(x):\n    return x", "shadows built-in sum"),
    ("def sum(a, b):\n    return a\nf = lambda x: x", "shadows built-in sum"),
    ("for len in [1]:\n    pass", "shadows built-in len"),
    ("[(round := 1) for _ in range(1)]", "shadows built-in round"),
    ("def poly(xs, x):\n    return sum(xs)\ndef poly(xs, x):\n    return 0", "redefines poly"),
    ("def poly(xs, x):\n    return sum(xs)\npoly = lambda xs, x: 0", "redefines poly"),
    ("def f(x):\n    global poly\n    poly = lambda *a: 0\n    return 1\ndef poly(xs, x):\n    return sum(xs)",
     "rebinds poly from inside a function"),
    ("def f(x):\n    global abs\n    abs = len\n    return x", "declares abs global"),
    ("def f(x):\n    global check\n    check = print\n    return x", "declares check global"),
    ("import math\ndef f(x):\n    global math\n    math = None\n    return x", "declares math global"),
]

PYTHON_EVASIONS = [
    ("getattr(__import__('built' + 'ins'), 'ex' + 'ec')", "imports builtins"),
    ("import builtins as b\nb.len = lambda x: 3", "imports builtins"),
    ("b = __import__('b' 'uiltins')", "imports builtins"),
    ("import os as o\nw = getattr(o, 'wr' + 'ite')", "os.write"),
    ("import os\nw = getattr(os, name)", "computed name on os"),
    ("import sys\nhook = getattr(sys, ''.join(['set', 'trace']))", "settrace"),
    ("w = getattr(__import__('o' + 's'), 'write')", "os.write"),
    ("w = __import__('os').write", "os.write"),
    ("import os\nw = os.__getattribute__('write')", "os.write"),
    ("import os\nw = object.__getattribute__(os, 'write')", "os.write"),
    ("import typing\nframe = typing.sys._getframe()", "reaches sys through typing"),
    ("import collections\nmods = collections._sys.modules", "reaches _sys through collections"),
    ("import os\nos.path.os.write(3, b'')", "reaches os through os.path"),
    ("import operator\nback = operator.attrgetter('f_back')", "mentions f_back"),
    ("s = '{0.__globals__}'.format(f)", "mentions __globals__"),
    ("open('/pr' + 'oc/self/fd/3')", "/proc/self/fd/3"),
    ("open(''.join(['/pr', 'oc/self/mem']))", "/proc/self/mem"),
    ("open('/' + chr(112) + 'roc/self/fd/3')", "/proc/self/fd/3"),
    ("open('corp/'[::-1] + '/self/fd/3')", "/proc/self/fd/3"),
    ("import unittest.mock as m\nm.patch('builtins.abs', len)", "imports unittest.mock"),
    ("from mock import patch\npatch('builtins.abs', len)", "imports mock"),
    ("patcher = __import__('unittest').mock.patch('builtins.abs')", "unittest.mock"),
    ("open('/%s/self/fd/3' % 'proc')", "/proc/self/fd/3"),
    ("import os\nos.listdir(os.path.join('/', 'proc'))", "'proc'"),
    ("getattr(frame, " + " + ".join(repr(c) for c in "f_back") + ")", "f_back"),
    ("getattr(frame, " + " + ".join(["'f_back'"] + ["''"] * 300) + ")", "f_back"),
    ("getattr(frame, prefix + 'f_b' + 'ack')", "f_back"),
    ("getattr(frame, 'f_b' + 'ack' + suffix)", "f_back"),
    ("open(root + '/pr' + 'oc/self/fd/3')", "/proc/self/fd/3"),
    ("name = bytes([102, 95, 98]).decode() + 'ack'\nframe = getattr(f, name)",
     "computed name in a program that decodes"),
    ("exec(\"exec('import ctypes')\")", "exec of a string that exec of a string that imports ctypes"),
]

PYTHON_BENIGN = [
    "from dataclasses import dataclass\n@dataclass\nclass P:\n    x: int\n    y: int",
    "class P:\n    def __init__(self, x):\n        self.x = x\n    def __eq__(self, other):\n"
    "        if not isinstance(other, P):\n            return NotImplemented\n        return self.x == other.x\n"
    "    def __hash__(self):\n        return hash(self.x)\n"
    "    def __lt__(self, other):\n        return self.x < other.x",
    "class P:\n    def __ne__(self, other):\n        if not isinstance(other, P):\n            return True\n"
    "        return self.x != other.x",
    "class V:\n    def __add__(self, other):\n        return V(self.x + other.x)\n    __radd__ = __add__\n"
    "    __hash__ = None\n    def __len__(self):\n        return len(self.items)\n"
    "    def __bool__(self):\n        return bool(self.items)",
    "import functools\n@functools.total_ordering\nclass K:\n    def __eq__(self, o):\n        return self.k == o.k\n"
    "    def __lt__(self, o):\n        return self.k < o.k",
    "import sys\nsys.setrecursionlimit(10 ** 6)\nbest = sys.maxsize\nsys.stdout.write('x')\n"
    "line = sys.stdin.readline()",
    "import sys\ndef main():\n    return 0\nif __name__ == '__main__':\n    sys.exit(main())",
    "def do_algebra(operator, operand):\n    expression = str(operand[0])\n"
    "    for oprt, oprn in zip(operator, operand[1:]):\n        expression += oprt + str(oprn)\n"
    "    return eval(expression)",
    "def pick(obj, name):\n    return getattr(obj, name)",
    "import math\ndef apply(name, x):\n    return getattr(math, name)(x)",
    "import math\nfrom math import pow\nprint(hasattr(math, 'tau'))",
    "def sum(a, b):\n    return a + b",
    "from functools import lru_cache\n@lru_cache(maxsize=None)\ndef fib(n):\n"
    "    return n if n < 2 else fib(n - 1) + fib(n - 2)",
    "def fib(n):\n    return n\nfib = __import__('functools').lru_cache(None)(fib)",
    "counter = 0\ndef bump():\n    global counter\n    counter += 1\n    return counter",
    "def init():\n    global cache\n    cache = {}",
    "import os\npath = os.path.join('a', 'b')\nhome = os.environ.get('HOME')\nnames = os.listdir('.')",
    "def read(filename):\n    with open(filename) as handle:\n        return handle.read()",
    "import re\npattern = re.compile(r'\\d+')",
    "def f(x):\n    '''Uses builtins like sys.settrace and __import__ and /proc in prose only.'''\n    return x",
    "'''Module docstring mentioning f_back and ctypes.'''\nx = 1",
    "import unittest\nclass T(unittest.TestCase):\n    def test(self):\n        self.assertEqual(1, 1)\n"
    "if __name__ == '__main__':\n    unittest.main()",
    "def f(x):\n    return type(x).__name__ + x.__class__.__name__",
    "import string\ndef f(string):\n    return len(string)",
    "from typing import overload\n@overload\ndef f(x: int) -> int: ...\n@overload\ndef f(x: str) -> str: ...\n"
    "def f(x):\n    return x",
    "def f(x):\n    '''docstring only'''\ndef f(x):\n    return x",
    "try:\n    from math import comb\nexcept ImportError:\n    def comb(n, k):\n        return 0",
    "from collections import Counter, defaultdict\ncounts = Counter('abc')",
    "import hashlib\nprint(hashlib.md5(b'x').hexdigest())",
    "text = 'process the builtins list: call exec later'\nsecret = 'processed'\nnote = 'see f_back in ctypes docs'",
    "import heapq, bisect, itertools\nheap = []\nheapq.heappush(heap, 1)",
    "def f(s):\n    return ''.join(chr(ord(c) + 1) for c in s)",
    "import sys\nprint(sys.getsizeof([]), sys.float_info.epsilon, sys.version_info >= (3, 8))",
    "import threading\nlock = threading.Lock()",
    "import os\nos.makedirs('d', exist_ok=True)",
    "class Node:\n    def __init__(self, v):\n        self.v = v\n        self.next = None",
    "def f(x):\n    _ = 1\n    return x\n_ = f(1)\n_ = f(2)",
    "squares = [max * max for max in range(3)]\npairs = {len: 1 for len in 'ab'}",
    "from collections import deque\nqueue = deque()\ndef push(x):\n    global queue\n    queue = queue + [x]",
    "label = 'result: ' + value + ' (process finished)'",
    "import sys\ninput = sys.stdin.readline\nprint(input())",
    "from re import compile\ndef words(pattern, text):\n    return compile(pattern).findall(text)",
]


@pytest.mark.parametrize(("code", "expected"), PYTHON_ATTACKS + PYTHON_EVASIONS)
def test_python_primitive_is_named(code, expected):
    reason = screen(code, "python")
    assert reason is not None, f"not flagged: {code!r}"
    assert expected in reason, f"{reason!r} does not name {expected!r}"
    assert "(line " in reason


@pytest.mark.parametrize("code", PYTHON_BENIGN)
def test_ordinary_python_is_not_flagged(code):
    assert screen(code, "python") is None


def test_reason_points_at_the_first_line_that_forges():
    code = "def f(x):\n    return x\n\nimport gc\nimport ctypes\n"
    assert screen(code, "python") == "imports gc (line 4)"


def test_python_syntax_errors_are_left_to_the_sandbox():
    """The sandbox compiles with this same interpreter, so code that does not parse never runs, let
    alone passes: it is not a forgery (a reason here would inflate the suspect count with broken code)."""
    assert screen("def f(:\n    import ctypes", "python") is None
    assert screen("x = 1\x00\nimport gc", "python") is None  # null byte: compile() refuses it too
    assert screen("x = '\udc80'\nimport gc", "python") is None  # lone surrogate: not encodable source
    with pytest.raises(SyntaxError):
        compile("def f(:\n    import ctypes", "<candidate>", "exec")


@pytest.mark.parametrize("code", [
    "x = " + "-" * 200_000 + "1",
    "x = " + "+".join(["1"] * 120_000),
    "x = " + "not " * 60_000 + "y",
    "x = " + "(" * 5_000 + "1" + ")" * 5_000,
])
def test_deep_nesting_is_refused_not_raised(code):
    assert screen(code, "python") in (None, f"{TOO_DEEP} (line 1)")


def test_long_string_chains_are_folded_once():
    """Near CPython's own limit (longer `+` chains do not compile at all); folding each piece's whole chain
    again would take minutes here."""
    pieces = ["'x'"] * 2_500
    pieces[1_000:1_002] = ["part", "'f_b'", "'ack'", "part"]
    code = "name = " + " + ".join(pieces)
    assert screen(code, "python") == "mentions f_back in a string (line 1)"
    assert screen("name = " + " + ".join(["'ab'"] * 2_500), "python") is None
    joined = "name = ''.join([" + ", ".join(["'x'"] * 50_000 + ["'.'", "'_getfr'", "'ame'"]) + "])"
    assert screen(joined, "python") == "mentions _getframe in a string (line 1)"


def test_deep_nesting_that_parses_is_screened():
    nested = "x = " + "[" * 90 + "1" + "]" * 90 + "\nimport gc\n"
    assert screen(nested, "python") == "imports gc (line 2)"
    ifs = "".join(" " * i + "if x:\n" for i in range(90)) + " " * 90 + "import ctypes\n"
    assert screen(ifs, "python") == "imports ctypes (line 91)"


def test_oversized_code_is_flagged_without_parsing():
    code = "x = 1\n" * (MAX_SOURCE_CHARS // 6 + 1)
    assert screen(code, "python") == f"too large to screen ({len(code)} characters)"
    assert screen(code.replace("x =", "let x ="), "javascript").startswith("too large to screen")


def test_bytes_and_non_utf8_input():
    assert screen(b"import ctypes\n", "python") == "imports ctypes (line 1)"
    assert screen(b"x = '\xff\xfe'\nimport gc\n", "python") == "imports gc (line 2)"
    assert screen(b"process.exit()", "javascript") == "process.exit (line 1)"


def test_unknown_language_is_an_error():
    with pytest.raises(ValueError, match="cobol"):
        screen("x", "cobol")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------- JavaScript

JS_ATTACKS = [
    # process
    ("process.emit('beforeExit')", "process.emit"),
    ("process.binding('fs')", "process.binding"),
    ("process._linkedBinding('fs')", "process._linkedBinding"),
    ("process.exit(0)", "process.exit"),
    ("process.reallyExit(0)", "process.reallyExit"),
    ("process.exitCode = 0", "process.exitCode"),
    ("process.abort()", "process.abort"),
    ("process.kill(process.pid)", "process.kill"),
    ("const args = process.argv", "process.argv"),
    ("const m = process.mainModule", "process.mainModule"),
    ("process.stdout.write('passed')", "process.stdout"),
    ("process.on('exit', () => {})", "process.on"),
    ("process.once('beforeExit', () => {})", "process.once"),
    ("process.listeners('beforeExit')[0]()", "process.listeners"),
    ("process.dlopen(module, 'x.node')", "process.dlopen"),
    ("const p = process\np.exit()", "uses process as a value"),
    ("const {exit} = process", "uses process as a value"),
    # require
    ("require('child_process').execSync('ls')", "requires 'child_process'"),
    ("const fs = require('fs')\nfs.writeSync(3, 'x')", "requires 'fs'"),
    ("require('node:fs')", "requires 'node:fs'"),
    ("require('fs/promises')", "requires 'fs/promises'"),
    ("require('vm').runInThisContext('1')", "requires 'vm'"),
    ("require('inspector')", "requires 'inspector'"),
    ("require('v8')", "requires 'v8'"),
    ("require('worker_threads')", "requires 'worker_threads'"),
    ("require('module')", "requires 'module'"),
    ("require('cluster')", "requires 'cluster'"),
    ("require('net')", "requires 'net'"),
    ("require('process')", "requires 'process'"),
    ("require('./runner.js')", "requires a file path './runner.js'"),
    ("require('/proc/self/fd/3')", "/proc/self/fd/3"),
    ("require(name)", "require of a computed module name"),
    ("const r = require\nr('fs')", "uses require as a value"),
    ("require.cache[k] = {}", "require.cache"),
    ("module.constructor._load('fs')", "module.constructor"),
    ("module.require('fs')", "module.require"),
    ("import('fs').then(() => {})", "dynamic import()"),
    # assert and console
    ("console.assert = () => {}", "assigns console.assert"),
    ("console.assert ||= 1", "assigns console.assert"),
    ("delete console.assert", "assigns console.assert"),
    ("Object.defineProperty(console, 'assert', {value: () => {}})", "Object.defineProperty on console"),
    ("Object.assign(console, {assert() {}})", "Object.assign on console"),
    ("Reflect.set(console, 'assert', () => {})", "Reflect.set on console"),
    ("const c = console\nc.assert = () => {}", "uses console as a value"),
    ("var console = {assert() {}, log() {}}", "declares console"),
    ("let {a: console} = {a: 1}", "declares console"),
    ("const assert = require('assert')\nassert.strictEqual = () => {}", "assigns assert.strictEqual"),
    ("require('assert').deepStrictEqual = () => {}", "assigns require.deepStrictEqual"),
    ("const {strictEqual} = require('assert')\nstrictEqual.call = null", "assigns strictEqual.call"),
    ("function require(x) { return {} }", "declares require"),
    # built-in prototypes and globals
    ("Array.prototype.includes = () => true", "assigns Array.prototype.includes"),
    ("Object.prototype.x = 1", "assigns Object.prototype.x"),
    ("String.prototype.split = function () { return [] }", "assigns String.prototype.split"),
    ("Number.prototype.valueOf = () => 1", "assigns Number.prototype.valueOf"),
    ("[].__proto__.map = () => []", "__proto__"),
    ("const o = {__proto__: Array.prototype}", "__proto__"),
    ("Object.setPrototypeOf(Array.prototype, null)", "Object.setPrototypeOf on Array"),
    ("Object.defineProperty(Array.prototype, 'x', {})", "Object.defineProperty on Array"),
    ("Object.getPrototypeOf([]).map = null", "getPrototypeOf"),
    ("JSON.stringify = () => '[]'", "assigns JSON.stringify"),
    ("Math.abs = () => 0", "assigns Math.abs"),
    ("Math = {}", "assigns Math"),
    ("globalThis.console = {}", "uses globalThis"),
    ("global.process.exit()", "uses global"),
    ("const Object = {}", "declares Object"),
    # code from strings, Function, constructor walking
    ("const f = [].constructor.constructor('return process')()", ".constructor"),
    ("this.constructor.constructor('return process')()", ".constructor"),
    ("Function('return this')().process.exit()", "builds a function from a string"),
    ("const f = new Function('return process')", "builds a function from a string"),
    ("eval('process.exit()')", "eval of a string that process.exit"),
    ("(0, eval)('this')", "uses eval indirectly"),
    ("eval(atob('cHJvY2Vzcy5leGl0KCk='))", "eval of a computed string in a program that decodes"),
    ("eval(String.fromCharCode(49))", "eval of a computed string in a program that decodes"),
    # lying values
    ("const o = { valueOf() { return 1 } }", "defines valueOf"),
    ("const o = { valueOf: () => 1 }", "defines valueOf"),
    ("o.valueOf = () => 1", "assigns o.valueOf"),
    ("const o = { [Symbol.toPrimitive]() { return 1 } }", "toPrimitive"),
    ("class A { static [Symbol.hasInstance]() { return true } }", "hasInstance"),
    ("const o = new Proxy({}, {get: () => true})", "uses Proxy"),
    ("Object.defineProperty(o, 'valueOf', {value: () => 1})", "valueOf"),
    # stack walking
    ("function f() { return arguments.callee.caller }", "callee"),
    ("Error.prepareStackTrace = (e, s) => s", "prepareStackTrace"),
    ("const x = (function () { return this })().process", "`this` of a plain function"),
    ("const x = f().process", "reaches process through a property"),
    ("const c = list[0].console", "reaches console through a property"),
    ("with (Math) { abs = null }", "with statement"),
    # strings naming process internals
    ("const s = '/proc/self/environ'", "/proc/self/environ"),
    ("const s = `/dev/fd/${n}`", "/dev/fd/"),
]

JS_EVASIONS = [
    ("\\u0070rocess.exit(0)", "process.exit"),
    ("pro\\u{63}ess.exit(0)", "process.exit"),
    ("process['em' + 'it']('beforeExit')", "process.emit"),
    ("process[`emit`]('beforeExit')", "process.emit"),
    ("process['\\x65mit']('beforeExit')", "process.emit"),
    ("process[name]('beforeExit')", "computed access on process"),
    ("process?.exit(0)", "process.exit"),
    ("process /* hidden */ . /* hidden */ exit(0)", "process.exit"),
    ("globalThis['process'].exit(0)", "globalThis"),
    ("console['ass' + 'ert'] = () => {}", "assigns console.assert"),
    ("console\n  .assert = () => {}", "assigns console.assert"),
    ("\\u0063onsole.assert = () => {}", "assigns console.assert"),
    ("Array['proto' + 'type'].includes = () => true", "assigns Array.prototype.includes"),
    ("require('f' + 's')", "requires 'fs'"),
    ("require(`child_process`)", "requires 'child_process'"),
    ("require('child\\x5fprocess')", "requires 'child_process'"),
    ("const g = (function () { return this })()\ng.console.assert = null", "`this` of a plain function"),
    ("function f() { const g = this; return g }", "`this` of a plain function"),
    ("const f = function* () { yield this }", "`this` of a plain function"),
    ("function f() { this.console.assert = null }", "reaches console through a property"),
    ("pro\\u0063ess.exit(0)", "process.exit"),
    ("processé.exit(0); process.exit(0)", "process.exit"),
    ("x[k]['assert'] = () => {}", "assigns x.[].assert"),
    # a `/` the tokenizer could misread must not hide code
    ("if (x) /'/.test(s); process.exit(); //'", "process.exit"),
    ("x = a / b; process.exit() / 2", "process.exit"),
    ("const re = /process.exit()/", "mentions process in a regex literal"),
    ("const t = `${`${process.exit()}`}`", "process.exit"),
    ("const s = \"a\\\"b\"; process.exit()", "process.exit"),
    ("const s = 'line\\\ncontinued'; process.exit()", "process.exit"),
]

# The harness appends the tests to the candidate's text: code that ends mid-statement or returns from the
# module body decides whether the tests run at all.
JS_CONCATENATION = [
    ("const f = (x) => x\nreturn", "returns from the module body"),
    ("const f = (x) => x\nif (true) { return }", "returns from the module body"),
    ("const f = (x) => x\ntry { return } catch (e) {}", "returns from the module body"),
    ("const f = (x) => x\nif (false)", "bare if/while/for header"),
    ("const f = (x) => x\nwhile (0)", "bare if/while/for header"),
    ("const f = (x) => x\nfalse &&", "ends mid-statement with '&&'"),
    ("const f = (x) => x\ntrue ||", "ends mid-statement with '||'"),
    ("const f = (x) => x\n1 ??", "ends mid-statement with '??'"),
    ("const f = (x) => x\nconst g = () =>", "ends mid-statement with '=>'"),
    ("const f = (x) => x\nif (1) {} else", "ends with the keyword 'else'"),
    ("const f = (x) => x\n0 ? 0 :", "ends mid-statement with ':'"),
    ("const f = (x) => x\n/*", "leaves a comment open"),
    ("const f = (x) => x\nconst s = `", "leaves a template open"),
    ("const f = (x) => x\nconst s = 'open", "leaves a string open"),
    ("const f = (x) => x\nif (true) {", "leaves a block open"),
    ("const f = (x) => x\nfunction g() {", "leaves a func open"),
    ("const f = (x) => x\ng(", "leaves a paren open"),
    ("const f = (x) => x\n}}", "closes a '}' it never opened"),
]

JS_BENIGN = [
    "const f = (x) => x + 1\nmodule.exports = f",
    "function f(a, b) {\n  return a / b / 2\n}\nmodule.exports = { f }",
    "var md5 = require('js-md5')\nconst assert = require('assert')\nconst util = require('node:util')",
    "const { strictEqual } = require('assert')",
    "class A {\n  constructor(x) { this.x = x }\n  toString() { return `A(${this.x})` }\n  get size() { return 1 }\n}",
    "const self = this\nconst global = {}\nglobal.x = 1",
    "const process = (s) => s.trim()\nconst out = process(' x ')",
    "const args = Array.prototype.slice.call([1, 2])\nconst o = Object.assign({}, {a: 1})",
    "const words = s.split(/\\s+/).filter((w) => w.length > 0)\nconst r = /[/]/.test(s)",
    "const half = (a + b) / 2\nconst third = (x) / 3\nconst q = arr[0] / arr[1]",
    "if (x) {\n  y = 1\n}\n/re/.test(s)",
    "let t = `total: ${items.map((i) => `${i}`).join(', ')}`",
    "const kind = x.constructor.name\nconst same = x.constructor === Object",
    "const m = new Map()\nm.set('a', 1)\nconst json = JSON.stringify([...m])",
    "const o = {process: 1, console: 2}\nconst v = o.process + o.console",
    "class A {\n  constructor() { this.x = 1 }\n  add() { return this }\n}\nconst f = () => this",
    "function Point(x) {\n  this.x = x\n}\nPoint.prototype.norm = function () { return this.x }",
    "console.log('x')\nconsole.error('y')",
    "if (require.main === module) {\n  console.log(f(1))\n}",
    "const e = process.env.HOME\nprocess.nextTick(() => {})",
    "for (let i = 0; i < n; i++) { total += i }",
    "const sorted = [...arr].sort((a, b) => a - b)",
    "function f() { return }\nf()",
    "label: for (const x of xs) { if (x) break label }",
    "const r = a++ / 2",
    "const s = '// not a comment'; const t = \"/* nor this */\"",
    "const big = 10n ** 20n",
    "exports.f = (x) => x",
    "const log = console.log.bind(console)",
]


@pytest.mark.parametrize(("code", "expected"), JS_ATTACKS + JS_EVASIONS + JS_CONCATENATION)
def test_javascript_primitive_is_named(code, expected):
    reason = screen(code, "javascript")
    assert reason is not None, f"not flagged: {code!r}"
    assert expected in reason, f"{reason!r} does not name {expected!r}"
    assert "(line " in reason


@pytest.mark.parametrize("code", JS_BENIGN)
def test_ordinary_javascript_is_not_flagged(code):
    assert screen(code, "javascript") is None


def test_javascript_line_numbers_follow_every_line_break():
    code = "const a = 1\r\nconst b = `x\ny`\u2028/* c\n */\nprocess.exit()"
    assert screen(code, "javascript") == "process.exit (line 6)"


@pytest.mark.parametrize("language", ["python", "javascript"])
def test_garbage_never_raises(language):
    """Random slices, splices and byte noise from real programs: screening answers, never raises."""
    rng = random.Random(1234)
    sources = [code for programs in CANONICAL.values() for _, lang, code in programs if lang == language]
    alphabet = "\\/'\"`{}()[]$\n\r\t *+-=<>!?:;.,#@%^&|~\u2028\ufeff\udc80\x00é中"
    for _ in range(400):
        code = rng.choice(sources)
        start, end = sorted(rng.randrange(len(code) + 1) for _ in range(2))
        noise = "".join(rng.choice(alphabet) for _ in range(rng.randrange(8)))
        mutated = code[:start] + noise + code[end:] if rng.random() < 0.7 else code[start:end]
        reason = screen(mutated, language)
        assert reason is None or isinstance(reason, str)


def test_the_findings_cache_keeps_a_verdict_per_code_and_language_and_stays_bounded() -> None:
    from tools.verification import screening

    hostile = "import builtins\nbuiltins.exec = lambda *a: None\n"
    first = screen(hostile, "python")
    assert first is not None and screen(hostile, "python") == first  # cached: still flagged
    assert screen(hostile.encode(), "python") == first  # bytes are the same code
    assert screen("const x = 1;", "javascript") is None and screen("x = 1", "python") is None
    for n in range(screening.CACHE_SIZE + 10):
        screen(f"x = {n}", "python")
    assert len(screening._findings) <= screening.CACHE_SIZE
    assert screen(hostile, "python") == first  # evicted or not, the same verdict


def test_a_digit_the_number_pattern_does_not_know_is_not_a_crash() -> None:
    screen("var x = .²;", "javascript")  # str.isdigit() accepts "²", the number pattern does not: no exception
    assert isinstance(screen("var x = .²; process.binding('fs')", "javascript"), str)
