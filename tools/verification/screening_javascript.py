"""Static screening of JavaScript candidates (the rules; the API is `tools.verification.screening.screen`):
a careful tokenizer (no parser is at hand), then rules over the tokens."""

from __future__ import annotations

import bisect
import re

from tools.verification.screening_common import FD_PATH, MAX_NESTED_SCREENS, TOO_DEEP, Finding

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
                space = _JS_SPACE.match(src, self.i)
                assert space is not None  # \s is exactly what str.isspace() accepts
                self._advance_to(space.end())
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
            elif (ch.isdigit() or ch == ".") and (number := _JS_NUMBER.match(src, self.i)) is not None:
                # (not str.isdigit() after the dot: it accepts "²", which is no number and made this crash)
                self._emit("num", number.group())
                self._advance_to(number.end())
            elif ch == "/" and self._regex_allowed() and self._regex():
                pass
            else:
                punct = _JS_PUNCT.match(src, self.i)
                assert punct is not None  # its last alternative is any one character
                text = punct.group()
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
            assert match is not None  # c is one of 0-7
            return chr(int(match.group(), 8) & 0xFF), match.end()
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
                flags = re.compile(r"[\w$]*").match(src, j + 1)
                assert flags is not None  # it matches the empty string
                end = flags.end()
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


def screen_javascript(code: str, depth: int) -> Finding | None:
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
            if FD_PATH.search(tok.text) or tok.text == "proc":
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
            elif (inner := screen_javascript(arg.text, self.depth + 1)) is not None:
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
