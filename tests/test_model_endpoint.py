"""Which model a run talks to when no endpoint is given (graphs/app/model_endpoint.py), with no vLLM in this venv:
the decision on a CPU machine, a GPU machine and one without vLLM; a running `serve` reused and never stopped; the
interpreter that runs vLLM (`[llm] vllm_python`, discovery of `.venv-vllm`). A fake interpreter stands in for a
vLLM venv: it answers the device probe and runs the scripted server (tests.fakes) in place of vLLM's api_server."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from graphs.app.model_endpoint import NO_VLLM, LocalModel, local_model, model_endpoint
from run import main
from tools.errors import ConfigError
from tools.llm.demo_model import DEMO_MODEL, DemoBuild, build_demo_model, template_sha256
from tools.llm.launcher import VLLM_VENV_PYTHON, find_vllm_python
from tools.llm.server_registry import RunningServer, record_path, record_server, running_server
from tools.llm.settings import DEFAULT_MODEL, LLMSettings
from tools.settings import load_settings

FAKE = "tests.fakes"
ROOT = Path(__file__).resolve().parent.parent
QWEN = DEFAULT_MODEL


def settings(**values: object) -> LLMSettings:
    """Settings as the commands build them: environment (the test's cache dir, vllm_python) under the values."""
    return load_settings(LLMSettings, **values)


def fake_python(tmp_path: Path, device: str) -> Path:
    """An interpreter whose 'vLLM' is `device` (cpu, gpu or none); it logs how it was run and runs the real one."""
    script = tmp_path / f"python-{device}"
    log = tmp_path / f"python-{device}.log"
    script.write_text(f'#!/bin/sh\nprintf "%s " "$@" | tr "\\n" " " >> {log}\necho >> {log}\n'
                      f'if [ "$1" = "-c" ]; then echo {device}; exit 0; fi\nexec {sys.executable} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def built_demo(cache_dir: Path) -> Path:
    """A finished demo build (placeholder weights: the scripted server never reads them)."""
    def convert(workdir: Path, _say: object) -> DemoBuild:
        (workdir / "model").mkdir()
        for name in ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                     "tokenizer_config.json", "GEMMA_TERMS.html", "NOTICE.md"):
            (workdir / "model" / name).write_text("{}")
        return DemoBuild(build_format=1, source_version="1.0.0", gguf_sha256="0" * 64,
                         template_sha256=template_sha256(), seconds=0.0)

    return build_demo_model(cache_dir, convert=convert, progress=lambda _: None)


def console_lines() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=40), out  # narrow: a message that wraps would show up as several lines


# -- the decision ----------------------------------------------------------------------------------------------


def test_on_cpu_the_default_is_the_demo_model_and_on_a_gpu_the_configured_code_model() -> None:
    assert local_model(settings(), "cpu") == LocalModel(model=DEMO_MODEL, served_model_name=DEMO_MODEL)
    assert local_model(settings(), "gpu") == LocalModel(model=QWEN, served_model_name=QWEN)
    assert local_model(settings(model="demo"), "gpu").is_demo
    assert local_model(settings(model="org/other"), "gpu").model == "org/other"


def test_a_model_named_in_the_environment_or_config_counts_as_chosen(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    monkeypatch.setenv("CODEMILL_MODEL", QWEN)  # even the default's own name: the user asked for it
    with pytest.raises(ConfigError, match="no endpoint for model"):
        local_model(settings(), "cpu")
    monkeypatch.delenv("CODEMILL_MODEL")
    config = tmp_path / "codemill.toml"
    config.write_text('[llm]\nmodel = "demo"\n')
    assert load_settings(LLMSettings, config_file=config).model == "demo"
    assert local_model(load_settings(LLMSettings, config_file=config), "gpu").is_demo


def test_on_cpu_a_local_model_directory_is_served_and_any_other_name_is_one_line(tmp_path: Path) -> None:
    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    assert local_model(settings(model=str(model_dir)), "cpu").model == str(model_dir)
    with pytest.raises(ConfigError) as caught:
        local_model(settings(model="org/not-a-dir"), "cpu")
    message = str(caught.value)
    assert "\n" not in message and "'org/not-a-dir'" in message
    assert "--base-url" in message and "run.py serve" in message and "--model demo" in message
    assert local_model(settings(model="org/not-a-dir"), "cpu", any_name=True).model == "org/not-a-dir"  # serve


def test_without_vllm_every_name_but_demo_is_the_no_vllm_line() -> None:
    with pytest.raises(ConfigError, match="no vLLM") as caught:
        local_model(settings(model="org/x"), None)
    assert str(caught.value) == NO_VLLM and "\n" not in NO_VLLM
    assert "--base-url" in NO_VLLM and "run.py serve" in NO_VLLM and "--model demo" in NO_VLLM


# -- the interpreter that has vLLM ---------------------------------------------------------------------------------


def test_vllm_python_setting_is_read_from_the_environment_and_must_exist(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    python = fake_python(tmp_path, "cpu")
    monkeypatch.delenv("CODEMILL_LLM_VLLM_PYTHON")
    monkeypatch.setenv("CODEMILL_VLLM_PYTHON", str(python))
    assert settings().vllm_python == python and find_vllm_python(settings().vllm_python) == python
    with pytest.raises(ConfigError, match=r"vllm_python .*does not exist"):
        find_vllm_python(tmp_path / "missing" / "python")


def test_discovery_takes_the_vllm_venv_beside_the_checkout_then_in_the_working_directory(tmp_path: Path) -> None:
    checkout, cwd = tmp_path / "checkout", tmp_path / "cwd"
    assert find_vllm_python(None, places=(checkout, cwd)) is None  # this venv has no vLLM, and there is none
    for place in (cwd, checkout):
        (place / VLLM_VENV_PYTHON).parent.mkdir(parents=True)
        (place / VLLM_VENV_PYTHON).symlink_to(sys.executable)  # a venv's python is a symlink
    assert find_vllm_python(None, places=(checkout, cwd)) == checkout / VLLM_VENV_PYTHON
    (checkout / VLLM_VENV_PYTHON).unlink()
    assert find_vllm_python(None, places=(checkout, cwd)) == cwd / VLLM_VENV_PYTHON


# -- starting, reusing, refusing -------------------------------------------------------------------------------


def test_on_cpu_with_no_endpoint_the_demo_model_is_started_with_the_vllm_python_and_stopped(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    python = fake_python(tmp_path, "cpu")
    monkeypatch.setenv("CODEMILL_LLM_VLLM_PYTHON", str(python))
    monkeypatch.setenv("CODEMILL_LLM_MODEL_CACHE_DIR", str(tmp_path / "cache"))
    demo_dir = built_demo(tmp_path / "cache")
    console, out = console_lines()
    with model_endpoint(settings(), console, log_path=tmp_path / "vllm.log", module=FAKE) as endpoint:
        assert endpoint.model == DEMO_MODEL and len(endpoint.base_urls) == 1
        models = httpx.get(f"{endpoint.base_urls[0]}/models", timeout=5).json()
        assert [entry["id"] for entry in models["data"]] == [DEMO_MODEL]
    with pytest.raises(httpx.ConnectError):  # stopped after the run
        httpx.get(f"{endpoint.base_urls[0]}/models", timeout=2)
    runs = (tmp_path / "python-cpu.log").read_text().splitlines()
    assert any(line.startswith(f"-m {FAKE} --model {demo_dir} ") for line in runs)  # the vllm python ran it
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("starting vLLM (cpu) for demo") and "vllm.log" in lines[0]
    assert lines[1] == f"vLLM serving demo at {endpoint.base_urls[0]} (stopped after this run)"


def test_on_a_gpu_the_configured_code_model_is_started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CODEMILL_LLM_VLLM_PYTHON", str(fake_python(tmp_path, "gpu")))
    console, out = console_lines()
    with model_endpoint(settings(), console, module=FAKE) as endpoint:
        assert endpoint.model == QWEN
    assert out.getvalue().startswith(f"starting vLLM (gpu) for {QWEN}")
    assert not list(settings().model_cache_dir.glob("gemma-3-270m-demo-*"))  # no demo build on a GPU


def test_on_cpu_an_unknown_name_starts_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CODEMILL_LLM_VLLM_PYTHON", str(fake_python(tmp_path, "cpu")))
    console, out = console_lines()
    with pytest.raises(ConfigError, match="no endpoint for model 'org/big'"), \
            model_endpoint(settings(model="org/big"), console, module=FAKE):
        pass
    runs = (tmp_path / "python-cpu.log").read_text().splitlines()
    assert all(line.startswith("-c") for line in runs) and out.getvalue() == ""  # probed, never started


def test_a_running_serve_is_reused_and_left_running_even_without_vllm_here(scripted_server, tmp_path: Path) -> None:
    server = scripted_server(model=DEMO_MODEL)
    cache = settings().model_cache_dir
    record_server(cache, RunningServer(url=server.base_url, pid=os.getpid(), model=DEMO_MODEL,
                                       served_model_name=DEMO_MODEL))
    console, out = console_lines()
    with model_endpoint(settings(), console, module=FAKE) as endpoint:  # this venv has no vLLM
        assert endpoint.base_urls == [server.base_url] and endpoint.model == DEMO_MODEL
    assert httpx.get(f"{server.base_url}/models", timeout=5).status_code == 200  # not stopped
    assert out.getvalue().count("\n") == 1 and "already running at " + server.base_url in out.getvalue()
    assert not list(Path(cache).glob("gemma-3-270m-demo-*"))  # nothing built


def test_a_record_whose_process_is_gone_is_removed_and_one_that_does_not_serve_is_ignored(scripted_server) -> None:
    server = scripted_server(model="other-name")
    cache = settings().model_cache_dir
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    record_server(cache, RunningServer(url=server.base_url, pid=int(dead.stdout), model=DEMO_MODEL,
                                       served_model_name=DEMO_MODEL))
    assert running_server(cache, DEMO_MODEL) is None and not record_path(cache, DEMO_MODEL).exists()
    record_server(cache, RunningServer(url=server.base_url, pid=os.getpid(), model=DEMO_MODEL,
                                       served_model_name=DEMO_MODEL))  # alive, but its server lists another name
    assert running_server(cache, DEMO_MODEL) is None and record_path(cache, DEMO_MODEL).exists()
    record_path(cache, DEMO_MODEL).write_text("{not json")
    assert running_server(cache, DEMO_MODEL) is None
    with pytest.raises(ConfigError, match="no vLLM"), model_endpoint(settings(), Console(file=io.StringIO())):
        pass  # nothing to reuse, and no vLLM to start one: the one line


def test_synth_with_an_unknown_model_on_cpu_prints_one_line_and_writes_nothing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CODEMILL_LLM_VLLM_PYTHON", str(fake_python(tmp_path, "cpu")))
    out = tmp_path / "out"
    assert main(["synth", str(ROOT / "examples" / "seeds"), "--out", str(out), "--model", "org/big"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: no endpoint for model 'org/big'")
    assert not out.exists() or not any(out.iterdir())


def test_synth_without_an_endpoint_uses_the_running_serve_and_leaves_it_running(
        scripted_server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = scripted_server(model=DEMO_MODEL)
    record_server(settings().model_cache_dir, RunningServer(url=server.base_url, pid=os.getpid(), model=DEMO_MODEL,
                                                            served_model_name=DEMO_MODEL))
    code = main(["synth", str(ROOT / "examples" / "seeds"), "--out", str(tmp_path / "out"), "--limit", "1",
                 "--task-mix", "summarization=1", "--max-retries", "0"])
    assert code == 0, capsys.readouterr().err
    assert server.requests and all(request.body["model"] == DEMO_MODEL for request in server.requests)
    assert httpx.get(f"{server.base_url}/models", timeout=5).status_code == 200
    assert f"already running at {server.base_url}" in capsys.readouterr().err


# -- run.py serve ----------------------------------------------------------------------------------------------------


def test_serve_for_a_model_already_served_prints_its_url_and_starts_nothing(
        scripted_server, capsys: pytest.CaptureFixture[str]) -> None:
    server = scripted_server(model=DEMO_MODEL)
    record_server(settings().model_cache_dir, RunningServer(url=server.base_url, pid=os.getpid(), model=DEMO_MODEL,
                                                            served_model_name=DEMO_MODEL))
    assert main(["serve", "--model", "demo", "--vllm-module", FAKE]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{server.base_url}\n"
    assert "already being served" in captured.err and "not starting another" in captured.err


def test_serve_records_its_server_while_it_runs_and_removes_the_record_on_exit(tmp_path: Path) -> None:
    cache = settings().model_cache_dir
    with subprocess.Popen([sys.executable, "run.py", "serve", "--model", "tiny", "--port", "0", "--vllm-module", FAKE],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            base_url = process.stdout.readline().strip()
            found = running_server(cache, "tiny")
            assert found is not None and found.url == base_url and found.served_model_name == "tiny"
            assert found.pid != process.pid  # the server's own process, not the `serve` command's
            again = subprocess.run([sys.executable, "run.py", "serve", "--model", "tiny", "--vllm-module", FAKE],
                                   cwd=ROOT, capture_output=True, text=True, timeout=60)
            assert again.returncode == 0 and again.stdout.strip() == base_url
            process.terminate()
            process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    assert not record_path(cache, "tiny").exists() and running_server(cache, "tiny") is None


def test_a_langchain_backend_without_a_base_url_starts_nothing(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    monkeypatch.setenv("CODEMILL_LLM_VLLM_PYTHON", str(fake_python(tmp_path, "cpu")))
    chosen = settings(backend="langchain:some_module.SomeChatModel")
    with model_endpoint(chosen, Console(file=io.StringIO()), module=FAKE) as endpoint:
        assert endpoint == chosen
    assert not (tmp_path / "python-cpu.log").exists()  # not even probed
