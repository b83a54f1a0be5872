"""`fgit evaluate` / `fgit compare` end to end: a tiny model generates for a few HumanEval
tasks, solutions are scored in the sandbox, runs are written, resumed and compared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fgit.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    from fgit.testing import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def test_evaluate_model_writes_samples_results_and_resumes(model_dir, tmp_path, monkeypatch):
    from fgit.evaluation import stage
    from fgit.evaluation.results import read_run
    from fgit.evaluation.stage import GenerationSettings, evaluate_model, sibling

    out = tmp_path / "run.json"
    settings = GenerationSettings(max_new_tokens=8, batch_size=4, chunk_tasks=2)
    run = evaluate_model(str(model_dir), "humaneval", out, generation=settings, limit=5, quiet=True)
    assert [t.task_id for t in run.tasks] == [f"HumanEval/{i}" for i in range(5)]
    assert run.pass_at_1_base == 0.0  # a random model does not solve HumanEval
    assert all(t.base != "missing" for t in run.tasks)
    assert run.prompt_format["kind"] == "chat" and run.sanitizer.startswith("evalplus.sanitize")
    assert run.generation["greedy"] is True and run.timings["tokens_per_s"] > 0
    assert read_run(out) == run
    samples = sibling(out, ".samples.jsonl").read_text().splitlines()
    assert [json.loads(line)["task_id"] for line in samples] == [f"HumanEval/{i}" for i in range(5)]
    assert len(sibling(out, ".raw.jsonl").read_text().splitlines()) == 5

    # A killed run left a partial line: it is repaired, and only missing tasks are generated.
    with open(sibling(out, ".samples.jsonl"), "a") as handle:
        handle.write('{"task_id": "HumanEval/5", "solu')
    asked: list[int] = []
    real = stage._generate

    def counting(backend, benchmark, settings, out, quiet):
        original = backend.complete

        def complete(prompts, params, **kwargs):
            asked.append(len(prompts))
            return original(prompts, params, **kwargs)

        backend.complete = complete
        return real(backend, benchmark, settings, out, quiet)

    monkeypatch.setattr(stage, "_generate", counting)
    again = evaluate_model(
        str(model_dir), "humaneval", out, generation=settings, limit=7, quiet=True
    )
    assert sum(asked) == 2  # HumanEval/5 and /6
    assert len(again.tasks) == 7


def test_generation_settings_reach_the_backend(model_dir):
    from fgit.evaluation.stage import GenerationSettings, load_generation_backend

    settings = GenerationSettings(batch_size=3, device="cpu", cache_implementation="static")
    local = load_generation_backend(str(model_dir), settings, quiet=True)
    assert (local.batch_size, local.cache_implementation, local.quiet) == (3, "static", True)
    assert local.describe()["model"] == str(model_dir)
    server = load_generation_backend("openai:m@http://127.0.0.1:9/v1", settings, quiet=True)
    assert server.quiet  # --quiet silences a server's progress bar too


def test_cli_evaluate_samples_and_compare(tmp_path, shared_data):
    from fgit.evaluation.tasks import load_benchmark

    tasks = load_benchmark("humaneval").tasks[:3]
    good = tmp_path / "good.jsonl"
    good.write_text(
        "".join(json.dumps({"task_id": t.task_id, "solution": t.canonical_solution}) + "\n"
                for t in tasks)
    )  # fmt: skip
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        "".join(json.dumps({"task_id": t.task_id, "solution": "def nothing():\n    pass\n"}) + "\n"
                for t in tasks)
    )  # fmt: skip
    outs = []
    for name, samples in (("good", good), ("bad", bad)):
        out = tmp_path / f"{name}.json"
        result = runner.invoke(
            app,
            ["evaluate", "--samples", str(samples), "--benchmark", "humaneval", "--out", str(out),
             "--quiet"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "pass@1 base" in result.output
        outs.append(out)
    good_run = json.loads(outs[0].read_text())
    assert [t["base"] for t in good_run["tasks"][:3]] == ["passed"] * 3
    result = runner.invoke(app, ["compare", str(outs[0]), str(outs[1])])
    assert result.exit_code == 0, result.output
    assert "McNemar" in result.output or "p" in result.output
    assert "HumanEval/0" in result.output


def test_cli_evaluate_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    result = runner.invoke(
        app, ["evaluate", "--samples", str(bad), "--benchmark", "humaneval", "--quiet"]
    )
    assert result.exit_code == 2
    assert "bad.jsonl:1" in result.output and "Traceback" not in result.output
    stray = tmp_path / "stray.jsonl"  # a task the benchmark does not have: one line, not a trace
    stray.write_text('{"task_id": "HumanEval/0", "solution": "x"}\n'
                     '{"task_id": "Mbpp/2", "solution": "y"}\n')  # fmt: skip
    result = runner.invoke(
        app, ["evaluate", "--samples", str(stray), "--benchmark", "humaneval", "--quiet"]
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "task 'Mbpp/2' is not in humaneval" in result.output
    result = runner.invoke(app, ["evaluate", "--benchmark", "humaneval"])
    assert result.exit_code == 2 and "exactly one of --model and --samples" in result.output
    result = runner.invoke(
        app, ["evaluate", "--samples", str(bad), "--benchmark", "nope", "--quiet"]
    )
    assert result.exit_code == 2 and "nope" in result.output
    result = runner.invoke(
        app, ["evaluate", "--samples", str(bad), "--benchmark", "humaneval", "--prompt", "x"]
    )
    assert result.exit_code == 2 and "--prompt-format" in result.output and "'x'" in result.output
    result = runner.invoke(app, ["compare", str(tmp_path / "missing.json"), str(bad)])
    assert result.exit_code == 2 and "missing.json" in result.output


class ChatOnlyBackend:
    """Like an OpenAI-compatible server: conversations in, whole markdown answers out."""

    supports_completion = False

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.seen: list[list[dict[str, str]]] = []

    def generate(self, conversations, params):
        self.seen.extend(conversations)
        out = []
        for conversation in conversations:
            text = conversation[-1]["content"]
            name = next(k for k in self.answers if f"def {k}(" in text)
            out.append([self.answers[name]])
        return out

    def describe(self):
        return {"kind": "fake-server"}


def test_chat_only_backends_answer_in_markdown(tmp_path, monkeypatch):
    from fgit.evaluation import stage
    from fgit.evaluation.prompts import INSTRUCTION_PREFIX
    from fgit.evaluation.tasks import load_benchmark

    tasks = load_benchmark("humaneval").tasks[:2]
    body = tasks[0].canonical_solution
    answers = {
        tasks[0].entry_point: f"Sure! Here it is:\n```python\n{body}\n\nprint('demo')\n```\nDone.",
        tasks[1].entry_point: "I cannot help with that.",
    }
    backend = ChatOnlyBackend(answers)
    monkeypatch.setattr(stage, "load_generation_backend", lambda model, generation, quiet: backend)
    run = stage.evaluate_model(
        "openai:fake@http://127.0.0.1:9/v1", "humaneval", tmp_path / "r.json", limit=2, quiet=True
    )
    assert backend.seen[0][0]["content"].startswith(INSTRUCTION_PREFIX)
    assert [t.base for t in run.tasks] == ["passed", "error"]  # prose is not Python
    assert "print(" not in run.tasks[0].solution
    assert run.prompt_format["kind"] == "chat"
    with pytest.raises(Exception, match="plain needs a local model"):
        stage.evaluate_model(
            "openai:fake@http://127.0.0.1:9/v1", "humaneval", tmp_path / "p.json", limit=1,
            generation=stage.GenerationSettings(prompt_kind="plain"), quiet=True,
        )  # fmt: skip


@pytest.mark.parametrize("option", ["--prompt-format", "--prompt"])  # --prompt: its old name
def test_plain_prompts_on_a_chat_only_backend_fail_in_one_line(tmp_path, shared_data, option):
    result = runner.invoke(
        app,
        ["evaluate", "--model", "openai:m@http://127.0.0.1:9/v1", "--benchmark", "humaneval",
         option, "plain", "--limit", "1", "--out", str(tmp_path / "r.json"), "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: --prompt-format plain needs a local model")
    assert line.endswith("the openai backend only takes conversations")
    assert not (tmp_path / "r.samples.jsonl").exists()


class StopRecordingBackend:
    """A local-model stand-in: continues raw prompts with canned bodies and records the stop
    strings each prompt was completed with."""

    supports_completion = True

    def __init__(self, tokenizer, bodies: dict[str, str]) -> None:
        self.prompt_formatter = tokenizer
        self.bodies = bodies
        self.calls: list[tuple[list[str], tuple[str, ...], tuple[int, ...] | None]] = []

    def complete(self, prompts, params):
        self.calls.append((list(prompts), tuple(params.stop), params.seeds))
        return [
            [next(body for key, body in self.bodies.items() if key in prompt)] * params.n
            for prompt in prompts
        ]

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def describe(self):
        return {"kind": "fake-local"}


def test_a_mixed_problems_file_stops_each_prompt_at_its_own_strings(
    tmp_path, monkeypatch, bytelevel_tokenizer
):
    """Completion-style (HumanEval's stops) and prose problems (MBPP's) in one chunk: each
    prompt is completed with its own stop strings, answers stay with their tasks."""
    from fgit.evaluation import stage
    from fgit.evaluation.prompts import DIRECT_STOPS
    from fgit.records import Problem, write_records

    problems = [
        Problem(id="p/prose1", instruction="Write add(a, b) returning a + b.",
                response="def add(a, b):\n    return a + b\n",
                tests="assert add(1, 2) == 3\n", entry_point="add"),
        Problem(id="p/code", instruction='def inc(x):\n    """Add one."""\n',
                response="    return x + 1\n",
                tests="def check(candidate):\n    assert candidate(1) == 2\n",
                entry_point="inc", metadata={"style": "completion"}),
        Problem(id="p/prose2", instruction="Write neg(x) returning -x.",
                response="def neg(x):\n    return -x\n",
                tests="assert neg(2) == -2\n", entry_point="neg"),
    ]  # fmt: skip
    path = tmp_path / "mixed.jsonl"
    write_records(path, problems)
    backend = StopRecordingBackend(
        bytelevel_tokenizer,
        {"add(a, b)": "def add(a, b):\n    return a + b\n", "Add one.": "    return x + 1\n",
         "neg(x)": "def neg(x):\n    return -x\n"},
    )  # fmt: skip
    monkeypatch.setattr(stage, "load_generation_backend", lambda model, generation, quiet: backend)
    settings = stage.GenerationSettings(prompt_kind="plain", max_new_tokens=8)
    run = stage.evaluate_model(
        "fake", f"problems:{path}", tmp_path / "r.json", generation=settings, quiet=True
    )
    assert len(backend.calls) == 2  # one call per stop tuple, not one per chunk
    stops = {}
    for prompts, stop, _ in backend.calls:
        for prompt in prompts:
            stops["code" if "Add one." in prompt else "prose"] = set(stop)
    assert set(DIRECT_STOPS["humaneval"]) <= stops["code"]
    assert set(DIRECT_STOPS["mbpp"]) <= stops["prose"]
    assert not set(DIRECT_STOPS["mbpp"]) <= stops["code"]
    assert [t.task_id for t in run.tasks] == ["p/prose1", "p/code", "p/prose2"]
    assert [t.base for t in run.tasks] == ["passed"] * 3  # answers stayed with their tasks
    assert run.prompt_format["datasets"] == ["humaneval", "mbpp"]


def test_grouped_completions_keep_each_prompts_seed():
    from fgit.backends.protocol import SamplingParams
    from fgit.evaluation.prompts import EvalPrompt
    from fgit.evaluation.stage import _complete_by_stops

    seen = []

    class Echo:
        def complete(self, prompts, params):
            seen.append((params.stop, params.seeds))
            return [[f"{p}:{s}"] for p, s in zip(prompts, params.seeds, strict=True)]

    def prompt(text, stop):
        return EvalPrompt(kind="plain", text=text, stop=stop, solution_prefix="")

    prompts = [prompt("a", ("x",)), prompt("b", ("y",)), prompt("c", ("x",))]
    out = _complete_by_stops(Echo(), prompts, SamplingParams(seeds=(1, 2, 3)))
    assert out == [["a:1"], ["b:2"], ["c:3"]]
    assert seen == [(("x",), (1, 3)), (("y",), (2,))]
