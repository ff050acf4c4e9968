"""`run.py synth`: the OUTDIR lock comes before any model server starts, and every warning of a run — an endpoint
dropped by the preflight, a schema's structured-output fallback — is one `warning:` line, kept in run.log too."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import graphs.app.commands.synth as synth
import graphs.app.model_endpoint as model_endpoint
from run import main
from tests.coder_model import CoderModel
from tests.fakes import ChatRequest, Reply, ScriptedOpenAIServer, outdir_held_elsewhere
from tests.test_model_endpoint import fake_python
from tests.test_synth_e2e import rows, synth_args, write_seeds
from tools.errors import ConfigError

REFUSAL = "this schema is not supported by the grammar backend"


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """OUTDIR, locked by another process (the lock is re-entrant within one)."""
    out = tmp_path / "out"
    with outdir_held_elsewhere(out) as pid:
        yield out, pid


def error_lines(err: str) -> list[str]:
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_a_held_outdir_stops_synth_before_a_vllm_server_starts(
        held: tuple[Path, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out, holder = held
    started: list[str] = []

    class NoServer:
        def __init__(self, model: str, **options: object) -> None:
            started.append(model)
            raise AssertionError("a vLLM server was started for a run that cannot take its OUTDIR")

    # no --base-url, a GPU vLLM here: without the lock first, synth would start a server for org/model
    monkeypatch.setenv("CODEMILL_LLM_VLLM_PYTHON", str(fake_python(tmp_path, "gpu")))
    monkeypatch.setattr(model_endpoint, "VLLMServer", NoServer)
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept"])
    assert main(["synth", str(seeds), "--out", str(out), "--model", "org/model"]) == 1
    err = capsys.readouterr().err
    assert error_lines(err) == [error_lines(err)[0]] and f"in use by pid {holder}" in err
    assert "starting vLLM" not in err and started == []
    assert sorted(path.name for path in out.iterdir()) == [".lock"]  # the holder's, untouched
    assert json.loads((out / ".lock").read_text())["pid"] == holder


def test_the_lock_is_held_while_the_endpoint_is_set_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "a" / "b" / "out"  # none of it exists yet
    seen: list[int] = []

    def endpoint(*args: object, **kwargs: object) -> None:
        seen.append(json.loads((out / ".lock").read_text())["pid"])
        raise ConfigError("no endpoint here")

    monkeypatch.setattr(synth, "model_endpoint", endpoint)
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept"])
    assert main(["synth", str(seeds), "--out", str(out)]) == 1
    assert seen == [os.getpid()]
    assert error_lines(capsys.readouterr().err) == ["error: no endpoint here"]
    assert not (tmp_path / "a").exists()  # nothing was recorded: the directories the lock made are gone again


def test_a_dropped_endpoint_is_a_warning_in_run_log_after_the_start_line(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept"])
    dead = ScriptedOpenAIServer()
    dead_url = dead.base_url
    dead.stop()
    out = tmp_path / "out"
    with ScriptedOpenAIServer(CoderModel()) as server:
        assert main([*synth_args(seeds, out, server, "--no-report"), "--base-url", dead_url]) == 0
    warning = f"warning: dropping endpoint {dead_url}"
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if dead_url in line] == [line for line in err.splitlines()
                                                                       if line.startswith(warning)]
    assert len([line for line in err.splitlines() if line.startswith(warning)]) == 1
    log = [line.split(" ", 1)[1] for line in (out / "run.log").read_text().splitlines()]
    [at] = [index for index, line in enumerate(log) if line.startswith(warning)]
    assert log[0].startswith("start: ") and at > 0


def _refusing(schema: str, model: CoderModel):
    """A server whose grammar backend cannot enforce `schema`: it refuses that response_format (400) and answers
    the prompt-only request (the schema in the system note) as the coder model would."""

    def handler(request: ChatRequest) -> Reply:
        name = (request.response_format or {}).get("json_schema", {}).get("name")
        if name == schema:
            return Reply.error(400, REFUSAL)
        system = str(request.messages[0].get("content", "")) if request.messages else ""
        if request.response_format is None and f'"title":"{schema}"' in system:
            request = ChatRequest(request.path, dict(request.body, response_format={"json_schema": {"name": schema}}),
                                  request.index)
        return model(request)

    return handler


def test_a_schema_fallback_is_one_warning_line_on_stderr_and_in_run_log(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept", "accept", "accept"])
    out = tmp_path / "out"
    with ScriptedOpenAIServer(_refusing("GenerationReply", CoderModel())) as server:
        assert main(synth_args(seeds, out, server, "--no-report")) == 0
    assert len(rows(out / "sft.jsonl")) == 3  # the fallback worked for every thread
    err = capsys.readouterr().err
    mentions = [line for line in err.splitlines() if "refused response_format" in line]
    assert len(mentions) == 1, err  # once per run, not once per thread; never again bare (logging's last resort)
    assert mentions[0].startswith("warning: the server refused response_format for GenerationReply")
    assert REFUSAL in mentions[0]
    log = [line.split(" ", 1)[1] for line in (out / "run.log").read_text().splitlines()]
    assert [line for line in log if "refused response_format" in line] == [mentions[0]]


def test_sigterm_outside_the_batch_is_one_line_143_and_logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    def terminated(*args: object, **kwargs: object) -> None:  # while seeding: before the batch's own handlers
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # (interrupted by the handler: never waited for)
        raise AssertionError("SIGTERM did not interrupt synth")

    def not_handled(signum: int, frame: object) -> None:  # (without it, a regression would kill pytest)
        raise RuntimeError("SIGTERM reached the handler that was there before main()")

    monkeypatch.setattr(synth, "load_or_prepare_seeds", terminated)
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept"])
    out = tmp_path / "out"
    before = signal.signal(signal.SIGTERM, not_handled)
    try:
        with ScriptedOpenAIServer(CoderModel()) as server:
            assert main(synth_args(seeds, out, server, "--no-report")) == 143
    finally:
        signal.signal(signal.SIGTERM, before)
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "interrupted" in line] == ["interrupted (SIGTERM)"], err
    log = (out / "run.log").read_text()
    assert "start: " in log and log.rstrip().endswith("interrupted; re-run the same command to resume")
    assert not (out / ".lock").exists()  # released
