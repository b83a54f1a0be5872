"""Throughput of error-sensitive segment extraction (pairs/s), one process and all cores.

Pairs are realistic: correct responses from ../shared/data (LeetCode markdown answers with code,
MBPP solutions), each with one small fault of the kinds teachers write (an operator, an
off-by-one constant, a dropped or duplicated line, a renamed variable). Each pair is tokenized
(prompt through the chat template, both responses), diffed and projected onto tokens: the full
``encode_pairs`` path that training uses.

    python benchmarks/segments.py                       # SmolLM2 tokenizer (packaged)
    python benchmarks/segments.py --kind code --pairs 3000
    python benchmarks/segments.py --model qwen2.5-coder-0.5b-instruct --repeat 5
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import random
import re
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

DATA = Path(os.environ.get("FGIT_DATA_DIR", Path(__file__).resolve().parents[2] / "shared/data"))
MUTATIONS = [
    (re.compile(r"<="), "<"), (re.compile(r"(?<![<>=!])<(?![<=])"), "<="),
    (re.compile(r">="), ">"), (re.compile(r"=="), "!="), (re.compile(r" \+ "), " - "),
    (re.compile(r" - "), " + "), (re.compile(r"\b1\b"), "0"), (re.compile(r"\b0\b"), "1"),
    (re.compile(r"\band\b"), "or"), (re.compile(r"\bTrue\b"), "False"),
    (re.compile(r"\[i\]"), "[i - 1]"), (re.compile(r"\bmax\("), "min("),
]  # fmt: skip


def load_correct_responses(kind: str) -> list[tuple[str, str]]:
    """(instruction, correct response).

    ``code``: code-only answers (MBPP solutions, LeetCode reference completions, HumanEval
    canonical solutions). ``markdown``: LeetCode's long markdown answers (prose + code), the
    shape of Evol-Instruct responses.
    """
    out = []
    with gzip.open(DATA / "instruct/leetcode/LeetCodeDataset-v0.2.0-train.jsonl.gz", "rt") as f:
        for line in f:
            row = json.loads(line)
            out.append((row["query"], row["response" if kind == "markdown" else "completion"]))
    if kind == "markdown":
        return out
    with open(DATA / "mbpp/mbpp.jsonl") as f:
        for line in f:
            row = json.loads(line)
            out.append((row["text"], row["code"]))
    with gzip.open(DATA / "HumanEval.jsonl.gz", "rt") as f:
        for line in f:
            row = json.loads(line)
            out.append((row["prompt"], row["prompt"] + row["canonical_solution"]))
    return out


def inject_fault(code: str, rng: random.Random) -> str:
    """One small fault on a random line: an operator/constant mutation, else a line edit."""
    lines = code.split("\n")
    candidates = [k for k, line in enumerate(lines) if line.strip()]
    for _ in range(20):
        k = rng.choice(candidates)
        pattern, replacement = rng.choice(MUTATIONS)
        if pattern.search(lines[k]):
            lines[k] = pattern.sub(replacement, lines[k], count=1)
            return "\n".join(lines)
    k = rng.choice(candidates)
    if rng.random() < 0.5:
        del lines[k]
    else:
        lines.insert(k, lines[k])
    return "\n".join(lines)


def make_pairs(n: int, kind: str, seed: int = 0) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    base = load_correct_responses(kind)
    rng.shuffle(base)
    return [(instr, correct, inject_fault(correct, rng)) for instr, correct in base[:n]]


_worker_tokenizer = None


def _init_worker(model: str) -> None:
    global _worker_tokenizer
    from fgit.models import load_tokenizer

    _worker_tokenizer = load_tokenizer(model)


def _encode_chunk(args: tuple[list[tuple[str, str, str]], int]) -> tuple[int, int, int]:
    from fgit.segments import SegmentError, encode_pairs

    chunk, max_length = args
    done = skipped = tokens = 0
    for start in range(0, len(chunk), 256):
        batch = chunk[start : start + 256]
        for result in encode_pairs(batch, _worker_tokenizer, max_length=max_length):
            if isinstance(result, SegmentError):
                skipped += 1
                continue
            done += 1
            tokens += len(result.correct.input_ids) + len(result.incorrect.input_ids)
    return done, skipped, tokens


def run_pool(pairs, model: str, max_length: int, workers: int) -> tuple[float, tuple[int, ...]]:
    """Wall time to encode ``pairs`` split over ``workers`` fresh (spawned) processes.

    Both the 1-process and the all-cores figures come from here, so they are measured the same
    way: each worker holds only its tokenizer and its share of the pairs (a forked worker would
    inherit this process's heap and pay for it in every garbage collection).
    """
    chunks = [(pairs[k::workers], max_length) for k in range(workers)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(model,)
    ) as pool:
        list(pool.map(_encode_chunk, [(chunk[:8], max_length) for chunk, _ in chunks]))  # warm up
        start = time.perf_counter()
        counts = list(pool.map(_encode_chunk, chunks))
        seconds = time.perf_counter() - start
    done, skipped, tokens = (sum(c[i] for c in counts) for i in range(3))
    return seconds, (done, skipped, tokens)


def measure(kind: str, args: argparse.Namespace) -> None:
    pairs = make_pairs(args.pairs, kind)
    chars = statistics.mean(len(c) for _, c, _ in pairs)
    rates = {}
    for workers in (1, args.workers):
        runs = [run_pool(pairs, args.model, args.max_length, workers) for _ in range(args.repeat)]
        rates[workers] = len(pairs) / statistics.median(seconds for seconds, _ in runs)
        done, skipped, tokens = runs[0][1]
    print(
        f"{kind:9s} {len(pairs):6d} pairs  {chars:6.0f} chars  {tokens / done:6.0f} tokens/pair"
        f"  skipped {skipped}  1 process {rates[1]:7.0f} pairs/s"
        f"  {args.workers} processes {rates[args.workers]:7.0f} pairs/s"
        f"  ({rates[args.workers] / rates[1]:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--pairs", type=int, default=2500)
    parser.add_argument("--kind", choices=["code", "markdown", "both"], default="both")
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    # One process means one core: the tokenizer's Rust thread pool is switched off too.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    print(
        f"tokenizer {args.model}, max_length {args.max_length}, python {sys.version.split()[0]},"
        f" {os.cpu_count()} cores, median of {args.repeat}; chars = mean correct response length,"
        " tokens/pair = both sides with prompt"
    )
    for kind in ("code", "markdown") if args.kind == "both" else (args.kind,):
        measure(kind, args)


if __name__ == "__main__":
    main()
