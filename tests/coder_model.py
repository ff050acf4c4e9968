"""A scripted "coder model" behind the OpenAI protocol: it answers each agent's structured request by
looking at the JSON schema it is asked for and at a `scenario-NAME` marker that travels from the seed code
into the instruction, so one seed set exercises every path of the graph end to end.

Scenarios: accept, reject_once, reject_always, malformed (first generator reply is not JSON),
wrong_tests (one of the tests is wrong), fail_all (every reply is garbage), and hang (a candidate loops).
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from typing import Any

from tests.fakes import ChatRequest, Reply

MARKER = re.compile(r"scenario-([a-z_]+)")
SOLUTION = "def inc(x):\n    return x + 1\n"
SLOW = "def inc(x):\n    total = 0\n    for _ in range(200000):\n        total += 1\n    return x + total - 199999\n"
WRONG = "def inc(x):\n    return x + 2\n"
HANG = "def inc(x):\n    while True:\n        pass\n"
TESTS = ["assert inc(1) == 2", "assert inc(-1) == 0", "assert inc(10) == 11"]


def seed_code(scenario: str, index: int = 0) -> str:
    return f"def add_{index}(x):\n    # scenario-{scenario}\n    return x + {index}\n"


class CoderModel:
    """Callable handler for ScriptedOpenAIServer; counts the calls per (scenario, schema)."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def __call__(self, request: ChatRequest) -> Reply:
        text = "\n".join(str(message.get("content", "")) for message in request.messages)
        found = MARKER.findall(text)
        scenario = found[0] if found else "accept"
        schema = (request.response_format or {}).get("json_schema", {})
        name = schema.get("name", "")
        with self._lock:
            self.calls[(scenario, name)] += 1
            count = self.calls[(scenario, name)]
        if scenario == "fail_all":
            return Reply(contents=["I would rather not answer in JSON."])
        if name == "GenerationReply":
            if scenario == "malformed" and count == 1:
                return Reply(contents=['{"task_name": "inc", "instruction": "trunc'])
            wording = "returns x + 1" if count == 1 else f"returns its argument plus one (take {count})"
            return _json({"task_name": "Increment", "input": "", "entry_point": "inc", "solution": SOLUTION,
                          "instruction": f"Write a Python function `inc(x)` that {wording}. (scenario-{scenario})"})
        if name == "SummarizationReply":
            return _json({"task_name": "Summarize", "instruction": f"Summarize this code. (scenario-{scenario})",
                          "summary": "Adds a constant to its argument and returns the result."})
        if name == "CandidateReply":
            candidates = [SOLUTION, SLOW, WRONG, WRONG] + ([HANG] if scenario == "hang" else [SOLUTION])
            return Reply(contents=[json.dumps({"code": code}) for code in candidates[: request.n]])
        if name.startswith("TestsReply"):
            tests = TESTS + (["assert inc(1) == 3"] if scenario == "wrong_tests" else [])
            return _json({"tests": tests})
        if name == "Judgement":
            reject = scenario == "reject_always" or (scenario == "reject_once" and count == 1)
            checks = [key for key in schema.get("schema", {}).get("properties", {}) if key != "analysis"]
            answer: dict[str, Any] = {check: {"reason": f"the instance meets {check.replace('_', ' ')}: verified",
                                              "passed": True} for check in checks}
            if reject and checks:
                answer[checks[0]] = {"reason": "the instruction is vague", "passed": False}
            answer["analysis"] = "A small, clear increment task; a second example input would help."
            return _json(answer)
        return Reply(contents=["{}"])


def _json(payload: dict[str, Any]) -> Reply:
    return Reply(contents=[json.dumps(payload)])
