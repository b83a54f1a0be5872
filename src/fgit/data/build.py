"""Training problems from a dataset: load, decontaminate, cut to a limit. The one home of the
``problems`` step, for ``fgit problems build`` and the pipeline's problems stage alike."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fgit.data.files import PathLike, data_dir
from fgit.records import Problem

__all__ = ["BuiltProblems", "build_problems"]


@dataclass
class BuiltProblems:
    """The problems kept, and the report written beside them (load and decontamination)."""

    problems: list[Problem]
    report: dict[str, Any]
    load_summary: str
    decontamination_summary: str | None
    skipped: int
    decontaminated: int

    def why_empty(self) -> str:
        """Why no problem was kept, with the counts: what a build that keeps none reports."""
        loaded, source = self.report["load"]["loaded"], self.report["load"]["source"]
        if loaded == 0:
            return f"no problems kept: {self.load_summary}"
        if self.decontaminated == loaded:
            return (
                f"no problems kept: decontamination removed all {loaded} that {source} loaded, "
                "as overlapping HumanEval(+), MBPP+ or MBPP's test split; if these are a "
                "benchmark's own split (as humaneval-train is), turn it off: --no-decontaminate "
                "(problems.decontaminate: false in a run config)"
            )
        return (
            f"no problems kept: {loaded} loaded ({self.load_summary}), {self.decontaminated} "
            "removed by decontamination, and the limit kept none of the rest"
        )

    def write(self, out: PathLike) -> Path:
        """The problems to ``out`` (JSONL) and the report beside it (``OUT.report.json``);
        returns the report's path."""
        from fgit.io import write_json
        from fgit.records import write_records

        out = Path(out)
        write_records(out, self.problems)
        return write_json(out.with_name(out.name + ".report.json"), self.report)


def build_problems(
    *,
    preset: str | None = None,
    path: PathLike | None = None,
    data_folder: PathLike | None = None,
    decontaminate: bool = True,
    limit: int | None = None,
    seed: int = 0,
) -> BuiltProblems:
    """Problems from ``preset`` (:data:`fgit.problems.PRESETS`) or a JSONL file at ``path``.

    ``decontaminate`` drops every problem that overlaps HumanEval(+), MBPP+ or MBPP's test split
    (:mod:`fgit.decontam`); ``limit`` then keeps the first N. ``seed`` is the HumanEval split's
    (``humaneval-*`` presets only). An unknown preset raises ValueError.
    """
    from fgit.decontam import DEFAULT_BENCHMARKS, load_benchmark_texts
    from fgit.decontam import decontaminate as remove_overlaps
    from fgit.problems import jsonl, load_preset

    if (preset is None) == (path is None):
        raise ValueError("give exactly one of preset and path")
    if preset is not None:
        options = {"seed": seed} if preset.startswith("humaneval") else {}
        problems, load_report = load_preset(preset, data_folder, **options)
    else:
        assert path is not None
        problems, load_report = jsonl(Path(path))
    report: dict[str, Any] = {"load": load_report.to_dict()}
    summary, removed = None, 0
    if decontaminate:
        texts = load_benchmark_texts(DEFAULT_BENCHMARKS, data_dir(data_folder))
        kept, decontam = remove_overlaps(problems, texts)
        removed, problems = len(problems) - len(kept), kept
        report["decontamination"] = decontam.to_dict()
        summary = decontam.summary()
    return BuiltProblems(
        problems=problems[:limit],
        report=report,
        load_summary=load_report.summary(),
        decontamination_summary=summary,
        skipped=load_report.n_skipped,
        decontaminated=removed,
    )
