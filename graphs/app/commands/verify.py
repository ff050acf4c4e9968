"""`verify IN.jsonl --out OUT.jsonl`: run each task's candidates × tests, score, time, and build pairs.

Each input line is a `VerifyTask`; each output line is `VerifyResult.to_record()`. Bad lines are reported
with their line number and skipped; output is flushed line by line, and a re-run with the same `--out`
skips the task_ids already written, so an interrupted run resumes without duplicates. A task the sandbox
could not finish (its infrastructure failed twice) is written with `error`; a re-run drops that line and
tries the task again.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from graphs.app.inputs import output_file, read_records, text_file
from graphs.app.notices import sandbox_warning
from tools.errors import ConfigError, InputError
from tools.verification.ranker_names import DEFAULT_PAIR_RANKER, RANKER_NAMES

if TYPE_CHECKING:  # imported when needed: the sandbox starts on a thread while the rest loads
    from rich.console import Console

    from tools.sandbox.pool import Sandbox

# A one-check task leaves a worker idle unless the next ones are already queued; and a worker forks the checks
# it finds waiting together, which saves it most of its page faults (`tools/sandbox/worker.py`, BATCH_MAX)
TASKS_PER_WORKER = 8
# What is read for the workers to compile while this process loads, from the input's first lines (a worker
# compiles a source in about half a millisecond, until the first check arrives; the 328 distinct sources of
# HumanEval are 190 KB; the sandbox sends what fits its request pipes, `slots.OFFER_PIPE_BYTES`).
PRECOMPILE_LINES, PRECOMPILE_SOURCES, PRECOMPILE_BYTES = 256, 512, 256 * 1024


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="JSON Lines: task_id, prompt?, language?, candidates, tests")
    parser.add_argument("--out", type=Path, required=True, help="JSON Lines output (appended; resumes)")
    parser.add_argument("--workers", type=int, default=None, help="sandbox processes (default: all cores)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per check (default 5)")
    parser.add_argument("--ranker", choices=RANKER_NAMES, default=DEFAULT_PAIR_RANKER,
                        help=f"ranker that drives trusted tests and pairs (default {DEFAULT_PAIR_RANKER})")
    parser.add_argument("--repeats", type=int, default=3, help="timing runs per candidate; 0 skips timing")
    parser.add_argument("--min-speedup", type=float, default=1.3,
                        help="slow/fast median ratio before an efficiency pair counts (default 1.3)")
    parser.add_argument("--clock", choices=["cpu", "exec"], default="cpu",
                        help="timing measures the CPU time of the check's whole process tree (default; robust on "
                             "a busy machine) or its wall time; both are measured outside the code")
    parser.add_argument("--min-score-gap", type=float, default=0.5,
                        help="score gap before a correctness pair counts (default 0.5)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="tasks in flight at once (default: 8 per sandbox worker, so that small tasks keep "
                             "every worker's queue full)")


def done_task_ids(out: Path) -> set[str]:
    """task_ids already finished in the output. A torn last line (from a kill mid-write) is cut off, and
    lines that only record an infrastructure error are dropped, so that the task runs again."""
    from tools.rows import read_jsonl, repair_torn_tail

    repair_torn_tail(out)
    done: set[str] = set()
    kept: list[str] = []
    dropped = False
    for record in read_jsonl(out):
        if isinstance(record, dict) and record.get("error"):
            dropped = True
            continue
        kept.append(json.dumps(record))
        try:
            done.add(str(record["task_id"]))
        except (KeyError, TypeError):
            continue
    if dropped:
        temporary = out.with_name(out.name + ".resume")
        temporary.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        temporary.replace(out)
    return done


def first_python_sources(path: Path) -> Iterator[tuple[str, str]]:
    """The distinct candidates ("code", text) and tests ("test", text) of the input's first Python tasks,
    in order, read with plain json before any line is validated: the workers compile them while this
    process is still loading. Up to the PRECOMPILE_ limits; a line that is not a task is passed over
    (validation reports it later), and so is a file that cannot be read."""
    seen: set[tuple[str, str]] = set()
    size = 0
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for _ in range(PRECOMPILE_LINES):
                line = handle.readline(PRECOMPILE_BYTES + 1)
                if len(line) > PRECOMPILE_BYTES or not line:  # a line over the whole budget ends the reading
                    return
                try:
                    task = json.loads(line)
                except (ValueError, RecursionError):
                    continue
                if not isinstance(task, dict) or task.get("language", "python") != "python":
                    continue
                for kind, field in (("code", "candidates"), ("test", "tests")):
                    texts = task.get(field)
                    for text in texts if isinstance(texts, list) else ():
                        if not isinstance(text, str) or (kind, text) in seen:
                            continue
                        seen.add((kind, text))
                        size += len(text)
                        if len(seen) > PRECOMPILE_SOURCES or size > PRECOMPILE_BYTES:
                            return
                        yield kind, text
    except (OSError, MemoryError):
        return


def start_sandbox(workers: int | None, precompile: Iterable[tuple[str, str]] = ()) -> Future[Sandbox]:
    """The sandbox, started on a thread: its workers boot (interpreter, sealed root) and compile
    `precompile` while this process imports the pipeline (pydantic included: the pool needs none) and reads
    the input. The thread mostly waits on the workers' hello. Its modules are imported here first: on the
    thread they would hold the GIL against this thread's imports, and the workers would be launched later.
    Every check carries its limits (`VerifyConfig.limits`), so the sandbox needs no defaults."""
    from tools.sandbox.pool import Sandbox

    def start() -> Sandbox:
        return Sandbox(workers=workers, precompile=precompile)

    future: Future[Sandbox] = Future()
    future.set_running_or_notify_cancel()

    def run_it() -> None:
        try:
            future.set_result(start())
        except BaseException as error:  # handed to the caller by future.result()
            future.set_exception(error)

    threading.Thread(target=run_it, name="sandbox-start", daemon=True).start()
    return future


def close_when_started(starting: Future[Sandbox]) -> None:
    """Close a sandbox that is starting or up (a failed start has nothing to close)."""
    try:
        sandbox = starting.result()
    except BaseException:
        return
    sandbox.close()


def run(args: argparse.Namespace) -> int:
    text_file(args.input, "input")
    output_file(args.out)
    if args.timeout <= 0 or args.repeats < 0 or (args.concurrency is not None and args.concurrency < 1):
        raise ConfigError("--timeout must be > 0, --repeats >= 0 and --concurrency >= 1")
    starting = start_sandbox(args.workers, first_python_sources(args.input))
    try:
        return _run(args, starting)
    finally:
        close_when_started(starting)


def _run(args: argparse.Namespace, starting: Future[Sandbox]) -> int:
    from tools.sandbox import Limits
    from tools.verification.driver import verify_all
    from tools.verification.task import TaskRun, VerifyConfig, VerifyResult, VerifyTask, screened

    config = VerifyConfig(ranker=args.ranker, repeats=args.repeats, min_speedup=args.min_speedup, clock=args.clock,
                          min_score_gap=args.min_score_gap, limits=Limits(timeout_s=args.timeout))
    errors: list[str] = []
    done = done_task_ids(args.out)
    todo: list[VerifyTask] = []
    seen = set(done)
    for number, task in read_records(args.input, VerifyTask, errors):
        if task.task_id in seen:
            if task.task_id not in done:
                errors.append(f"{args.input}:{number}: skipped: duplicate task_id {task.task_id!r}")
            continue
        seen.add(task.task_id)
        todo.append(task)
    for message in errors:
        say(message, style="red")
    if done:
        say(f"resuming: {len(done)} task(s) already in {args.out}")
    for task in todo:  # screening is remembered: what is screened while the workers boot is free later
        if starting.done():
            break
        screened(task)
    sandbox = starting.result()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    counts = {"tasks": 0, "pairs": 0, "suspect": 0, "errors": 0}
    shown: list[Callable[[str], None]] = []  # advances the progress bar, once there is one

    with sandbox, contextlib.ExitStack() as display, args.out.open("a", encoding="utf-8") as handle:

        def show_progress() -> None:
            """The warning, and on a terminal the progress bar, once the first tasks are queued: rich loads while
            they run. A log or pipe gets no bar (it would only be drawn once, finished, above the summary line)."""
            if (warning := sandbox_warning(sandbox)) is not None:
                say(warning, style="yellow")
            if on_terminal():
                shown.append(progress_bar(display, len(todo), counts["tasks"]))

        def finished(result: VerifyResult) -> None:
            handle.write(json.dumps(result.to_record()) + "\n")
            handle.flush()  # a killed run keeps every finished task
            counts["tasks"] += 1
            counts["pairs"] += len(result.pairs)
            counts["suspect"] += sum(reason is not None for reason in result.suspect)
            counts["errors"] += result.error is not None
            if shown:
                shown[0](result.task_id)

        verify_all(sandbox, (TaskRun(task, config) for task in todo),
                   args.concurrency or TASKS_PER_WORKER * sandbox.workers, finished, started=show_progress)
    say(f"verified {counts['tasks']} task(s), {counts['pairs']} preference pair(s) -> {args.out}"
        + (f"; {counts['suspect']} suspect candidate(s) (never chosen)" if counts["suspect"] else "")
        + (f"; {counts['errors']} task(s) lost to sandbox failures (re-run to retry)" if counts["errors"] else "")
        + (f"; {len(errors)} line(s) skipped" if errors else ""))
    if errors and not todo and not done:
        raise InputError(f"no valid task in {args.input}")
    return 0


def say(text: str, style: str | None = None) -> None:
    """One line on stderr: through rich, styled, on a terminal; as plain text on a log or pipe, where rich is
    never loaded (it costs the command ~40 ms of CPU while the checks run) and a long line is not wrapped."""
    if on_terminal():
        console().print(text, style=style, markup=False, highlight=False, soft_wrap=True)
    elif sys.stderr is not None:  # (None when the command was started with stderr closed)
        print(text, file=sys.stderr, flush=True)


def on_terminal() -> bool:
    """Whether stderr is a terminal: colours and the progress bar are drawn there only."""
    return sys.stderr is not None and sys.stderr.isatty()


@functools.cache
def console() -> Console:
    """The command's console on a terminal (stderr), loaded on first use: rich is a tenth of a second of
    start-up."""
    from rich.console import Console

    return Console(stderr=True)


def progress_bar(display: contextlib.ExitStack, total: int, completed: int) -> Callable[[str], None]:
    """A progress bar live until `display` closes; returns `advance(task_id)`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = display.enter_context(Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                              TimeElapsedColumn(), console=console()))
    bar = progress.add_task("verify", total=total, completed=completed)

    def advance(task_id: str) -> None:
        progress.update(bar, advance=1, description=f"verify [dim]{task_id}[/dim]")

    return advance
