"""Training-step time and peak memory of each loss, as ratios to SFT measured in one run.

One optimizer step (forward, backward, AdamW) on the same batch of B pairs × L tokens for:
sft, fgit (differentiable W), fgit with detached W, dpo (reference log-probs precomputed, as the
trainer caches them), and sft with naive log-probabilities (full fp32 logits, the textbook
path) to show what chunking saves. Pairs are synthetic but shaped like real ones: a prompt, a
response, and an incorrect response with ``--faults`` small edits (1-3 tokens each) at random
positions, whose masks mark changed tokens 2 and their surrounding "line" 1.

Each (loss, batch) runs in a freshly spawned process, so peak memory is that configuration's
own: CUDA max_memory_allocated on a GPU, else peak RSS above the process's resident size
after set-up (Linux VmHWM, reset through /proc/self/clear_refs).

    python benchmarks/train_step.py                                  # tiny Llama, CPU
    python benchmarks/train_step.py --vocab 151936 --batch 8 --length 1024 --modes sft,sft-naive
    python benchmarks/train_step.py --model qwen2.5-coder-0.5b-instruct --batch 8 --length 1024
    # CPU: full fine-tuning vs LoRA, in the precision `precision: auto` picks here
    python benchmarks/train_step.py --model qwen2.5-coder-0.5b-instruct --batch 4 --length 256 \
        --prompt 96 --steps 2 --modes sft,fgit --lora both

Throughput is the correct side's tokens (prompt and response, B × L) per second of a step: the
data a run learns from, so the figure is comparable across losses.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

ALL_MODES = ("sft", "fgit", "fgit-detached", "dpo", "sft-naive")


def _rss_reset() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _build_model(args: argparse.Namespace):
    import torch

    if args.model == "tiny":
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(0)
        config = LlamaConfig(
            vocab_size=args.vocab,
            hidden_size=args.hidden,
            intermediate_size=2 * args.hidden,
            num_hidden_layers=args.layers,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=max(2048, args.length),
            tie_word_embeddings=False,
        )
        model = LlamaForCausalLM(config)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        return model.to(device)
    from fgit.models import load_model

    return load_model(args.model, dtype="float32", quiet=True)


def _synthetic_batch(args: argparse.Namespace, vocab: int):
    """A PairBatch of B pairs: rows 0..B-1 correct, B..2B-1 incorrect."""
    import torch

    from fgit.training.collator import PairBatch

    g = torch.Generator().manual_seed(1)
    b, length, prompt = args.batch, args.length, args.prompt
    correct = torch.randint(10, vocab, (b, length), generator=g)
    incorrect = correct.clone()
    # `faults` edit sites per pair at uniform random response positions, 1-3 tokens each: the
    # shape of teacher-written variants (a few small edits). Each changed token gets 2, a
    # window of +-4 tokens around it 1 (its "line").
    changed = torch.zeros((b, length), dtype=torch.bool)
    for row in range(b):
        for _ in range(args.faults):
            start = int(torch.randint(prompt, length - 3, (1,), generator=g))
            width = int(torch.randint(1, 4, (1,), generator=g))
            changed[row, start : start + width] = True
    incorrect[changed] = (incorrect[changed] + 1) % vocab
    window = torch.nn.functional.max_pool1d(changed[:, None].float(), 9, 1, 4)[:, 0] > 0
    sensitive = (window.to(torch.int8) + changed.to(torch.int8)) * (torch.arange(length) >= prompt)
    input_ids = torch.cat([correct, incorrect])
    labels = input_ids.clone()
    labels[:, :prompt] = -100
    return PairBatch(
        input_ids=input_ids,
        attention_mask=torch.ones_like(input_ids),
        labels=labels,
        sensitive=torch.cat([sensitive, sensitive]).to(torch.int8),
        num_pairs=b,
        indices=tuple(range(b)),
    )


class _NaiveLogProbs:
    """The textbook path: full logits from the model's forward, then log_softmax."""

    def __new__(cls, model):
        import torch

        from fgit.training.logprobs import naive_token_logprobs

        class Naive(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask, labels, score_mask):
                logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
                targets = labels[:, 1:]
                mask = score_mask[:, 1:] & (targets != -100)
                return naive_token_logprobs(logits[:, :-1], targets, mask)

        return Naive()


def _measure(args: argparse.Namespace, mode: str, lora: bool, queue) -> None:
    import torch

    from fgit.training.collator import shifted
    from fgit.training.logprobs import CausalLMLogProbs
    from fgit.training.objective import Objective, StepCounts, local_counts, micro_batch_loss

    torch.set_num_threads(args.threads) if args.threads else None
    from fgit.precision import choose_dtype

    model = _build_model(args)
    model.config.use_cache = False
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear")
        )
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    device = next(model.parameters()).device
    cuda = device.type == "cuda"
    vocab = model.config.vocab_size
    loss = {"fgit-detached": "fgit", "sft-naive": "sft"}.get(mode, mode)
    objective = Objective(loss=loss, detach_weights=mode == "fgit-detached")
    full = _synthetic_batch(args, vocab)
    if objective.sides == "correct":
        b = full.num_pairs
        from dataclasses import replace

        full = replace(
            full,
            input_ids=full.input_ids[:b],
            attention_mask=full.attention_mask[:b],
            labels=full.labels[:b],
            sensitive=full.sensitive[:b],
        )
    module = _NaiveLogProbs(model) if mode == "sft-naive" else CausalLMLogProbs(model, args.chunk)
    batch = full.to(device)
    # fp32 master weights under bf16 autocast: on CUDA when asked, on a CPU by default where
    # it runs bf16 natively (what `precision: auto` does).
    if args.bf16 is not None:
        use_bf16 = args.bf16
    else:
        use_bf16 = not cuda and choose_dtype("cpu").dtype == "bfloat16"
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)
    if objective.needs_reference:
        with torch.no_grad(), autocast:
            ref = module(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                labels=batch.labels,
                score_mask=batch.labels != -100,
            )
        from dataclasses import replace

        batch = replace(batch, reference_logps=ref.float() * shifted(batch)[0])
    tokens, pairs = local_counts(batch)
    counts = StepCounts(tokens=float(tokens), pairs=float(pairs))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6)

    def step() -> float:
        with autocast:
            value, _ = micro_batch_loss(module, batch, objective, counts)
        value.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(value.detach())

    step()  # warm-up: allocator, optimizer state, kernels
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        reset = _rss_reset()
        base = _status_kib("VmRSS") * 1024
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    if cuda:
        peak = torch.cuda.max_memory_allocated()
        kind = "cuda max_memory_allocated"
    else:
        peak = _status_kib("VmHWM") * 1024 if reset else float("nan")
        kind = "peak RSS"
    queue.put(
        {
            "mode": mode + (" lora" if lora else ""),
            "tokens_per_s": args.batch * args.length / statistics.median(times),
            "autocast_bf16": use_bf16,
            "median_s": statistics.median(times),
            "min_s": min(times),
            "peak_bytes": peak,
            "step_bytes": peak - base,
            "memory_kind": kind,
            "device": str(device),
        }
    )


def run(args: argparse.Namespace, mode: str, lora: bool = False) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_measure, args=(args, mode, lora, queue))
    process.start()
    process.join()
    if process.exitcode != 0:
        return {"mode": mode, "error": f"exit code {process.exitcode}"}
    return queue.get()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny", help="tiny, or a packaged name/folder/hub id")
    parser.add_argument("--vocab", type=int, default=1024, help="tiny model vocabulary")
    parser.add_argument("--hidden", type=int, default=64, help="tiny model width")
    parser.add_argument("--layers", type=int, default=2, help="tiny model depth")
    parser.add_argument("--batch", type=int, default=8, help="pairs per step")
    parser.add_argument("--length", type=int, default=512, help="tokens per sequence")
    parser.add_argument("--prompt", type=int, default=128, help="prompt tokens per sequence")
    parser.add_argument("--faults", type=int, default=2, help="edit sites per pair")
    parser.add_argument("--chunk", type=int, default=1024, help="log-prob chunk (tokens)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (after 1 warm-up)")
    parser.add_argument("--modes", default="sft,fgit,fgit-detached,dpo,sft-naive")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bf16 autocast (default: off on CUDA; on a CPU, what precision auto picks)",
    )
    parser.add_argument(
        "--lora", choices=("no", "yes", "both"), default="no", help="LoRA r=16 on all linears"
    )
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(ALL_MODES)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}; choose from {ALL_MODES}")

    # glibc would otherwise keep freed large blocks (its mmap threshold adapts upwards), so the
    # resident size after warm-up would hide what a step allocates. Fixed: large blocks are
    # mapped and returned to the system on free, and RSS tracks live tensors.
    os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(1 << 17))
    loras = {"no": [False], "yes": [True], "both": [False, True]}[args.lora]
    results = [run(args, mode, lora) for lora in loras for mode in modes]
    by_mode = {r["mode"]: r for r in results}
    sft = by_mode.get("sft")
    print(
        f"model={args.model} vocab={args.vocab if args.model == 'tiny' else '-'} "
        f"batch={args.batch} pairs x {args.length} tokens (prompt {args.prompt}), "
        f"{args.faults} fault sites per pair, chunk={args.chunk}, {args.steps} timed steps"
    )
    print(
        f"{'mode':<14} {'step (median)':>14} {'x sft':>7} {'step memory':>12} {'x sft':>7} "
        f"{'tokens/s':>9}"
    )
    for r in results:
        if "error" in r:
            print(f"{r['mode']:<14} {r['error']}")
            continue
        t_ratio = r["median_s"] / sft["median_s"] if sft and "error" not in sft else float("nan")
        m_ratio = (
            r["step_bytes"] / sft["step_bytes"] if sft and "error" not in sft else float("nan")
        )
        print(
            f"{r['mode']:<14} {r['median_s'] * 1000:>11.1f} ms {t_ratio:>7.2f} "
            f"{r['step_bytes'] / 2**20:>8.0f} MiB {m_ratio:>7.2f} {r['tokens_per_s']:>9.1f}"
        )
    if "fgit" in by_mode and "dpo" in by_mode and "error" not in by_mode["dpo"]:
        print(
            f"fgit / dpo step time: {by_mode['fgit']['median_s'] / by_mode['dpo']['median_s']:.2f}"
        )
    if results:
        first = results[0]
        print(
            f"memory: {first.get('memory_kind', '?')} on {first.get('device', '?')}; "
            f"bf16 autocast: {first.get('autocast_bf16', '?')}"
        )
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": None}, "results": results}))


if __name__ == "__main__":
    sys.exit(main())
