"""`run.py synth` as an operator meets it: inputs of the wrong kind, preflight of the endpoints, the manifest's
record of every run, a warning on resuming with other settings, outcomes explained when few threads produce a
row, the run log, a re-run from the reply cache with no new calls, a full disk, SIGTERM and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from run import main
from tests.coder_model import CoderModel
from tests.fakes import Reply, ScriptedOpenAIServer
from tests.test_synth_e2e import ROOT, rows, synth_args, write_seeds

ONE_LINE_ERRORS = [
    ("missing", lambda tmp: [str(tmp / "nope.jsonl")], "no such seed file or directory"),
    ("binary", lambda tmp: [str(_binary(tmp))], "is a binary file"),
    ("fifo", lambda tmp: [str(_fifo(tmp))], "is a named pipe"),
    ("config is a directory", lambda tmp: [str(write_seeds(tmp / "s.jsonl", ["accept"])), "--config", str(tmp)],
     "is a directory; a file is expected"),
]


def _binary(tmp: Path) -> Path:
    path = tmp / "blob.jsonl"
    path.write_bytes(b"\x7fELF\x00\x01\x02" * 100)
    return path


def _fifo(tmp: Path) -> Path:
    path = tmp / "pipe.jsonl"
    os.mkfifo(path)
    return path


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(("name", "inputs", "message"), ONE_LINE_ERRORS, ids=[case[0] for case in ONE_LINE_ERRORS])
def test_inputs_of_the_wrong_kind_are_one_line_and_nothing_is_written(tmp_path: Path, capsys, name, inputs,
                                                                      message) -> None:
    out = tmp_path / "out"
    code = main(["synth", *inputs(tmp_path), "--out", str(out), "--base-url", "http://127.0.0.1:9/v1"])
    assert code == 1 and message in error_line(capsys)
    assert not out.exists()


def test_an_out_of_the_wrong_kind_is_one_line_and_nothing_is_written(tmp_path: Path, capsys) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept"])
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep me")
    for out, message in ((a_file, "exists and is not a directory"), (a_file / "out", "is not a directory")):
        assert main(["synth", str(seeds), "--out", str(out), "--base-url", "http://127.0.0.1:9/v1"]) == 1
        assert message in error_line(capsys)
    assert a_file.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "seeds.jsonl"]


def test_preflight_names_the_models_the_server_has(tmp_path: Path, capsys) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept"])
    with ScriptedOpenAIServer(CoderModel(), also_serves=["other-model"]) as server:
        code = main(["synth", str(seeds), "--out", str(tmp_path / "out"), "--base-url", server.base_url,
                     "--model", "gpt-5"])
        assert server.call_count == 0
    line = error_line(capsys)
    assert code == 1 and "'gpt-5'" in line and "scripted-model" in line and "other-model" in line
    assert not (tmp_path / "out").exists()


def test_preflight_says_the_key_is_wrong(tmp_path: Path, capsys) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept"])
    with ScriptedOpenAIServer(CoderModel(), api_key="right") as server:
        code = main(["synth", str(seeds), "--out", str(tmp_path / "out"), "--base-url", server.base_url,
                     "--model", server.model, "--api-key", "wrong"])
    assert code == 1 and "API key" in error_line(capsys) and not (tmp_path / "out").exists()


def test_preflight_of_nothing_listening_is_one_line_within_ten_seconds(tmp_path: Path, capsys) -> None:
    dead = ScriptedOpenAIServer()
    url = dead.base_url
    dead.stop()
    started = time.monotonic()
    code = main(["synth", str(write_seeds(tmp_path / "seeds.jsonl", ["accept"])), "--out", str(tmp_path / "out"),
                 "--base-url", url, "--model", "m"])
    assert code == 1 and time.monotonic() - started < 10
    assert url in error_line(capsys) and not (tmp_path / "out").exists()


def test_a_failing_endpoint_is_dropped_with_a_warning_while_another_answers(tmp_path: Path, capsys) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept", "accept"])
    dead = ScriptedOpenAIServer()
    dead_url = dead.base_url
    dead.stop()
    with ScriptedOpenAIServer(CoderModel()) as server:
        args = synth_args(seeds, tmp_path / "out", server, "--no-report")
        assert main([*args, "--base-url", dead_url]) == 0
    err = capsys.readouterr().err
    assert f"warning: dropping endpoint {dead_url}" in err
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["base_urls"] == [server.base_url]


def test_the_manifest_keeps_every_run_and_rows_record_their_model(tmp_path: Path, capsys) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept", "reject_once", "accept"])
    out = tmp_path / "out"
    with ScriptedOpenAIServer(CoderModel(), also_serves=["second-model"]) as server:
        assert main([*synth_args(seeds, out, server, "--no-report"), "--limit", "2"]) == 0
        first = json.loads((out / "manifest.json").read_text())
        capsys.readouterr()
        args = [*synth_args(seeds, out, server, "--no-report", "--n-candidates", "3"), "--model", "second-model"]
        assert main(args) == 0
    err = capsys.readouterr().err
    [warning] = [line for line in err.splitlines() if line.startswith("warning:")]
    assert "model 'scripted-model' → 'second-model'" in warning and "n_candidates 5 → 3" in warning
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("model", "base_urls", "sampling", "synth", "seed", "versions", "seeds", "started_at", "finished_at",
                "counts", "usage"):
        assert key in manifest, key  # the keys it always had
    assert [run["model"] for run in manifest["runs"]] == ["scripted-model", "second-model"]
    assert [run["stopped"] for run in manifest["runs"]] == [None, None]
    assert manifest["runs"][0]["usage"] == first["usage"] and first["usage"]["agents"]
    assert manifest["totals"]["threads"] == {"accepted": 3} and manifest["totals"]["runs"] == 2
    calls = [run["usage"]["agents"]["generator"]["calls"] for run in manifest["runs"]]
    assert manifest["totals"]["usage"]["agents"]["generator"]["calls"] == sum(calls)
    assert manifest["outcome"]["with_rows"] == 3 and manifest["outcome"]["low_yield"] is False
    models = {row["provenance"]["seed_id"]: (row["model"], row["sampling"]["n_candidates"])
              for row in rows(out / "sft.jsonl")}
    assert models == {"seed-0-accept": ("scripted-model", 5), "seed-1-reject_once": ("scripted-model", 5),
                      "seed-2-accept": ("second-model", 3)}
    assert all(row["model"] and row["sampling"]["temperature"] is not None for name in ("dpo", "matrix", "ledger")
               for row in rows(out / f"{name}.jsonl"))


def test_few_rows_are_explained_with_the_top_reasons_and_exit_zero(tmp_path: Path, capsys,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEMILL_SYNTH_PROGRESS_INTERVAL_S", "0.2")
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["fail_all", "fail_all", "fail_all", "accept"])
    out = tmp_path / "out"
    with ScriptedOpenAIServer(CoderModel(), latency_s=0.05) as server:
        assert main(synth_args(seeds, out, server)) == 0  # it ran to the end: the model's outcomes do not matter
    err = capsys.readouterr().err
    assert "only 1 of 4 threads produced a row (25%); top reasons:" in err
    assert "3 × generate failed (OutputRejected)" in err
    outcome = json.loads((out / "manifest.json").read_text())["outcome"]
    assert outcome["low_yield"] is True and outcome["top_reasons"][0]["count"] == 3
    assert outcome["headline"].startswith("only 1 of 4 threads produced a row")
    log = (out / "run.log").read_text()
    assert "start: " in log and "synth 4/4 threads" in log and "top reasons:" in log
    progress = [line for line in log.splitlines() if " synth " in line and "calls" in line]
    assert progress and "tokens" in progress[-1] and "retries" in progress[-1]


def test_a_rerun_from_the_cache_without_checkpoints_makes_no_new_calls(tmp_path: Path) -> None:
    scenarios = ["accept", "reject_once", "accept", "reject_once", "accept", "accept"]
    seeds = write_seeds(tmp_path / "seeds.jsonl", scenarios)
    out = tmp_path / "out"
    with ScriptedOpenAIServer(CoderModel(), latency_s=0.02) as server:
        assert main([*synth_args(seeds, out, server, "--no-report"), "--threads", "4"]) == 0
        first = server.call_count
        prompts = [json.dumps(request.messages) for request in server.requests]
        assert any("Earlier tasks of this kind, judged by a reviewer" in text for text in prompts)  # few-shot feedback
        for name in ("checkpoints.sqlite", "ledger.jsonl"):
            (out / name).unlink()
        # another thread count, so threads finish in another order: the prompts must not depend on it
        assert main([*synth_args(seeds, out, server, "--no-report"), "--threads", "1"]) == 0
        assert server.call_count == first
    assert len(rows(out / "ledger.jsonl")) == len(scenarios)


def test_a_full_disk_is_one_line_and_leaves_no_torn_row(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mount)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept"] * 12)
        out = mount / "out"
        with ScriptedOpenAIServer(CoderModel()) as server:
            args = [sys.executable, "run.py", *synth_args(seeds, out, server, "--no-report"),
                    "--cache-path", str(tmp_path / "cache.sqlite")]
            done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 1, done.stderr[-3000:]
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "disk is full" in errors[0] and "Traceback" not in done.stderr
        for path in [*out.glob("*.jsonl"), *out.glob("pool/*.jsonl")]:
            data = path.read_bytes()
            assert not data or data.endswith(b"\n"), path
            for line in data.splitlines():
                json.loads(line)  # every row on disk is whole
    finally:
        subprocess.run(["umount", "-l", str(mount)])


@pytest.mark.slow
def test_sigterm_stops_cleanly_says_how_to_resume_and_the_resume_finishes(tmp_path: Path) -> None:
    scenarios = ["accept", "reject_once"] * 5
    seeds = write_seeds(tmp_path / "seeds.jsonl", scenarios)
    out = tmp_path / "out"
    with ScriptedOpenAIServer(CoderModel(), latency_s=0.2) as server:
        args = [sys.executable, "run.py", *synth_args(seeds, out, server, "--no-report"), "--threads", "2"]
        process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while len(rows(out / "ledger.jsonl")) < 2 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert process.poll() is None, "the run finished before it could be stopped"
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 143, err[-2000:]
        assert "interrupted by SIGTERM" in err and "re-run the same command to resume" in err
        assert "Traceback" not in err
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["runs"][-1]["stopped"] == "interrupted by SIGTERM"
        stopped_at = len(rows(out / "ledger.jsonl"))
        assert stopped_at < len(scenarios)
        done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    ledger = rows(out / "ledger.jsonl")
    assert len(ledger) == len({row["thread_id"] for row in ledger}) == len(scenarios)
    assert "interrupted by SIGTERM" in (out / "run.log").read_text()


def test_no_choices_and_garbled_replies_still_end_in_a_recorded_outcome(tmp_path: Path) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept"])
    model = CoderModel()
    first = True

    def handler(request):
        nonlocal first
        if first:
            first = False
            return Reply(no_choices=True)
        return model(request)

    with ScriptedOpenAIServer(handler) as server:
        assert main(synth_args(seeds, tmp_path / "out", server, "--no-report")) == 0
    assert [row["status"] for row in rows(tmp_path / "out" / "ledger.jsonl")] == ["accepted"]


def test_each_ledger_row_says_what_its_thread_cost_and_the_threads_add_up_to_the_run(tmp_path: Path) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept", "reject_once", "accept"])
    out = tmp_path / "out"
    with ScriptedOpenAIServer(CoderModel()) as server:
        assert main([*synth_args(seeds, out, server, "--no-report"), "--concurrency", "3"]) == 0
    ledger = rows(out / "ledger.jsonl")
    run = json.loads((out / "manifest.json").read_text())["usage"]["agents"]
    assert len(ledger) == 3 and all(row["usage"]["agents"]["generator"]["calls"] >= 1 for row in ledger)
    by_seed = {row["seed_id"]: row["usage"]["agents"]["discriminator"]["calls"] for row in ledger}
    assert by_seed["seed-1-reject_once"] > by_seed["seed-0-accept"]  # the re-generated instance was judged twice
    for agent, numbers in run.items():  # threads ran concurrently, yet each request is counted on its own thread
        for key in ("calls", "prompt_tokens", "completion_tokens"):
            threads = sum(row["usage"]["agents"].get(agent, {}).get(key, 0) for row in ledger)
            assert threads == numbers[key], (agent, key)
