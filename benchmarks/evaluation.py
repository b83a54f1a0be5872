"""Evaluation speed: scoring the 164 HumanEval canonical solutions, per-program sandbox
overhead, and greedy generation throughput.

    python benchmarks/evaluation.py                       # all three, tiny model for generation
    python benchmarks/evaluation.py --model qwen2.5-coder-0.5b-instruct --batch 64   # on a GPU
    # CPU: fgit's greedy loop (finished rows leave the batch) vs transformers' generate
    python benchmarks/evaluation.py --skip score,overhead --model qwen2.5-coder-0.5b-instruct \
        --loops drop-finished,generate --tasks 64 --batch 32 --max-new-tokens 512
    # CPU: sampled, 4 samples per task with per-task seeds as on-policy attempts draw them
    python benchmarks/evaluation.py --skip score,overhead --model qwen2.5-coder-0.5b-instruct \
        --loops drop-finished,generate --tasks 8 --samples 4 --temperature 0.8 --batch 32 \
        --max-new-tokens 384
    # CPU: float32 vs bf16 side by side, and llama.cpp on the packaged GGUF (one stream)
    python benchmarks/evaluation.py --skip score,overhead --model qwen2.5-coder-0.5b-instruct \
        --dtypes float32,bfloat16 --llamacpp --tasks 16 --batch 16 --max-new-tokens 128

Scoring runs every solution in fgit's sandbox (own process, uid, namespaces, limits) with all
cores; the overhead is the mean wall time of a trivial program run alone (``pass``), i.e. what
the sandbox itself costs per program. Generation is greedy on HumanEval prompts in evalplus's
chat format, ``--max-new-tokens`` each, and counts the tokens actually generated; with
``--samples N --temperature T``, N samples per task, each task seeded as evaluation seeds it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path


def score_canonical(workers: int, data_dir: Path | None) -> tuple[float, int, int]:
    from fgit.evaluation.scoring import ScoreSettings, score_solutions
    from fgit.evaluation.tasks import load_benchmark

    benchmark = load_benchmark("humaneval", data_dir)
    solutions = {t.task_id: t.canonical_solution for t in benchmark.tasks}
    start = time.perf_counter()
    scores = score_solutions(benchmark, solutions, ScoreSettings(workers=workers), progress=False)
    seconds = time.perf_counter() - start
    return seconds, sum(s.base_passed for s in scores), len(scores)


def sandbox_overhead(runs: int) -> tuple[float, float, str]:
    from fgit.execution import run_program

    results = [run_program("pass\n") for _ in range(runs + 2)][2:]  # 2 warm-up runs
    times = [r.duration_s for r in results]
    return statistics.mean(times), statistics.median(times), results[-1].isolation


def _prompts(tokenizer: object, tasks: int) -> list[object]:
    from fgit.evaluation.prompts import build_prompt
    from fgit.evaluation.tasks import load_benchmark

    return [
        build_prompt(t.prompt, tokenizer, "humaneval")
        for t in load_benchmark("humaneval").tasks[:tasks]
    ]


def generation(
    model: str,
    batch: int,
    tasks: int,
    max_new_tokens: int,
    dtype: str = "auto",
    loop: str = "drop-finished",
    samples: int = 1,
    temperature: float = 0.0,
) -> tuple[float, int, str, list[str]]:
    """Over the first ``tasks`` HumanEval prompts, greedy or ``samples`` each at
    ``temperature``. ``loop``: drop-finished (fgit.backends.decoding, the default) or generate
    (transformers' generate, every row to the end; sampled, one task per batch)."""
    import torch

    from fgit.backends.transformers_backend import TransformersBackend
    from fgit.generation import SamplingParams

    drop = loop == "drop-finished"
    if model == "tiny":
        from fgit.precision import choose_dtype
        from fgit.testing import build_tiny_llama, build_tiny_tokenizer

        tokenizer = build_tiny_tokenizer("bytelevel")
        name = choose_dtype("cpu").dtype if dtype == "auto" else dtype
        lm = build_tiny_llama(tokenizer).to(getattr(torch, name)).eval()
        backend = TransformersBackend.from_model(
            lm, tokenizer, batch_size=batch, drop_finished_rows=drop, quiet=True
        )
    else:
        backend = TransformersBackend(
            model, batch_size=batch, dtype=dtype, drop_finished_rows=drop, quiet=True
        )
    tok = backend.tokenizer
    built = _prompts(tok, tasks)
    prompts = [p.text for p in built]
    # evalplus's stop strings, as `fgit evaluate` uses them: a batch ends when every row has
    # stopped, so they decide how much is generated.
    from fgit.evaluation.sampling import task_seed

    seeds = tuple(task_seed(0, f"HumanEval/{i}") for i in range(len(prompts)))
    params = SamplingParams(
        n=samples,
        temperature=temperature,
        max_new_tokens=max_new_tokens,
        stop=built[0].stop,
        seeds=seeds if temperature > 0 else None,
    )
    backend.complete(prompts[:batch], SamplingParams(temperature=0.0, max_new_tokens=8))  # warm
    start = time.perf_counter()
    outputs = backend.complete(prompts, params)
    seconds = time.perf_counter() - start
    texts = [text for o in outputs for text in o]
    tokens = sum(len(tok(text, add_special_tokens=False)["input_ids"]) for text in texts)
    label = f"{backend.model.device}, {backend.describe()['dtype']}, {loop}"
    return seconds, tokens, label, texts


def llamacpp_generation(
    model: str, tasks: int, max_new_tokens: int, threads: int
) -> tuple[float, int, list[str]]:
    """The same prompts through llama.cpp (llama-cpp-python) on the packaged model's own GGUF,
    one sequence at a time (the Python binding does not batch sequences)."""
    from llama_cpp import Llama

    from fgit.models import ensure_gguf, load_tokenizer

    tok = load_tokenizer(model, quiet=True)
    built = _prompts(tok, tasks)
    llm = Llama(
        model_path=str(ensure_gguf(model, quiet=True)), n_ctx=2048, n_threads=threads, verbose=False
    )
    llm.create_completion(built[0].text, max_tokens=8, temperature=0.0)  # warm
    start, tokens, texts = time.perf_counter(), 0, []
    for prompt in built:
        out = llm.create_completion(
            prompt.text, max_tokens=max_new_tokens, temperature=0.0, stop=list(prompt.stop)
        )
        tokens += out["usage"]["completion_tokens"]
        texts.append(out["choices"][0]["text"])
    return time.perf_counter() - start, tokens, texts


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--overhead-runs", type=int, default=50)
    parser.add_argument("--model", default="tiny", help="generation model (tiny: random Llama)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--tasks", type=int, default=32, help="HumanEval prompts to generate for")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--samples", type=int, default=1, help="samples per task (needs T > 0)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    parser.add_argument("--skip", default="", help="comma list of: score,overhead,generation")
    parser.add_argument(
        "--dtypes", default="auto", help="comma list of generation dtypes to run side by side"
    )
    parser.add_argument(
        "--loops",
        default="drop-finished",
        help="comma list of greedy loops side by side: drop-finished (fgit), generate (HF)",
    )
    parser.add_argument(
        "--llamacpp", action="store_true", help="also llama.cpp on the packaged GGUF (CPU)"
    )
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    data_dir = Path(os.environ["FGIT_DATA_DIR"]) if "FGIT_DATA_DIR" in os.environ else None

    if "score" not in skip:
        seconds, passed, total = score_canonical(args.workers, data_dir)
        print(
            f"score 164 HumanEval canonical solutions: {seconds:.2f} s with {args.workers} "
            f"workers ({passed}/{total} pass)"
        )
    if "overhead" not in skip:
        mean, median, isolation = sandbox_overhead(args.overhead_runs)
        print(
            f"sandbox overhead per program: mean {mean * 1000:.1f} ms, median "
            f"{median * 1000:.1f} ms over {args.overhead_runs} runs ({isolation})"
        )
    if "generation" not in skip:
        answers: dict[str, list[str]] = {}
        rates: dict[str, float] = {}
        runs = [(d, loop) for d in args.dtypes.split(",") for loop in args.loops.split(",")]
        sampled = f"{args.samples} samples, T {args.temperature}"
        mode = "greedy" if args.temperature == 0 else sampled
        for dtype, loop in runs:
            seconds, tokens, label, texts = generation(
                args.model,
                args.batch,
                args.tasks,
                args.max_new_tokens,
                dtype,
                loop,
                args.samples,
                args.temperature,
            )
            answers[label], rates[label] = texts, tokens / seconds
            print(
                f"generation {args.model} ({label}): {tokens} tokens in {seconds:.1f} s = "
                f"{tokens / seconds:.1f} tok/s (batch {args.batch}, {args.tasks} prompts, "
                f"max {args.max_new_tokens} new tokens, {mode})",
                flush=True,
            )
        if args.llamacpp:
            seconds, tokens, texts = llamacpp_generation(
                args.model, args.tasks, args.max_new_tokens, torch_threads()
            )
            answers["llama.cpp"], rates["llama.cpp"] = texts, tokens / seconds
            print(
                f"generation {args.model} (llama.cpp, its GGUF, one stream): {tokens} tokens "
                f"in {seconds:.1f} s = {tokens / seconds:.1f} tok/s",
                flush=True,
            )
        labels = list(answers)
        for other in labels[1:]:
            same = sum(a == b for a, b in zip(answers[labels[0]], answers[other], strict=True))
            kind = "greedy" if args.temperature == 0 else "sampled (loops draw differently)"
            print(
                f"{other} vs {labels[0]}: {rates[other] / rates[labels[0]]:.2f}x tok/s, "
                f"{same}/{len(answers[other])} {kind} answers identical"
            )


if __name__ == "__main__":
    sys.exit(main())
