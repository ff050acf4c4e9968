"""The chat command parser: slash commands with typed arguments and clear usage errors; seeds, pasted code
and tasks in words told apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphs.app.chat.parser import COMMANDS, guess_language, looks_like_code, parse_input
from tools.errors import InputError


@pytest.mark.parametrize(("line", "name", "number", "choice", "text"), [
    ("/n 5", "n", 5, "", ""),
    ("/m  7", "m", 7, "", ""),
    ("/temp 0.2", "temp", 0.2, "", ""),
    ("/temperature 1", "temp", 1.0, "", ""),
    ("/task repair", "task", None, "repair", ""),
    ("/task summ", "task", None, "summarization", ""),
    ("/regen tests", "regen", None, "tests", ""),
    ("/regen cand", "regen", None, "candidates", ""),
    ("/regen instance", "regen", None, "instance", ""),
    ("/graph", "graph", None, "mermaid", ""),
    ("/graph ascii", "graph", None, "ascii", ""),
    ("/lang js", "lang", None, "", ""),
    ("/edit-test 2 assert f(1) == 2", "edit-test", 2, "", "assert f(1) == 2"),
    ("/edit-test 3", "edit-test", 3, "", ""),
    ("/accept", "accept", None, "", ""),
    ("/accept nice and tight", "accept", None, "", "nice and tight"),
    ("/reject the tests are trivial", "reject", None, "", "the tests are trivial"),
    ("/save", "save", None, "", ""),
    ("/exit", "quit", None, "", ""),
    ("/Q", "quit", None, "", ""),
    ("/HELP", "help", None, "", ""),
])
def test_commands_parse_to_their_typed_arguments(line: str, name: str, number: float | None, choice: str,
                                                  text: str) -> None:
    parsed = parse_input(line)
    assert (parsed.kind, parsed.name, parsed.number, parsed.text) == ("command", name, number, text)
    if choice:
        assert parsed.choice == choice


def test_lang_knows_short_names() -> None:
    assert parse_input("/lang js").choice == "javascript"
    assert parse_input("/lang py").choice == "python"
    assert parse_input("/lang auto").choice == "auto"


def test_a_multi_line_edit_keeps_the_code_intact() -> None:
    parsed = parse_input("/edit-test 1\ndef test_it():\n    assert f(2) == 3\n")
    assert parsed.number == 1 and parsed.text == "def test_it():\n    assert f(2) == 3"


@pytest.mark.parametrize(("line", "message"), [
    ("/n five", "usage: /n N"),
    ("/n 0", "out of range"),
    ("/m 65", "out of range"),
    ("/temp 3", "out of range"),
    ("/task cooking", "one of generation, summarization, repair, translation"),
    ("/regen everything", "one of tests, candidates, instance"),
    ("/reject", "say why"),
    ("/edit-test", "usage: /edit-test K"),
    ("/frobnicate", "unknown command /frobnicate"),
    ("/graph svg", "one of mermaid, ascii"),
])
def test_bad_commands_say_how_to_use_them(line: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_input(line)


def test_every_command_has_usage_and_help() -> None:
    assert all(usage.startswith("/") and text for usage, text in COMMANDS.values())


def test_words_code_and_files_are_told_apart(tmp_path: Path) -> None:
    seed = tmp_path / "seed.py"
    seed.write_text("def f(x):\n    return x\n")
    assert parse_input("Write a function that reverses the words of a sentence").kind == "words"
    assert parse_input("Sort a list\nthen drop duplicates, keeping the first").kind == "words"
    assert parse_input("def f(x):\n    return x * 2\n").kind == "code"
    assert parse_input("function f(x) {\n  return x * 2;\n}").kind == "code"
    assert parse_input("import math").kind == "code"
    file_input = parse_input(f"  {seed}  ")
    assert (file_input.kind, file_input.text) == ("file", str(seed))
    assert parse_input(str(seed)).kind == "file"  # an absolute path starts with "/" but is not a command
    assert parse_input("   ").kind == "empty"


def test_pasted_code_keeps_its_indentation() -> None:
    code = "    def method(self):\n        return 1"
    assert parse_input(code + "\n").text == code


@pytest.mark.parametrize(("code", "language"), [
    ("def f():\n    pass", "python"),
    ("from x import y\n", "python"),
    ("const f = (x) => x + 1;", "javascript"),
    ("function f(x) {\n  return x;\n}", "javascript"),
])
def test_the_language_of_pasted_code_is_guessed(code: str, language: str) -> None:
    assert looks_like_code(code) and guess_language(code) == language
