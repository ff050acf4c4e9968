"""The chat session without a terminal: the graph it draws, what it refuses before there is an instance, and
settings changes that reach the next run."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from graphs.app.chat.session import ChatSession, code_seed, words_seed
from graphs.context import SynthSettings
from graphs.roster import build_roster
from tools.errors import InputError


def session(tmp_path: Path) -> ChatSession:
    return ChatSession(build_roster(), SynthSettings(), llm=None, sandbox=None, pool=None, outdir=tmp_path,
                       console=Console(record=True, width=120))


def test_the_drawing_shows_the_human_review_step(tmp_path: Path) -> None:
    chat = session(tmp_path)
    mermaid = chat.drawing("mermaid")
    assert "graph TD;" in mermaid
    assert "execute --> human_review" in mermaid and "human_review --> finalize" in mermaid
    ascii_art = chat.drawing("ascii")
    assert "human_review" in ascii_art  # an ASCII drawing, or the Mermaid with a note when grandalf is missing


async def test_steering_before_any_instance_says_what_to_do_first(tmp_path: Path) -> None:
    chat = session(tmp_path)
    for step in (chat.verdict(True, ""), chat.regenerate("tests"), chat.regenerate("instance"),
                 chat.edit_test(1, "assert True"), chat.resume()):
        with pytest.raises(InputError, match="first"):
            await step


def test_settings_changes_reach_the_next_run_with_a_fresh_sampling_seed(tmp_path: Path) -> None:
    chat = session(tmp_path)
    chat.with_settings(n_candidates=9, temperature=0.1)
    first, second = chat.context(), chat.context()
    assert first.settings.n_candidates == 9 and first.settings.temperature == 0.1
    assert first.settings.seed != second.settings.seed  # a regeneration is a new sample, not a replay


def test_seeds_from_words_and_code_have_stable_ids(tmp_path: Path) -> None:
    words = words_seed("reverse the words\nof a sentence")
    assert words.code.splitlines()[1:] == ["# reverse the words", "# of a sentence"]
    assert words.id == words_seed("reverse the words\nof a sentence").id != words_seed("sort a list").id
    assert code_seed("def f(): pass", "python").path == "<pasted>"


def test_saving_nothing_writes_the_synth_files_empty(tmp_path: Path) -> None:
    assert session(tmp_path).save(tmp_path / "out") == {"sft": 0, "dpo": 0, "matrix": 0}
    assert {path.name for path in (tmp_path / "out").iterdir()} == {"sft.jsonl", "dpo.jsonl", "matrix.jsonl",
                                                                   "ledger.jsonl"}
