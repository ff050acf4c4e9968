"""Prompt rendering: Jinja2 templates shipped in the `prompts` package, strict about missing variables.

Templates are found through `importlib.resources`, so they work from a checkout, an editable install or a
wheel alike. `StrictUndefined` turns a forgotten variable into an error instead of a silently empty prompt.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable

import jinja2

from tools.errors import CodemillError

TEMPLATE_SUFFIX = ".j2"


class PromptError(CodemillError):
    """A prompt template is missing or was rendered without a variable it needs."""


def _load(name: str) -> str:
    node: Traversable = resources.files("prompts")
    for part in name.split("/"):
        node = node.joinpath(part)
    if not node.is_file():
        raise jinja2.TemplateNotFound(name)
    return node.read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The shared Jinja2 environment (plain text: no autoescape; blocks do not leave blank lines)."""
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_load),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["fence"] = fence
    return env


def fence(code: str, language: str = "") -> str:
    """Wrap code in a Markdown fence long enough that backticks inside the code cannot close it."""
    longest, run = 0, 0
    for char in code:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language}\n{code.rstrip()}\n{ticks}"


def render(template_name: str, **variables: object) -> str:
    """Render `prompts/<template_name>`; a missing template or variable raises `PromptError`."""
    try:
        return environment().get_template(template_name).render(**variables).strip() + "\n"
    except jinja2.TemplateNotFound as error:
        raise PromptError(f"prompt template not found: prompts/{error.name}") from error
    except jinja2.UndefinedError as error:
        raise PromptError(f"prompt template prompts/{template_name}: {error.message}") from error


def chat_messages(system: str, user: str, **variables: object) -> list[dict[str, str]]:
    """A system + user conversation, both rendered from templates with the same variables."""
    return [
        {"role": "system", "content": render(system, **variables)},
        {"role": "user", "content": render(user, **variables)},
    ]


def template_names() -> list[str]:
    """Every template shipped in `prompts/` (partials, whose names start with `_`, included)."""
    names: list[str] = []

    def walk(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith(TEMPLATE_SUFFIX):
                names.append(f"{prefix}{child.name}")

    walk(resources.files("prompts"), "")
    return sorted(names)
