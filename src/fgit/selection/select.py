"""The selection stage: variants JSONL in, pairs JSONL out, every candidate scored for audit.

Per problem:

1. Drop candidates that cannot be used: no code or response (``prose``), identical to the
   correct response after normalisation, code that does not parse (after the problem's
   ``metadata["prelude"]`` when it has one, as it is run), duplicates.
2. Score the rest by cosine similarity of their code to the correct code (pluggable embedder).
3. Where the problem has tests: run the correct code first (a reference that fails means the
   tests cannot tell right from wrong: the problem is skipped), then every candidate, in the
   sandbox; candidates that pass are still correct and are dropped (the paper saw ~6%).
4. Choose the most similar remaining candidate.

Resumable at record granularity: scored variant sets are appended to ``<out>.candidates.jsonl``
as each batch finishes, and a rerun skips the ids already there. The pairs file is then written
atomically from that journal.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fgit.io import write_json
from fgit.progress import progress_bar
from fgit.records import (
    Candidate,
    Pair,
    Problem,
    VariantSet,
    iter_records,
    read_completed_ids,
    repair_truncated_tail,
    write_records,
)
from fgit.segments import normalize_response
from fgit.selection.embedders import Scorer
from fgit.variants.extract import PYTHON_LANGS, extract_code, is_markdown, leaf_blocks, parses


@dataclass
class SelectionSummary:
    problems: int = 0
    pairs: int = 0
    skipped: Counter = field(default_factory=Counter)  # problem-level reasons
    dropped: Counter = field(default_factory=Counter)  # candidate-level reasons
    verdicts: Counter = field(default_factory=Counter)  # sandbox verdicts of candidates
    with_tests: int = 0  # problems whose candidates were executed
    # The paper's figure: of the candidates that similarity alone would choose (no execution
    # filter), how many really fail their tests. Counted over problems with tests.
    most_similar_failing: int = 0
    most_similar_checked: int = 0
    mean_similarity: float = 0.0  # of the chosen candidates
    embedder: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def share_most_similar_failing(self) -> float | None:
        if not self.most_similar_checked:
            return None
        return self.most_similar_failing / self.most_similar_checked

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("skipped", "dropped", "verdicts"):
            data[key] = dict(getattr(self, key))
        data["share_most_similar_failing"] = self.share_most_similar_failing
        return data


def reference_code(problem: Problem) -> str:
    """The correct code: the response itself, or its code block for a markdown response."""
    if is_markdown(problem.response):
        return extract_code(problem.response).code or problem.response
    return problem.response


def _reference_problem(problem: VariantSet, prelude: str | None) -> str | None:
    """Why the correct code cannot anchor a Python pair, or None: another language (its fenced
    blocks are tagged with one), or Python that does not parse (Python 2, cut off)."""
    if parses(reference_code(problem), prelude):
        return None
    languages = {lang for lang, _ in leaf_blocks(problem.response.replace("\r\n", "\n"))}
    if languages and not languages & PYTHON_LANGS:
        return "non-Python reference"
    return "unparsable reference"


def _drop_unusable(problem: VariantSet) -> list[Candidate]:
    """Candidates with a drop reason where they cannot be used at all."""
    correct = normalize_response(problem.response)
    # Code runs after the prelude (problem_program), so it must parse there: a completion-style
    # body (HumanEval) only parses after its prompt; LeetCode code after its imports.
    prelude = problem.metadata.get("prelude") or None
    # fgit checks, executes and diffs Python only: a problem answered in another language
    # (Evol-CodeAlpaca has C++, Java, JavaScript, SQL...) has its own reason, not "unparsable".
    reference_problem = _reference_problem(problem, prelude)
    seen: set[str] = set()
    out = []
    for cand in problem.candidates:
        reason = None
        if reference_problem:
            reason = reference_problem
        elif not cand.response or not cand.code:
            reason = "no code" if cand.extraction == "prose" else "empty"
        elif normalize_response(cand.response) == correct:
            reason = "identical to correct"
        elif not parses(cand.code, prelude):
            reason = "unparsable"
        elif normalize_response(cand.response) in seen:
            reason = "duplicate"
        if cand.response:
            seen.add(normalize_response(cand.response))
        out.append(cand.model_copy(update={"dropped": reason}))
    return out


def _score(sets: list[VariantSet], candidates: list[list[Candidate]], scorer: Scorer) -> None:
    """Fill ``similarity`` of usable candidates in place (lists of new Candidate objects)."""
    refs, texts, where = [], [], []
    for problem, cands in zip(sets, candidates, strict=True):
        usable = [(j, c) for j, c in enumerate(cands) if c.dropped is None]
        refs.append(reference_code(problem))
        texts.append([c.code or "" for _, c in usable])
        where.append([j for j, _ in usable])
    scores = scorer.similarities(refs, texts)
    for k, (row, indices) in enumerate(zip(scores, where, strict=True)):
        for j, value in zip(indices, row, strict=True):
            candidates[k][j] = candidates[k][j].model_copy(update={"similarity": round(value, 6)})


def _execute(
    sets: list[VariantSet], candidates: list[list[Candidate]], limits: Any, workers: int | None
) -> dict[int, str]:
    """Run references and usable candidates; returns problem index -> skip reason."""
    from fgit.execution import SandboxLimits, Verdict, problem_program, run_many

    if limits is None:  # select_pairs' default: the sandbox's default limits
        limits = SandboxLimits()

    jobs: list[tuple[int, int | None, str]] = []  # (problem, candidate or None=reference, code)
    for k, (problem, cands) in enumerate(zip(sets, candidates, strict=True)):
        if not problem.tests:
            continue
        jobs.append((k, None, problem_program(problem, reference_code(problem))))
        jobs += [
            (k, j, problem_program(problem, c.code or ""))
            for j, c in enumerate(cands)
            if c.dropped is None
        ]
    results = run_many([program for _, _, program in jobs], limits=limits, workers=workers)
    skip: dict[int, str] = {}
    for (k, j, _), result in zip(jobs, results, strict=True):
        if j is None:
            if result.verdict != Verdict.PASSED:
                skip[k] = f"reference fails its tests ({result.verdict.value})"
            continue
        update = {"verdict": result.verdict.value, "detail": result.detail[:300]}
        if result.verdict == Verdict.PASSED:
            update["dropped"] = "passes its tests"
        elif result.verdict == Verdict.SANDBOX_ERROR:  # never ran: no verified fault
            update["dropped"] = "not run by the sandbox"
        candidates[k][j] = candidates[k][j].model_copy(update=update)
    return skip


def _finalise(problem: VariantSet, cands: list[Candidate], skip: str | None) -> VariantSet:
    """Mark the chosen candidate (most similar eligible one) or record why there is none."""
    eligible = [j for j, c in enumerate(cands) if c.dropped is None and c.similarity is not None]
    if skip is None and not eligible:
        skip = "no usable incorrect candidate"
    if skip is None:
        best = max(eligible, key=lambda j: cands[j].similarity or 0.0)
        cands[best] = cands[best].model_copy(update={"chosen": True})
    return problem.model_copy(update={"candidates": cands, "skipped": skip})


def _account(scored: VariantSet, summary: SelectionSummary) -> None:
    cands = scored.candidates
    summary.dropped.update(c.dropped for c in cands if c.dropped)
    summary.verdicts.update(c.verdict for c in cands if c.verdict)
    if scored.skipped:
        summary.skipped[scored.skipped.split(" (")[0]] += 1
    ranked = [c for c in cands if c.similarity is not None]
    if scored.tests and ranked and not (scored.skipped or "").startswith("reference fails"):
        most_similar = max(ranked, key=lambda c: c.similarity or 0.0)
        summary.with_tests += 1
        summary.most_similar_checked += 1
        summary.most_similar_failing += int(most_similar.verdict not in (None, "passed"))


def _pair(scored: VariantSet, embedder: dict[str, Any]) -> Pair | None:
    chosen = [(j, c) for j, c in enumerate(scored.candidates) if c.chosen]
    if not chosen:
        return None
    index, cand = chosen[0]
    fields = {name: getattr(scored, name) for name in Problem.model_fields}
    return Pair(
        **fields,
        incorrect=cand.response or "",
        selection={
            "candidate": index,
            "candidates": len(scored.candidates),
            "similarity": cand.similarity,
            "embedder": embedder,
            "verified_incorrect": cand.verdict is not None,
            "verdict": cand.verdict,
            "detail": cand.detail,
            "teacher": scored.teacher,
        },
    )


def journal_path(out: Path) -> Path:
    return out.with_name(out.name + ".candidates.jsonl")


def select_pairs(
    variants: str | Path,
    out: str | Path,
    scorer: Scorer,
    *,
    run_tests: bool = True,
    limits: Any = None,
    workers: int | None = None,
    batch_size: int = 64,
    quiet: bool = False,
) -> SelectionSummary:
    """Choose one incorrect response per problem of ``variants``; write pairs to ``out``."""
    out = Path(out)
    journal = journal_path(out)
    if journal.exists():
        repair_truncated_tail(journal)
    done = read_completed_ids(journal) if journal.exists() else set()
    sets = [record for _, record in iter_records(variants, VariantSet)]
    todo = [s for s in sets if s.id not in done]
    embedder = scorer.describe()
    summary = SelectionSummary(problems=len(sets), embedder=embedder)
    started = time.perf_counter()
    with progress_bar(quiet, unit="problems") as progress:
        task = progress.add_task("select", total=len(sets), completed=len(sets) - len(todo))
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            candidates = [_drop_unusable(problem) for problem in batch]
            _score(batch, candidates, scorer)
            skips = _execute(batch, candidates, limits, workers) if run_tests else {}
            scored = [
                _finalise(problem, cands, skips.get(k))
                for k, (problem, cands) in enumerate(zip(batch, candidates, strict=True))
            ]
            write_records(journal, scored, append=True)
            progress.advance(task, len(batch))
    # The summary and the pairs come from the whole journal, so a resumed run reports all of it.
    pairs = _pairs_from_journal(journal, {s.id for s in sets}, summary, embedder)
    write_records(out, pairs)
    summary.seconds = round(time.perf_counter() - started, 2)
    write_json(out.with_name(out.name + ".summary.json"), summary.to_json())
    return summary


def _pairs_from_journal(
    journal: Path, ids: set[str], summary: SelectionSummary, embedder: dict[str, Any]
) -> list[Pair]:
    pairs = []
    for _, scored in iter_records(journal, VariantSet):
        if scored.id in ids:
            _account(scored, summary)
            pair = _pair(scored, embedder)
            if pair is not None:
                pairs.append(pair)
    summary.pairs = len(pairs)
    if pairs:
        summary.mean_similarity = round(
            sum(p.selection["similarity"] for p in pairs) / len(pairs), 4
        )
    return pairs
