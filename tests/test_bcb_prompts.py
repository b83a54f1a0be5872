"""BigCodeBench's generation side: upstream's prompts (bigcodebench 0.2.5's generate), its
sanitizer, and the generation path writing bigcodebench-style samples.

Strings are checked against literals copied from upstream's
``bigcodebench/provider/utility.py`` (``make_raw_chat_prompt``) and against upstream's own
functions where the ``bigcodebench`` package is installed (``pip install --no-deps
bigcodebench==0.2.5``; its sanitizer is loaded with stand-ins for the dataset modules it imports
but does not use here).
"""

from __future__ import annotations

import gzip
import importlib
import importlib.util
import json
import sys
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from fgit.evaluation.bcb_sanitize import sanitize as bcb_sanitize
from fgit.evaluation.prompts import (
    INSTRUCTION_PREFIX,
    RESPONSE_PREFIX,
    PromptError,
    build_prompt,
    prompt_format_record,
    sanitizer_name,
    server_prompt,
    solution_from_completion,
)
from fgit.evaluation.tasks import Benchmark, EvalTask

DATA_FILE = Path("bigcodebench") / "BigCodeBench-v0.1.0.jsonl.gz"
HARD_IDS = Path("bigcodebench") / "BigCodeBench-Hard-ids.txt"
SPLITS = ("complete", "instruct")
# bigcodebench/provider/utility.py: EOS, then extra_eos_for_direct_completion("bigcodebench"),
# and the "\n```\n" the vLLM/HF providers add when the answer is pre-filled with a fence.
UPSTREAM_EOS = [
    "<|endoftext|>",
    "<|endofmask|>",
    "</s>",
    "\nif __name__",
    "\ndef main(",
    "\nprint(",
]
UPSTREAM_DIRECT_EOS = ["\ndef ", "\nclass ", "\nimport ", "\nfrom ", "\nassert "]


# ---------------------------------------------------------------------------------------------
# data: a tiny loader of the shared file (the benchmark's own loader is fgit.evaluation's)


@pytest.fixture(scope="module")
def records(shared_data: Path) -> dict[str, dict[str, Any]]:
    path = shared_data / DATA_FILE
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    return {row["task_id"]: row for row in rows}


def _task(record: dict[str, Any], split: str) -> EvalTask:
    return EvalTask(
        task_id=record["task_id"],
        prompt=record[f"{split}_prompt"],
        entry_point=record["entry_point"],
        canonical_solution=record["complete_prompt"] + record["canonical_solution"],
        dataset="bigcodebench",
        test=record["test"],
    )


@pytest.fixture(scope="module")
def sample_ids(shared_data: Path, records: dict[str, dict[str, Any]]) -> list[str]:
    """Two tasks of the full set and the first two of BigCodeBench-Hard."""
    hard = (shared_data / HARD_IDS).read_text().split()
    return ["BigCodeBench/0", "BigCodeBench/1", *hard[:2]]


# ---------------------------------------------------------------------------------------------
# upstream, where installed


@pytest.fixture(scope="module")
def upstream_utility() -> Any:
    pytest.importorskip("bigcodebench", reason="bigcodebench is not installed")
    return importlib.import_module("bigcodebench.provider.utility")


@pytest.fixture(scope="module")
def upstream_sanitize() -> Iterator[Any]:
    """bigcodebench's sanitize module, loaded from its file. It imports ``bigcodebench.data``
    (datasets, wget ...), ``pqdm`` and ``termcolor`` for its command line only: stand-ins take
    their place while it loads, and are removed afterwards."""
    spec = importlib.util.find_spec("bigcodebench")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("bigcodebench is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    data = types.ModuleType("bigcodebench.data")
    for name in ("get_bigcodebench", "load_solutions", "write_directory", "write_jsonl"):
        setattr(data, name, None)
    processes = types.ModuleType("pqdm.processes")
    processes.pqdm = None  # type: ignore[attr-defined]
    termcolor = types.ModuleType("termcolor")
    termcolor.colored = lambda text, *args, **kwargs: text  # type: ignore[attr-defined]
    stand_ins = {
        "bigcodebench.data": data,
        "pqdm": types.ModuleType("pqdm"),
        "pqdm.processes": processes,
        "termcolor": termcolor,
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, module in stand_ins.items():
            patch.setitem(sys.modules, name, module)
        loaded = {}
        for name in ("syncheck", "sanitize"):
            file_spec = importlib.util.spec_from_file_location(
                f"bigcodebench.{name}", root / f"{name}.py"
            )
            assert file_spec is not None and file_spec.loader is not None
            module = importlib.util.module_from_spec(file_spec)
            patch.setitem(sys.modules, f"bigcodebench.{name}", module)
            file_spec.loader.exec_module(module)
            loaded[name] = module
        yield loaded["sanitize"]


# ---------------------------------------------------------------------------------------------
# prompts

TASK = 'import os\n\ndef task_func(path):\n    """Count files."""\n'
INSTRUCT = "Count the files in a folder.\nYou should write self-contained code starting with:\n"


def test_chat_prompt_of_the_complete_split_fences_the_task(bytelevel_tokenizer):
    prompt = build_prompt(TASK, bytelevel_tokenizer, "bigcodebench", "auto", "complete")
    # make_raw_chat_prompt, split "complete", with prefill (bigcodebench/provider/utility.py)
    user = f"{INSTRUCTION_PREFIX}\n```\n{TASK.strip()}\n```\n"
    assert prompt.text == (
        f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{RESPONSE_PREFIX}\n```python\n"
    )
    assert list(prompt.stop) == [*UPSTREAM_EOS, "\n```\n"]
    assert (prompt.kind, prompt.solution_prefix, prompt.sanitizer) == ("chat", "", "bigcodebench")


def test_chat_prompt_of_the_instruct_split_does_not_fence_it(bytelevel_tokenizer):
    prompt = build_prompt(INSTRUCT, bytelevel_tokenizer, "bigcodebench", "chat", "instruct")
    user = f"{INSTRUCTION_PREFIX}\n{INSTRUCT.strip()}\n"
    assert prompt.text == (
        f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{RESPONSE_PREFIX}\n```python\n"
    )
    assert list(prompt.stop) == [*UPSTREAM_EOS, "\n```\n"]


def test_the_prefixes_are_upstreams():
    # bigcodebench/generate.py, run_codegen's defaults
    assert INSTRUCTION_PREFIX == (
        "Please provide a self-contained Python script that solves the following problem in a "
        "markdown code block:"
    )
    assert RESPONSE_PREFIX == (
        "Below is a Python script with a self-contained function that solves the problem and "
        "passes corresponding tests:"
    )


def test_a_base_model_completes_the_complete_prompt_as_it_is(bytelevel_tokenizer):
    text = TASK + "\n"  # not stripped: bigcodebench completes task["complete_prompt"] verbatim
    prompt = build_prompt(text, bytelevel_tokenizer, "bigcodebench", "plain", "complete")
    assert (prompt.kind, prompt.text, prompt.solution_prefix) == ("plain", text, text)
    assert list(prompt.stop) == UPSTREAM_EOS + UPSTREAM_DIRECT_EOS


def test_a_base_model_is_refused_on_the_instruct_split(bytelevel_tokenizer):
    import copy

    with pytest.raises(PromptError, match="instruct split needs a chat model"):
        build_prompt(INSTRUCT, bytelevel_tokenizer, "bigcodebench", "plain", "instruct")
    bare = copy.deepcopy(bytelevel_tokenizer)
    bare.chat_template = None  # auto: no template means a base model
    with pytest.raises(PromptError, match="bigcodebench-complete"):
        build_prompt(INSTRUCT, bare, "bigcodebench", "auto", "instruct")
    assert build_prompt(TASK, bare, "bigcodebench", "auto", "complete").kind == "plain"


def test_bigcodebench_needs_its_split(bytelevel_tokenizer):
    with pytest.raises(ValueError, match="split 'complete' or 'instruct'"):
        build_prompt(TASK, bytelevel_tokenizer, "bigcodebench")


def test_server_prompt_is_the_user_message_alone():
    complete = server_prompt(TASK, "bigcodebench", "complete")
    assert complete.text == f"{INSTRUCTION_PREFIX}\n```\n{TASK.strip()}\n```\n"
    instruct = server_prompt(INSTRUCT, "bigcodebench", "instruct")
    assert instruct.text == f"{INSTRUCTION_PREFIX}\n{INSTRUCT.strip()}\n"
    assert instruct.sanitizer == "bigcodebench" and not instruct.expand_tabs
    assert server_prompt(TASK, "humaneval").sanitizer == "evalplus"


@pytest.mark.parametrize("split", SPLITS)
def test_prompts_equal_upstreams_make_raw_chat_prompt(
    split, records, sample_ids, bytelevel_tokenizer, upstream_utility
):
    for task_id in sample_ids:
        task = _task(records[task_id], split)
        ours = build_prompt(task.prompt, bytelevel_tokenizer, "bigcodebench", "chat", split)
        theirs = upstream_utility.make_raw_chat_prompt(
            task_prompt=task.prompt,
            subset="full",
            split=split,
            instruction_prefix=INSTRUCTION_PREFIX,
            response_prefix=RESPONSE_PREFIX,
            tokenizer=bytelevel_tokenizer,
            prefill=True,
        )
        assert ours.text == theirs, task_id
        # the OpenAI provider: no tokenizer, the user message
        server = upstream_utility.make_raw_chat_prompt(
            task.prompt, "full", split, INSTRUCTION_PREFIX, RESPONSE_PREFIX, None
        )
        assert server_prompt(task.prompt, "bigcodebench", split).text == server, task_id
    assert list(build_prompt(TASK, None, "bigcodebench", "plain", "complete").stop) == (
        upstream_utility.EOS[:6] + upstream_utility.extra_eos_for_direct_completion("bigcodebench")
    )


def test_prompts_with_qwens_chat_template_equal_upstreams(records, sample_ids, upstream_utility):
    """The packaged model's own template (its default system prompt and all), where its files
    are already cached (``fgit evaluate --model qwen2.5-coder-0.5b-instruct`` fetches them)."""
    from fgit.models import model_dir

    folder = model_dir("qwen2.5-coder-0.5b-instruct") / "hf"
    if not (folder / "tokenizer_config.json").is_file():
        pytest.skip(f"the packaged Qwen tokenizer is not cached at {folder}")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    for split in SPLITS:
        for task_id in sample_ids:
            prompt = records[task_id][f"{split}_prompt"]
            ours = build_prompt(prompt, tokenizer, "bigcodebench", "auto", split).text
            theirs = upstream_utility.make_raw_chat_prompt(
                prompt, "full", split, INSTRUCTION_PREFIX, RESPONSE_PREFIX, tokenizer, True
            )
            assert ours == theirs, (split, task_id)
            assert ours.endswith(f"<|im_start|>assistant\n{RESPONSE_PREFIX}\n```python\n")


def test_prompt_format_record_names_upstream_and_the_split(bytelevel_tokenizer):
    chat = prompt_format_record("auto", bytelevel_tokenizer, "bigcodebench", "instruct")
    assert chat["style"] == "bigcodebench 0.2.5 generate" and chat["split"] == "instruct"
    assert chat["instruction_prefix"] == INSTRUCTION_PREFIX
    assert chat["response_prefix"] == RESPONSE_PREFIX
    assert chat["task_prompt_fenced"] is False and len(chat["chat_template_sha256"]) == 64
    plain = prompt_format_record("plain", bytelevel_tokenizer, "bigcodebench", "complete")
    assert plain["stop"] == UPSTREAM_EOS + UPSTREAM_DIRECT_EOS
    server = prompt_format_record("auto", None, "bigcodebench", "complete")
    assert server["task_prompt_fenced"] is True and "not pre-filled" in server["style"]
    # the evalplus records are what they were
    assert prompt_format_record("auto", bytelevel_tokenizer)["style"] == "evalplus 0.3.1 codegen"
    assert prompt_format_record("auto", None) == {
        "kind": "chat",
        "style": "evalplus 0.3.1 instruction, answer not pre-filled",
    }
    assert sanitizer_name("bigcodebench").startswith("bigcodebench.sanitize (bigcodebench 0.2.5")
    assert sanitizer_name("mbpp").startswith("evalplus.sanitize")
    assert sanitizer_name("bigcodebench", enabled=False) == "none"


# ---------------------------------------------------------------------------------------------
# the sanitizer: realistic answers

FENCED_WITH_PROSE = '''Here is a self-contained solution:

```python
import os
import pandas as pd

def task_func(path):
    """Read a CSV file and return its row count."""
    df = pd.read_csv(path)
    return len(df)
```

This function reads the file with pandas and counts the rows. Example:

```python
print(task_func("data.csv"))
```
'''

HELPERS = """import json
import matplotlib.pyplot as plt
from collections import Counter

SEPARATOR = ","
UNUSED = 42

def _words(text):
    return [w for w in text.split(SEPARATOR) if w]

def _style(ax):
    ax.set_title("Word counts")

class Plotter:
    def bars(self, counts):
        fig, ax = plt.subplots()
        ax.bar(list(counts), list(counts.values()))
        _style(ax)
        return ax

def unrelated():
    return 1

def task_func(text):
    counts = Counter(_words(text))
    return Plotter().bars(counts)
"""

WITH_TESTS = """import numpy as np
import unittest

def task_func(arr):
    return np.sum(arr)

assert task_func([1, 2]) == 3
print(task_func([1, 2, 3]))

class TestCases(unittest.TestCase):
    def test_sum(self):
        self.assertEqual(task_func([1]), 1)

if __name__ == "__main__":
    unittest.main()
"""

NO_RETURN = """import os

def _write(path, text):
    with open(path, "w") as handle:
        handle.write(text)

def task_func(directory):
    os.makedirs(directory, exist_ok=True)
    _write(os.path.join(directory, "out.txt"), "done")
"""

# `result` is a name task_func uses, so the usage line is reached from the entry point: upstream
# cuts such trailing top-level lines that call it.
USAGE = """import math

def task_func(x):
    result = math.sqrt(x)
    return result

result = task_func(16)
"""


def test_sanitizer_takes_the_code_out_of_prose_and_fences():
    assert bcb_sanitize(FENCED_WITH_PROSE, "task_func") == (
        "import os\nimport pandas as pd\ndef task_func(path):\n"
        '    """Read a CSV file and return its row count."""\n'
        "    df = pd.read_csv(path)\n    return len(df)"
    )


def test_sanitizer_keeps_imports_helpers_classes_and_globals_the_entry_point_needs():
    out = bcb_sanitize(HELPERS, "task_func")
    for kept in ("import json", "from collections import Counter", 'SEPARATOR = ","',
                 "def _words", "def _style", "class Plotter", "def task_func"):  # fmt: skip
        assert kept in out
    assert "UNUSED" not in out and "def unrelated" not in out
    # evalplus's sanitizer drops _style (it has no return), and the program then fails
    from evalplus.sanitize import sanitize as evalplus_sanitize

    assert "def _style" not in evalplus_sanitize(HELPERS, "task_func")
    exec(compile(out, "<sanitized>", "exec"), {})  # it is one valid program


def test_sanitizer_drops_the_models_tests_prints_and_main_block():
    assert bcb_sanitize(WITH_TESTS, "task_func") == (
        "import numpy as np\nimport unittest\ndef task_func(arr):\n    return np.sum(arr)"
    )


def test_sanitizer_keeps_functions_without_a_return():
    out = bcb_sanitize(NO_RETURN, "task_func")
    assert "def _write(path, text):" in out and "def task_func(directory):" in out
    from evalplus.sanitize import sanitize as evalplus_sanitize

    assert evalplus_sanitize(NO_RETURN, "task_func") == "import os"  # why BigCodeBench's own


def test_sanitizer_cuts_trailing_calls_of_the_entry_point():
    assert bcb_sanitize(USAGE, "task_func") == (
        "import math\ndef task_func(x):\n    result = math.sqrt(x)\n    return result"
    )


def test_tabs_become_spaces_before_sanitizing(bytelevel_tokenizer):
    """Upstream's providers expand tabs; its sanitizer would otherwise lose a tab-indented
    function (its trailing-line cut looks for a leading space)."""
    answer = "import math\n\ndef task_func(x):\n\treturn math.sqrt(x)\n"
    assert bcb_sanitize(answer, "task_func") == "import math"  # upstream's own behaviour
    prompt = build_prompt(TASK, bytelevel_tokenizer, "bigcodebench", "chat", "complete")
    raw, solution = solution_from_completion(prompt, answer, "task_func")
    assert raw == answer.replace("\t", "    ")
    assert solution == "import math\ndef task_func(x):\n    return math.sqrt(x)"


def test_base_model_solution_is_prompt_plus_completion(records):
    record = records["BigCodeBench/0"]
    prompt = build_prompt(record["complete_prompt"], None, "bigcodebench", "plain", "complete")
    completion = record["canonical_solution"] + "\nprint(task_func([1, 2]))\n"
    raw, solution = solution_from_completion(prompt, completion, "task_func")
    assert raw == record["complete_prompt"] + completion
    assert solution.startswith("import itertools\nfrom random import shuffle\ndef task_func(")
    assert "print(" not in solution and "return avg_sum_diffs" in solution
    assert solution_from_completion(prompt, completion, "task_func", sanitize=False)[1] == raw


def test_vendored_sanitizer_equals_upstreams(records, upstream_sanitize):
    answers = [FENCED_WITH_PROSE, HELPERS, WITH_TESTS, NO_RETURN, USAGE, "no code at all", ""]
    ids = list(records)[::57]  # 20 tasks spread over the set
    answers += [records[i]["complete_prompt"] + records[i]["canonical_solution"] for i in ids]
    answers += [
        f"```python\n{records[i]['code_prompt']}{records[i]['canonical_solution']}\n```\nprint(1)"
        for i in ids[:5]
    ]
    for answer in answers:
        assert bcb_sanitize(answer, "task_func") == upstream_sanitize.sanitize(
            answer, "task_func"
        ), answer[:80]


# ---------------------------------------------------------------------------------------------
# the generation path


class _Completer:
    """A local model that answers every prompt with one fixed completion."""

    supports_completion = True

    def __init__(self, tokenizer: Any, answer: str) -> None:
        self.prompt_formatter = tokenizer
        self.answer = answer
        self.seen: list[str] = []
        self.stops: tuple[str, ...] = ()

    def complete(self, prompts: Sequence[str], params: Any) -> list[list[str]]:
        self.seen += prompts
        self.stops = params.stop
        return [[self.answer] for _ in prompts]

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def describe(self) -> dict[str, Any]:
        return {"kind": "fake"}


class _Chatter:
    """A server that only takes conversations."""

    supports_completion = False

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.seen: list[list[dict[str, str]]] = []

    def generate(self, conversations: Any, params: Any) -> list[list[str]]:
        self.seen += conversations
        return [[self.answer] for _ in conversations]

    def describe(self) -> dict[str, Any]:
        return {"kind": "fake-server"}


def _benchmark(records: dict[str, Any], ids: list[str], name: str, split: str) -> Benchmark:
    tasks = [_task(records[task_id], split) for task_id in ids]
    return Benchmark(name, tasks, source="test", version="v0.1.0", sha256="0", has_plus=False)


def test_generation_writes_bigcodebench_samples(tmp_path, records, sample_ids, bytelevel_tokenizer):
    from fgit.evaluation.samples import read_samples
    from fgit.evaluation.stage import GenerationSettings, _generate, sibling

    benchmark = _benchmark(records, sample_ids, "bigcodebench-hard-instruct", "instruct")
    backend = _Completer(bytelevel_tokenizer, WITH_TESTS.replace("    ", "\t"))
    out = tmp_path / "run.json"
    settings = GenerationSettings(max_new_tokens=1280)
    solutions, _, _ = _generate(backend, benchmark, settings, out, quiet=True)  # type: ignore[arg-type]
    expected = "import numpy as np\nimport unittest\ndef task_func(arr):\n    return np.sum(arr)"
    assert solutions == {task_id: [expected] for task_id in sample_ids}  # one sample a task
    assert read_samples(sibling(out, ".samples.jsonl")) == solutions
    first = records[sample_ids[0]]["instruct_prompt"].strip()
    assert f"{INSTRUCTION_PREFIX}\n{first}\n<|im_end|>" in backend.seen[0]  # not fenced
    assert backend.stops[-1] == "\n```\n"
    raw = read_samples(sibling(out, ".raw.jsonl"))
    assert "\t" not in raw[sample_ids[0]][0]  # tabs expanded, as upstream's providers do

    server = _Chatter(f"Sure:\n```python\n{NO_RETURN}```\nDone.")
    out = tmp_path / "server.json"
    solutions, _, _ = _generate(server, benchmark, settings, out, quiet=True)  # type: ignore[arg-type]
    assert server.seen[0] == [
        {"role": "user", "content": f"{INSTRUCTION_PREFIX}\n{first}\n"},
    ]
    assert all("def _write" in code for [code] in solutions.values())


def test_base_model_on_instruct_stops_before_generating(tmp_path, records, bytelevel_tokenizer):
    from fgit.evaluation.stage import GenerationSettings, _generate

    benchmark = _benchmark(records, ["BigCodeBench/0"], "bigcodebench-instruct", "instruct")
    backend = _Completer(bytelevel_tokenizer, "x")
    settings = GenerationSettings(prompt_kind="plain")
    with pytest.raises(PromptError):
        _generate(backend, benchmark, settings, tmp_path / "r.json", quiet=True)  # type: ignore[arg-type]
    assert backend.seen == []
    from fgit.evaluation.stage import evaluate_model

    with pytest.raises(PromptError, match="bigcodebench-instruct: --prompt-format plain"):
        evaluate_model(
            "no-such-model", "bigcodebench-instruct", tmp_path / "r.json", generation=settings
        )


def test_evaluate_model_records_bigcodebench_settings(
    tmp_path, records, monkeypatch, bytelevel_tokenizer
):
    """The results file of a BigCodeBench run: upstream's prompt style and sanitizer, 1280
    tokens by default, one pass@1 column. Loading and scoring are stood in for here (they
    are the benchmark loader's and the sandbox's, tested with them)."""
    from fgit.evaluation import sampling, stage
    from fgit.evaluation.results import read_run, summary_rows
    from fgit.evaluation.scores import TaskScore

    ids = ["BigCodeBench/0", "BigCodeBench/1"]
    benchmark = _benchmark(records, ids, "bigcodebench-complete", "complete")
    backend = _Completer(bytelevel_tokenizer, NO_RETURN)
    monkeypatch.setattr(stage, "load_benchmark", lambda name, data_dir=None: benchmark)
    monkeypatch.setattr(stage, "load_generation_backend", lambda model, gen, quiet: backend)

    def score(bench, sets, settings, progress=False, expected=None):
        verdicts = ["passed", "failed"]
        return [
            [TaskScore(t.task_id, verdicts[i % 2], None, "") for i, t in enumerate(bench.tasks)]
            for _ in sets
        ]

    monkeypatch.setattr(sampling, "score_solution_sets", score)
    run = stage.evaluate_model("fake", "bigcodebench-complete", tmp_path / "r.json", quiet=True)
    assert run.generation["max_new_tokens"] == 1280
    assert run.prompt_format["style"] == "bigcodebench 0.2.5 generate"
    assert run.prompt_format["split"] == "complete"
    assert run.sanitizer.startswith("bigcodebench.sanitize")
    assert run.pass_at_1_plus is None and read_run(tmp_path / "r.json") == run
    rows = dict(summary_rows(run))
    assert rows["benchmark"] == "BigCodeBench (complete) · bigcodebench-complete"
    assert rows["pass@1"] == "1/2 (50.0%)" and rows["failures: failed"] == "1"
    assert "pass@1 plus" not in rows and "pass@1 base" not in rows
