"""Does a model tell a pair's correct side from its fault? H^c, H^a and NLLs per model and split.

    python scripts/pair_contrast.py --pairs results/cpu-qwen0.5b-mbpp/pairs.jsonl \
        --like results/cpu-qwen0.5b-mbpp/train/fgit-lr4e-4/training.json \
        qwen2.5-coder-0.5b-instruct results/cpu-qwen0.5b-mbpp/adapters/{sft-lr4e-4,fgit-lr4e-4,dpo}

Every pair is encoded exactly as the training run of ``--like`` encoded it (its prompt format,
max length, line-gap rule and granularity), and split as it split them: the pairs it trained on
and the pairs of the problems it held out for validation. Each model (a name, a model folder, or
a PEFT adapter folder on top of its ``base_model_name_or_path``) then scores both sides of every
pair, and the script prints, per split, the means over pairs of:

- ``H^c``, ``H^a``: the V-weighted mean probability of the sensitive tokens of the correct and
  the incorrect side (FGIT's confidences, :func:`fgit.training.losses.log_confidence`), and the
  share of pairs with H^c > H^a;
- ``W``: FGIT's weight α − |(H^c − H^a)/(H^c + H^a)| at the run's α (at α, the model does not
  tell the sides apart);
- the correct side's NLL per token on its sensitive and its shared tokens;
- ``margin``: log P(correct) − log P(incorrect) of the whole responses (DPO's implicit
  preference, before β and the reference), and the share of pairs where it is positive.

FGIT is built to raise H^c against H^a on the sensitive tokens; this measures whether it did.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from fgit.training.losses import fgit_sample_weights, log_confidence

FIELDS = ("h_correct", "h_incorrect", "prefers_correct", "weight", "nll_sensitive",
          "nll_shared", "margin", "margin_positive")  # fmt: skip


@dataclass(frozen=True)
class PairContrast:
    """Per pair, [N] each."""

    h_correct: Tensor
    h_incorrect: Tensor
    weight: Tensor
    nll_sensitive: Tensor  # correct side, per sensitive token
    nll_shared: Tensor  # correct side, per shared response token
    margin: Tensor  # Σ log P(correct) − Σ log P(incorrect)

    def rows(self) -> list[dict[str, float]]:
        return [
            {
                "h_correct": float(self.h_correct[i]),
                "h_incorrect": float(self.h_incorrect[i]),
                "prefers_correct": float(self.h_correct[i] > self.h_incorrect[i]),
                "weight": float(self.weight[i]),
                "nll_sensitive": float(self.nll_sensitive[i]),
                "nll_shared": float(self.nll_shared[i]),
                "margin": float(self.margin[i]),
                "margin_positive": float(self.margin[i] > 0),
            }
            for i in range(len(self.margin))
        ]


def pair_contrast(logp: Tensor, loss_mask: Tensor, sensitive: Tensor, alpha: float) -> PairContrast:
    """Per-pair figures from a both-sides batch: rows [0, N) are the correct sides, [N, 2N) the
    incorrect ones, as :class:`fgit.training.collator.PairCollator` stacks them. ``logp`` and the
    masks are aligned with the next-token predictions (:func:`fgit.training.collator.shifted`).
    A side without sensitive tokens has H = NaN (and the pair W = α, as in training)."""
    n = logp.shape[0] // 2
    logp = logp.double()
    sensitive = torch.where(loss_mask, sensitive, torch.zeros_like(sensitive))
    log_h, has = log_confidence(logp, sensitive)
    h = torch.where(has, log_h.exp(), torch.full_like(log_h, float("nan")))
    weight = fgit_sample_weights(log_h[:n], log_h[n:], has[:n], has[n:], alpha)
    scored = torch.where(loss_mask, logp, torch.zeros_like(logp))
    is_sensitive = (sensitive[:n] > 0).double()
    is_shared = (loss_mask[:n] & (sensitive[:n] == 0)).double()
    nll_sensitive = -(scored[:n] * is_sensitive).sum(-1) / is_sensitive.sum(-1)
    nll_shared = -(scored[:n] * is_shared).sum(-1) / is_shared.sum(-1)
    margin = scored[:n].sum(-1) - scored[n:].sum(-1)
    return PairContrast(h[:n], h[n:], weight, nll_sensitive, nll_shared, margin)


def summarize(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """Means over pairs; a NaN (a side without sensitive tokens) is left out of its mean."""
    out: dict[str, float] = {"pairs": float(len(rows))}
    for name in FIELDS:
        values = [row[name] for row in rows if row[name] == row[name]]
        out[name] = sum(values) / len(values) if values else float("nan")
    return out


def _load(name: str) -> tuple[Any, Any]:
    from fgit.models import ensure_pad_token, load_model_and_tokenizer

    folder = Path(name)
    if (folder / "adapter_config.json").is_file():
        from peft import PeftModel

        base = json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"]
        model, tokenizer = load_model_and_tokenizer(base, dtype="float32", quiet=True)
        model = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
    else:
        model, tokenizer = load_model_and_tokenizer(name, dtype="float32", quiet=True)
    return model.eval(), ensure_pad_token(tokenizer)


@torch.no_grad()
def score_model(name: str, settings: Any, split_of: dict[str, str], batch_size: int) -> dict:
    """Per split, the summary of every pair ``name`` scores (see :func:`pair_contrast`)."""
    from fgit.progress import progress_bar
    from fgit.training.collator import PairCollator, shifted
    from fgit.training.data import load_training_pairs
    from fgit.training.logprobs import CausalLMLogProbs

    model, tokenizer = _load(name)
    data = load_training_pairs(
        settings.pairs,
        tokenizer,
        prompt_format=settings.build_prompt_format(),
        max_length=settings.max_length,
        line_gap=settings.line_gap,
    )
    module = CausalLMLogProbs(model, chunk_size=settings.logprob_chunk_size)
    collator = PairCollator(tokenizer.pad_token_id, settings.granularity, sides="both")
    rows: dict[str, list[dict[str, float]]] = {}
    items = list(enumerate(data.pairs))
    with progress_bar(False, unit="pairs") as bar:
        task = bar.add_task(f"scoring with {name}", total=len(items))
        for start in range(0, len(items), batch_size):
            batch = collator(items[start : start + batch_size])
            logp = module(batch.input_ids, batch.attention_mask, batch.labels, batch.labels != -100)
            loss_mask, sensitive = shifted(batch)
            contrast = pair_contrast(logp, loss_mask, sensitive, settings.alpha)
            for index, row in zip(batch.indices, contrast.rows(), strict=True):
                rows.setdefault(split_of[data.ids[index]], []).append(row)
            bar.advance(task, len(batch.indices))
    return {split: summarize(split_rows) for split, split_rows in sorted(rows.items())}


def read_settings(like: Path | None, pairs: Path) -> Any:
    """A training run's settings (``training.json``; the defaults without one), on ``pairs``."""
    from pydantic import ValidationError

    from fgit.config_file import ConfigSource, config_error, issues_from
    from fgit.training.config import TrainConfig

    config = json.loads(like.read_text())["config"] if like else {}
    unused = {"model": "unused", "output_dir": "unused"}  # nothing is loaded or written there
    try:
        return TrainConfig.model_validate({**config, **unused, "pairs": pairs})
    except ValidationError as error:
        where = ConfigSource(f"{like}, config")
        raise config_error(issues_from(error, TrainConfig), where) from None


def split_ids(settings: Any) -> dict[str, str]:
    """Pair id -> "trained on" or "held out", by the run's validation split."""
    from fgit.records import read_pairs
    from fgit.validation import holdout_ids, problem_key

    records = read_pairs(settings.pairs)
    fraction, seed = settings.holdout_fraction, settings.holdout_seed
    held = holdout_ids((problem_key(r) for r in records), fraction, seed) if fraction else set()
    return {r.id: "held out" if problem_key(r) in held else "trained on" for r in records}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="model names, model folders or adapter folders")
    parser.add_argument("--pairs", type=Path, required=True)
    parser.add_argument("--like", type=Path, help="a training run's training.json")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--out", type=Path, help="also write the summaries here (JSON)")
    args = parser.parse_args(argv)
    from fgit.errors import FgitError

    try:
        settings = read_settings(args.like, args.pairs)
        split_of = split_ids(settings)
    except (OSError, ValueError, KeyError, FgitError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    results = {name: score_model(name, settings, split_of, args.batch_size) for name in args.models}
    header = "  ".join(f"{f:>15}" for f in FIELDS)
    for split in ("trained on", "held out"):
        print(f"\n{split}:")
        print(f"{'model':40} {'pairs':>5}  {header}")
        for name, by_split in results.items():
            if split in by_split:
                summary = by_split[split]
                cells = "  ".join(f"{summary[f]:15.3f}" for f in FIELDS)
                print(f"{name[-40:]:40} {int(summary['pairs']):5d}  {cells}")
    if args.out:
        from fgit.io import atomic_write

        atomic_write(args.out, json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
