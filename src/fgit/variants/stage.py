"""The variants stage: problems in, a variants JSONL out (K candidates per problem).

Resumable at record granularity: each finished problem is appended (and synced) as one line,
so a crash loses at most the batch in flight, and a rerun skips every id already written.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fgit.io import write_json
from fgit.progress import progress_bar
from fgit.records import (
    Candidate,
    Problem,
    VariantSet,
    read_completed_ids,
    repair_truncated_tail,
    write_records,
)
from fgit.variants.extract import (
    extract_code,
    incorrect_response,
    is_continuation,
    is_markdown,
)
from fgit.variants.sources import VariantSource


@dataclass
class VariantsSummary:
    problems: int = 0
    resumed: int = 0  # already in the output file from an earlier run
    generated: int = 0
    candidates: int = 0
    usable: int = 0  # candidates with a response to train on
    extraction: Counter = field(default_factory=Counter)
    without_candidates: list[str] = field(default_factory=list)  # ids with no usable candidate
    seconds: float = 0.0
    source: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["extraction"] = dict(self.extraction)
        return data


def build_candidate(problem: Problem, text: str) -> Candidate:
    """Extract code from ``text`` and shape the incorrect response like the correct one.

    For a completion-style problem (the correct response continues ``metadata["prelude"]``,
    e.g. a HumanEval body), an unfenced candidate that continues the prelude is kept verbatim.
    """
    reference = extract_code(problem.response).code if is_markdown(problem.response) else None
    prelude = problem.metadata.get("prelude")
    if not (isinstance(prelude, str) and is_continuation(problem.response, prelude)):
        prelude = None
    extraction = extract_code(text, reference=reference or problem.response, prelude=prelude)
    return Candidate(
        text=text,
        response=incorrect_response(text, problem.response, extraction),
        code=extraction.code,
        extraction=extraction.kind,
    )


def generate_variants(
    problems: Sequence[Problem],
    source: VariantSource,
    out: str | Path,
    *,
    k: int = 3,
    batch_size: int = 16,
    quiet: bool = False,
) -> VariantsSummary:
    """Write a :class:`VariantSet` per problem to ``out``, skipping ids already there."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        repair_truncated_tail(out)
    done = read_completed_ids(out) if out.exists() else set()
    todo = [p for p in problems if p.id not in done]
    summary = VariantsSummary(
        problems=len(problems), resumed=len(problems) - len(todo), source=source.describe()
    )
    started = time.perf_counter()
    with progress_bar(quiet, unit="problems") as progress:
        task = progress.add_task("variants", total=len(problems), completed=summary.resumed)
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            texts = source.variants(batch, k)
            records = [
                _variant_set(problem, cands, summary)
                for problem, cands in zip(batch, texts, strict=True)
            ]
            write_records(out, records, append=True)
            progress.advance(task, len(batch))
    summary.seconds = round(time.perf_counter() - started, 2)
    _write_summary(out, summary)
    return summary


def _variant_set(problem: Problem, texts: list[str], summary: VariantsSummary) -> VariantSet:
    candidates = [build_candidate(problem, text) for text in texts]
    summary.generated += 1
    summary.candidates += len(candidates)
    summary.usable += sum(1 for c in candidates if c.response)
    summary.extraction.update(c.extraction for c in candidates)
    if not any(c.response for c in candidates):
        summary.without_candidates.append(problem.id)
    fields = {name: getattr(problem, name) for name in Problem.model_fields}
    return VariantSet(**fields, teacher=summary.source, candidates=candidates)


def summary_path(out: Path) -> Path:
    return out.with_name(out.name + ".summary.json")


def _write_summary(out: Path, summary: VariantsSummary) -> None:
    write_json(summary_path(out), summary.to_json())
