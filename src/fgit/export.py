"""fgit pairs out as TRL preference rows, with fgit's marks as extra columns (`fgit export`).

Each row is TRL's conversational preference row: ``prompt`` (the record's context and its
instruction as messages), ``chosen`` and ``rejected`` (one assistant message each, the response
text as fgit diffs it: line endings ``\\n``, no trailing whitespace). TRL's trainers, fgit's
``FGITTrainer`` and fgit's own readers take it as it is; fgit reads it back into the same
pairs (``tests/test_export.py``). Extra columns:

* ``chosen_spans`` / ``rejected_spans``: the error-sensitive characters of each response as
  ``[start, end, level]`` runs (level 1: in a changed line; 2: changed itself), over the
  response text; a run starting at ``len(text)`` marks the end of the text (the EOS token).
  Tokenizer-free: project them onto any tokenizer's offsets.
* with a tokenizer, ``prompt_ids``, ``chosen_ids``, ``rejected_ids`` and the four token masks
  of :mod:`fgit.training.columns`, encoded exactly as ``fgit train`` encodes (prompt format,
  max length, EOS).
* ``id``, and ``tests``, ``entry_point``, ``source``, ``metadata``, ``selection`` when set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fgit.records import Pair
from fgit.segments.diff import LineGap, diff_marks, normalize_response

__all__ = ["ExportResult", "export_rows", "marked_spans", "write_rows"]

FORMATS = (".jsonl", ".parquet")
JSON_TEXT_COLUMNS = ("metadata", "selection")  # free-form objects: JSON text in parquet


def marked_spans(levels: np.ndarray) -> list[list[int]]:
    """``[start, end, level]`` runs of equal non-zero ``levels`` (one per character, plus one
    for the end of the text)."""
    runs: list[list[int]] = []
    for position, level in enumerate(levels.tolist()):
        if level and runs and runs[-1][1] == position and runs[-1][2] == level:
            runs[-1][1] = position + 1
        elif level:
            runs.append([position, position + 1, int(level)])
    return runs


def _messages(pair: Pair) -> list[dict[str, str]]:
    turns = [m.model_dump() for m in pair.context]
    return [*turns, {"role": "user", "content": pair.instruction}]


def _text_row(pair: Pair, line_gap: LineGap) -> dict[str, Any]:
    correct, incorrect = normalize_response(pair.response), normalize_response(pair.incorrect)
    marks = diff_marks(correct, incorrect, line_gap=line_gap)
    row: dict[str, Any] = {
        "id": pair.id,
        "prompt": _messages(pair),
        "chosen": [{"role": "assistant", "content": correct}],
        "rejected": [{"role": "assistant", "content": incorrect}],
        "chosen_spans": marked_spans(marks.correct.hybrid),
        "rejected_spans": marked_spans(marks.incorrect.hybrid),
    }
    for name in ("tests", "entry_point", "source", "metadata", "selection"):
        value = getattr(pair, name)
        if value:
            row[name] = value
    return row


@dataclass
class ExportResult:
    rows: list[dict[str, Any]]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (id, why)


def export_rows(
    pairs: Sequence[Pair],
    *,
    tokenizer: Any = None,
    prompt_format: Any = None,
    max_length: int = 1024,
    line_gap: LineGap = "next-line",
) -> ExportResult:
    """TRL rows for ``pairs``; with a ``tokenizer``, the token columns too, and the pairs fgit
    cannot encode for it (a prompt longer than ``max_length``) are left out and listed."""
    rows = [_text_row(pair, line_gap) for pair in pairs]
    if tokenizer is None:
        return ExportResult(rows)
    from fgit.segments.encode import DEFAULT_PROMPT_FORMAT, SegmentError, encode_pairs
    from fgit.training.columns import pair_columns

    encoded = encode_pairs(
        [(p.instruction, p.response, p.incorrect) for p in pairs],
        tokenizer,
        prompt_format=prompt_format or DEFAULT_PROMPT_FORMAT,
        max_length=max_length,
        line_gap=line_gap,
        contexts=[p.context for p in pairs],
    )
    result = ExportResult([])
    for pair, row, pair_encoding in zip(pairs, rows, encoded, strict=True):
        if isinstance(pair_encoding, SegmentError):
            result.skipped.append((pair.id, f"{pair_encoding.kind}: {pair_encoding}"))
        else:
            result.rows.append({**row, **pair_columns(pair_encoding)})
    return result


def write_rows(rows: list[dict[str, Any]], out: Path) -> None:
    """Write rows as JSONL or parquet (by ``out``'s suffix), atomically."""
    import json

    from fgit.io import atomic_write

    suffix = out.suffix.lower()
    if suffix == ".jsonl":
        atomic_write(out, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        return
    if suffix != ".parquet":
        raise ValueError(f"{out}: write .jsonl or .parquet")
    import pyarrow as pa
    import pyarrow.parquet as pq

    # A table has one type per column and every column on every row: metadata and selection
    # differ from record to record, so they travel as JSON text; a field a row lacks is null
    # (fgit's reader takes both back).
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    table = {
        name: [
            json.dumps(row[name], ensure_ascii=False)
            if name in JSON_TEXT_COLUMNS and name in row
            else row.get(name)
            for row in rows
        ]
        for name in columns
    }
    atomic_write(out, lambda handle: pq.write_table(pa.table(table), handle))
