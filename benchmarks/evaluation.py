"""Evaluation speed: scoring the 164 HumanEval canonical solutions, per-program sandbox
overhead, and greedy generation throughput.

    python benchmarks/evaluation.py                       # all three, tiny model for generation
    python benchmarks/evaluation.py --model qwen2.5-coder-0.5b-instruct --batch 64   # on a GPU

Scoring runs every solution in fgit's sandbox (own process, uid, namespaces, limits) with all
cores; the overhead is the mean wall time of a trivial program run alone (``pass``), i.e. what
the sandbox itself costs per program. Generation is greedy on HumanEval prompts in evalplus's
chat format, ``--max-new-tokens`` each, and counts the tokens actually generated.
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
    from fgit.sandbox import run_program

    results = [run_program("pass\n") for _ in range(runs + 2)][2:]  # 2 warm-up runs
    times = [r.duration_s for r in results]
    return statistics.mean(times), statistics.median(times), results[-1].isolation


def generation(model: str, batch: int, tasks: int, max_new_tokens: int) -> tuple[float, int, str]:
    from fgit.backends.transformers_backend import TransformersBackend
    from fgit.evaluation.prompts import build_prompt
    from fgit.evaluation.tasks import load_benchmark
    from fgit.generation import SamplingParams

    if model == "tiny":
        from fgit.testing import build_tiny_llama, build_tiny_tokenizer

        tokenizer = build_tiny_tokenizer("bytelevel")
        backend = TransformersBackend.from_model(
            build_tiny_llama(tokenizer).eval(), tokenizer, batch_size=batch, quiet=True
        )
    else:
        backend = TransformersBackend(model, batch_size=batch, quiet=True)
    tok = backend.tokenizer
    prompts = [
        build_prompt(t.prompt, tok, "humaneval").text
        for t in load_benchmark("humaneval").tasks[:tasks]
    ]
    params = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens)
    backend.complete(prompts[:batch], SamplingParams(temperature=0.0, max_new_tokens=8))  # warm
    start = time.perf_counter()
    outputs = backend.complete(prompts, params)
    seconds = time.perf_counter() - start
    tokens = sum(len(tok(o[0], add_special_tokens=False)["input_ids"]) for o in outputs)
    return seconds, tokens, str(backend.model.device)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--overhead-runs", type=int, default=50)
    parser.add_argument("--model", default="tiny", help="generation model (tiny: random Llama)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--tasks", type=int, default=32, help="HumanEval prompts to generate for")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--skip", default="", help="comma list of: score,overhead,generation")
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
        seconds, tokens, device = generation(
            args.model, args.batch, args.tasks, args.max_new_tokens
        )
        print(
            f"generation {args.model} on {device}: {tokens} tokens in {seconds:.1f} s = "
            f"{tokens / seconds:.0f} tok/s (batch {args.batch}, {args.tasks} prompts, "
            f"max {args.max_new_tokens} new tokens, greedy)"
        )


if __name__ == "__main__":
    sys.exit(main())
