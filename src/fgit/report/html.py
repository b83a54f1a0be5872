"""The run report as one self-contained HTML file (inline CSS, plots as data URIs, no script).

Everything that comes from data (code, ids, instructions, model names, error details) goes
through :func:`_e` (``html.escape``): generated code is untrusted text, not markup.
"""

from __future__ import annotations

import base64
import difflib
import html
import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fgit.evaluation.benchmark_names import benchmark_display, has_base_and_plus
from fgit.evaluation.compare import (
    Comparison,
    PairedStats,
    compare_runs,
    format_delta,
    format_p,
    verdict_outcome,
)
from fgit.evaluation.results import EvalRun, TaskResult
from fgit.io import atomic_write
from fgit.report.load import ReportInputs, load_report_inputs, section_state
from fgit.report.plots import evaluation_plot, selection_plot, training_plot

__all__ = ["PLOT_FILES", "make_plots", "render_report", "write_report"]

PLOT_FILES = {
    "selection": "selection.png",
    "training": "training.png",
    "evaluation": "evaluation.png",
}
MAX_TASK_ROWS = 200  # per-task differences shown per benchmark

CSS = """
:root { --m1: #fff1a8; --m2: #ff9f8f; --line: #d0d4da; --muted: #5f6b7a; }
body { font: 15px/1.5 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif;
       color: #1d2330; max-width: 1400px; margin: 0 auto; padding: 1.5em 2em 4em; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; border-bottom: 2px solid var(--line); padding-bottom: 0.2em;
     margin-top: 2.2em; }
h3 { font-size: 1.05em; margin: 1.4em 0 0.4em; }
nav a { margin-right: 1em; color: #2456a6; text-decoration: none; }
.label { background: #fff4d6; border: 2px solid #e0a800; border-radius: 6px;
         padding: 0.7em 1em; font-size: 1.1em; font-weight: 600; margin: 0.8em 0; }
.muted, .note { color: var(--muted); }
.missing { color: #8a5a00; font-style: italic; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.92em; }
th, td { border: 1px solid var(--line); padding: 0.25em 0.6em; text-align: left;
         vertical-align: top; }
th { background: #f3f5f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.pass { color: #1c7c2c; } td.fail { color: #b3261e; } td.some { color: #9a6700; }
.status-done { color: #1c7c2c; } .status-failed { color: #b3261e; font-weight: 600; }
.status-running { color: #8a5a00; } .status-this { color: #1c7c2c; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.88em; }
pre { background: #f7f8fa; border: 1px solid var(--line); border-radius: 4px; padding: 0.6em;
      overflow-x: auto; white-space: pre-wrap; word-break: break-word; margin: 0.3em 0; }
.pair { border: 1px solid var(--line); border-radius: 6px; padding: 0.6em 1em;
        margin: 1em 0; }
.sides { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.sides h4 { margin: 0.4em 0 0.1em; font-size: 0.95em; }
.m1 { background: var(--m1); }
.m2 { background: var(--m2); font-weight: 600; }
.nl { color: #9a8f70; user-select: none; }
.legend span { padding: 0 0.3em; border-radius: 3px; }
.legend code { background: #f7f8fa; }
img.plot { max-width: 100%; height: auto; border: 1px solid var(--line); margin: 0.5em 0; }
details > summary { cursor: pointer; color: #2456a6; }
"""

LEGEND = (
    '<p class="legend">Error-sensitive tokens (hybrid mask): '
    '<span class="m2">2 = changed token</span> a token that is itself edited between the '
    "two responses; "
    '<span class="m1">1 = in a changed line</span> a token on a line that differs; '
    "plain text = 0, shared. "
    '<span class="nl">↵</span> marks a newline inside a marked token; '
    "<code>⟨eos⟩</code> is the end-of-text token when it is marked.</p>"
)


def _e(value: Any) -> str:
    """Escaped text of any value (``None`` as a dash)."""
    return "–" if value is None else html.escape(str(value), quote=True)


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or value is None:
        return _e(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return _e(value)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _table(
    header: Sequence[str], rows: Iterable[Sequence[str]], numeric: Collection[int] = ()
) -> str:
    """A table of already-escaped cells (header cells are escaped here)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if k in numeric else f"<td>{c}</td>"
                  for k, c in enumerate(row))
        + "</tr>"
        for row in rows
    )  # fmt: skip
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(png: bytes | None, alt: str) -> str:
    if not png:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="plot" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _missing(state: str, what: str) -> str:
    return f'<p class="missing">{_e(what)}: {_e(state)}.</p>'


def _json_block(value: Any) -> str:
    return f"<pre>{_e(json.dumps(value, indent=2, sort_keys=True, default=str))}</pre>"


# Keys whose name misleads in a cell; "pairs_used" (manifests before issue 14) counted the
# usable pairs, not the pairs the steps trained on.
KEY_LABELS = {"pairs_used": "pairs available"}


def _flat(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, scalar) leaves of nested dicts; lists of scalars stay one comma list."""
    if isinstance(value, Mapping):
        if not value:
            yield prefix, "–"
        for key, item in value.items():
            yield from _flat(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, (list, tuple)):
        if all(not isinstance(item, (Mapping, list, tuple)) for item in value):
            yield prefix, ", ".join(str(item) for item in value) if value else "none"
        else:
            for k, item in enumerate(value):
                yield from _flat(item, f"{prefix}[{k}]")
    else:
        yield prefix, value


def _readable(value: Any) -> str:
    """A dict or list as short "key: value" lines (nested keys dotted), never raw JSON."""
    lines = []
    for key, item in _flat(value):
        label = KEY_LABELS.get(key, key).replace("_", " ")
        lines.append(f"{_e(label)}: {_fmt(item)}" if key else _fmt(item))
    return "<br>".join(lines)


# ---------------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------------


def _stage_rows(stages: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    rows = []
    for name, stage in stages.items():
        status = str(stage.get("status", "?"))
        if name == "report" and status == "running":
            status = "this page"  # the pipeline's report stage is writing it right now
        key = str(stage.get("key") or "")[:12]
        info = stage.get("info")
        rows.append([
            f"<code>{_e(name)}</code>",
            f'<span class="status-{_e(status)}">{_e(status)}</span>',
            _fmt(stage.get("seconds"), 1),
            f"<code>{_e(key)}</code>",
            _readable(info) if info else "",
        ])  # fmt: skip
    return rows


def _summary_section(inputs: ReportInputs) -> str:
    m = inputs.manifest
    parts = [f"<h1>fgit run: {_e(inputs.name)}</h1>"]
    if inputs.label:
        parts.append(f'<div class="label">{_e(inputs.label)}</div>')
    facts = [
        f"folder <code>{_e(inputs.run_dir)}</code>",
        f"created {_e(m.get('created'))}",
        f"updated {_e(m.get('updated'))}",
        f"fgit {_e(m.get('fgit_version'))}",
    ]
    parts.append(f'<p class="muted">{" · ".join(facts)}</p>')
    return f'<section id="summary">{"".join(parts)}</section>'


def _run_section(inputs: ReportInputs) -> str:
    """Stages, versions and the config: what a reader checks after the results."""
    m = inputs.manifest
    parts = ["<h2>Run details</h2>"]
    if inputs.stages:
        header = ["stage", "status", "seconds", "key", "info"]
        parts.append(_table(header, _stage_rows(inputs.stages), numeric={2}))
    else:
        parts.append('<p class="missing">The manifest lists no stages.</p>')
    versions = m.get("versions") or {}
    if versions:
        parts.append("<h3>Versions</h3>")
        parts.append(_table(["package", "version"], [[_e(k), _e(v)] for k, v in versions.items()]))
    if m.get("config") is not None:
        sha = str(m.get("config_sha256") or "")[:12]
        parts.append(
            f"<details><summary>resolved config (sha256 {_e(sha)}…)</summary>"
            f"{_json_block(m['config'])}</details>"
        )
    return f'<section id="run">{"".join(parts)}</section>'


# ---------------------------------------------------------------------------------------------
# Pairs
# ---------------------------------------------------------------------------------------------


def _piece(text: str, mark: int) -> str:
    escaped = _e(text)
    if not mark:
        return escaped
    # A newline has no visible background: show where a marked one is.
    escaped = escaped.replace("\n", '<span class="nl">↵</span>\n')
    return f'<span class="m{2 if mark >= 2 else 1}">{escaped}</span>'


def _side_html(title: str, side: Mapping[str, Any], tokens: Any, sensitive: Any) -> str:
    pieces = side.get("pieces") or []
    code = "".join(_piece(str(p.get("text", "")), int(p.get("mark") or 0)) for p in pieces)
    eos = side.get("eos")
    if eos:
        code += _piece("⟨eos⟩", int(eos))
    cut = " · truncated" if side.get("truncated") else ""
    return (
        f'<div><h4>{_e(title)} <span class="muted">({_e(tokens)} tokens, {_e(sensitive)}'
        f" sensitive{cut})</span></h4><pre>{code}</pre></div>"
    )


def _side_text(side: Mapping[str, Any]) -> str:
    return "".join(str(p.get("text", "")) for p in side.get("pieces") or [])


def similarity_text(value: Any, differs: bool) -> str:
    """The selection's similarity with enough digits that a pair whose texts differ never
    reads as 1.0000 (4 digits, more while it would; an exact 1 says the texts differ)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–"
    for digits in range(4, 9):
        text = f"{value:.{digits}f}"
        if not differs or float(text) < 1.0:
            return text
    return f"{value:.4f} (equal embeddings; the texts differ)"


def lines_differing(correct: str, incorrect: str) -> int:
    """Lines that differ between the two texts (a replaced block counts its longer side)."""
    matcher = difflib.SequenceMatcher(None, correct.splitlines(), incorrect.splitlines(), False)
    return sum(
        max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
    )


def _pair_html(view: Mapping[str, Any]) -> str:
    counts = view.get("counts") or {}
    correct = _side_text(view.get("correct") or {})
    incorrect = _side_text(view.get("incorrect") or {})
    changed = lines_differing(correct, incorrect)
    if correct == incorrect:
        difference = "texts equal"
    else:  # 0 lines: only line ends differ, e.g. a trailing newline
        difference = f"lines differing: {changed}" if changed else "only line ends differ"
    meta = [
        f"embedding similarity {similarity_text(view.get('similarity'), correct != incorrect)}",
        difference,
        f"verdict of the variant {_e(view.get('verdict'))}",
    ]
    detail = f'<p class="note">{_e(view["detail"])}</p>' if view.get("detail") else ""
    return (
        f'<div class="pair"><h3><code>{_e(view.get("id"))}</code></h3>'
        f'<p class="muted">{" · ".join(meta)}</p>{detail}'
        f"<details><summary>instruction</summary><pre>{_e(view.get('instruction'))}</pre>"
        "</details>"
        '<div class="sides">'
        + _side_html("correct response", view.get("correct") or {},
                     counts.get("tokens_correct"), counts.get("sensitive_correct"))
        + _side_html("incorrect variant", view.get("incorrect") or {},
                     counts.get("tokens_incorrect"), counts.get("sensitive_incorrect"))
        + "</div></div>"
    )  # fmt: skip


def _pairs_section(inputs: ReportInputs) -> str:
    parts = ["<h2>Pairs and error-sensitive tokens</h2>"]
    examples = inputs.examples
    if examples is None:
        parts.append(_missing(section_state(inputs, "pairs"), "Segments"))
    elif not examples.get("pairs"):
        parts.append('<p class="missing">No example pairs (no pair could be encoded).</p>')
    else:
        views = examples["pairs"]
        parts.append(
            f'<p class="muted">{len(views)} example pairs, tokenized for '
            f"<code>{_e(examples.get('model'))}</code>.</p>"
        )
        parts.append(LEGEND)
        parts += [_pair_html(view) for view in views]
    return f'<section id="pairs">{"".join(parts)}</section>'


# ---------------------------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------------------------


def _counter_table(title: str, counts: Any) -> str:
    if not isinstance(counts, Mapping) or not counts:
        return ""
    ranked = sorted(counts.items(), key=lambda item: (-_int(item[1]), str(item[0])))
    rows = [[_e(k), _e(v)] for k, v in ranked]
    return f"<h3>{_e(title)}</h3>" + _table(["reason", "count"], rows, numeric={1})


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _selection_numbers(summary: Mapping[str, Any]) -> str:
    share = summary.get("share_most_similar_failing")
    rows = [
        ("problems", _e(summary.get("problems"))),
        ("pairs chosen", _e(summary.get("pairs"))),
        ("mean similarity of chosen candidates", _fmt(summary.get("mean_similarity"))),
        ("problems with tests (candidates executed)", _e(summary.get("with_tests"))),
        (
            "most similar candidate really fails (paper: ~94%)",
            f"{_pct(share)} ({_e(summary.get('most_similar_failing'))}/"
            f"{_e(summary.get('most_similar_checked'))})"
            if share is not None
            else "–",
        ),
        ("embedder", _readable(summary.get("embedder") or {})),
        ("seconds", _fmt(summary.get("seconds"), 1)),
    ]
    return "<h3>Selection</h3>" + _table(["measure", "value"], rows)


def _variants_numbers(summary: Mapping[str, Any]) -> str:
    without = summary.get("without_candidates") or []
    rows = [
        (name, _e(summary.get(key)))
        for name, key in (
            ("problems", "problems"),
            ("resumed from an earlier run", "resumed"),
            ("generated", "generated"),
            ("candidates", "candidates"),
            ("usable candidates", "usable"),
        )
    ]
    rows.append(("problems without a usable candidate", _e(len(without))))
    rows.append(("source", _readable(summary.get("source") or {})))
    rows.append(("seconds", _fmt(summary.get("seconds"), 1)))
    return (
        "<h3>Variants</h3>"
        + _table(["measure", "value"], rows)
        + _counter_table("Code extraction of candidates", summary.get("extraction"))
    )


def _selection_section(inputs: ReportInputs, plot: bytes | None) -> str:
    parts = ["<h2>Variants, selection and segments</h2>"]
    if inputs.variants_summary is not None:
        parts.append(_variants_numbers(inputs.variants_summary))
    else:
        parts.append(_missing(_stage_state(inputs, "variants"), "Variants"))
    sel = inputs.selection_summary
    if sel is not None:
        parts.append(_selection_numbers(sel))
        parts.append(_counter_table("Problems skipped", sel.get("skipped")))
        parts.append(_counter_table("Candidates dropped", sel.get("dropped")))
        parts.append(_counter_table("Sandbox verdicts of candidates", sel.get("verdicts")))
    else:
        parts.append(_missing(_stage_state(inputs, "selection"), "Selection"))
    if inputs.segment_stats is not None:
        rows = [[_e(a), _e(b)] for a, b in inputs.segment_stats]
        parts.append("<h3>Error-sensitive segments</h3>" + _table(["measure", "value"], rows, {1}))
    else:
        parts.append(_missing(_stage_state(inputs, "segments"), "Segments"))
    parts.append(_img(plot, "selection verdicts and sensitive-token shares"))
    return f'<section id="selection">{"".join(parts)}</section>'


def _stage_state(inputs: ReportInputs, stage: str) -> str:
    entry = inputs.stages.get(stage)
    if entry is None:
        return "not run"
    status = entry.get("status")
    return "failed" if status == "failed" else "not finished"


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def _last(rows: Sequence[Mapping[str, Any]], key: str) -> Any:
    return next((row[key] for row in reversed(rows) if row.get(key) is not None), None)


def _first(rows: Sequence[Mapping[str, Any]], key: str) -> Any:
    return next((row[key] for row in rows if row.get(key) is not None), None)


def _curve_row(name: str, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return [
        f"<code>{_e(name)}</code>",
        _fmt(_first(rows, "loss"), 4),
        _fmt(_last(rows, "loss"), 4),
        _fmt(_last(rows, "nll_sensitive"), 4),
        _fmt(_last(rows, "nll_shared"), 4),
        _fmt(_last(rows, "mean_weight"), 4),
    ]


def _logged_pairs(rows: Sequence[Mapping[str, Any]]) -> int | None:
    """Pairs the log's windows count (repeats included); None when no row has them."""
    counts = [row["pairs"] for row in rows if isinstance(row.get("pairs"), (int, float))]
    return int(sum(counts)) if counts else None


def _skipped(data: Mapping[str, Any]) -> str:
    reasons = data.get("skipped")
    if not isinstance(reasons, Mapping):
        return "–"
    total = sum(_int(n) for n in reasons.values())
    detail = ", ".join(f"{_e(k)}: {_e(v)}" for k, v in reasons.items())
    return f"{total} ({detail})" if detail else str(total)


def _data_row(name: str, rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]) -> list:
    """Steps and the pairs they trained on, from the trainer's record (``training.json``);
    without one, the steps and pair counts of the log."""
    data = summary.get("data") or {}
    distinct, seen = summary.get("distinct_pairs_seen"), summary.get("pairs_seen")
    if isinstance(distinct, int):
        trained = _e(distinct)
        if isinstance(seen, int) and seen > distinct:
            trained += f" ({_e(seen)} with repeats)"
    elif (logged := _logged_pairs(rows)) is not None:
        trained = f"{logged} (from the log, repeats counted)"
    else:
        trained = "–"
    return [
        f"<code>{_e(name)}</code>",
        _e(summary.get("steps", _last(rows, "step"))),
        trained,
        _e(data.get("records")),
        _e(data.get("used")),
        _skipped(data),
        _e(data.get("held_out_for_validation")),
    ]


def _unfinished(inputs: ReportInputs, prefix: str) -> list[str]:
    return [
        f"<code>{_e(name)}</code>: {_e(stage.get('status'))}"
        for name, stage in inputs.stages.items()
        if name.startswith(prefix) and stage.get("status") != "done"
    ]


def _training_section(inputs: ReportInputs, plot: bytes | None) -> str:
    parts = ["<h2>Training</h2>"]
    if not inputs.training:
        parts.append(_missing(section_state(inputs, "training"), "Training"))
    else:
        header = ["run", "optimizer steps", "pairs trained on", "pairs read", "usable",
                  "skipped", "held out"]  # fmt: skip
        rows = [
            _data_row(name, rows, inputs.training_summaries.get(name) or {})
            for name, rows in inputs.training.items()
        ]
        parts.append(_table(header, rows, numeric={1, 3, 4, 6}))
        parts.append(
            '<p class="note">Pairs trained on: the different pairs the optimizer steps saw '
            "(steps × global batch, at most every usable pair per epoch); pairs read: records "
            "of the pairs file after the validation holdout (held out) and any limit; usable: "
            "those that encode (the rest are skipped, by reason).</p>"
        )
        header = ["run", "first loss", "last loss", "last NLL sensitive", "last NLL shared",
                  "last mean W"]  # fmt: skip
        rows = [_curve_row(name, rows) for name, rows in inputs.training.items()]
        parts.append(_table(header, rows, numeric={1, 2, 3, 4, 5}))
        parts.append(
            '<p class="note">Values are means over each logging window; NLL per token in nats. '
            "W is FGIT's per-pair weight of sensitive tokens (runs without it show –).</p>"
        )
        parts.append(_img(plot, "training curves"))
    if pending := _unfinished(inputs, "train:"):
        parts.append(f'<p class="missing">Not finished: {", ".join(pending)}.</p>')
    return f'<section id="training">{"".join(parts)}</section>'


# ---------------------------------------------------------------------------------------------
# On-policy rounds
# ---------------------------------------------------------------------------------------------


def _onpolicy_plan(inputs: ReportInputs) -> tuple[list[str], int]:
    """(the on-policy runs, their rounds) of the run's config."""
    settings = (inputs.manifest.get("config") or {}).get("onpolicy") or {}
    runs = settings.get("runs") or []
    return [str(run) for run in runs], _int(settings.get("rounds"))


def _pass_cells(inputs: ReportInputs, model: str) -> list[str]:
    cells = []
    for runs in inputs.evaluations.values():
        run = runs.get(model)
        if run is None:
            cells.append("–")
        elif run.pass_at_1_plus is None:
            cells.append(_pct(run.pass_at_1_base))
        else:
            cells.append(f"{_pct(run.pass_at_1_base)} / {_pct(run.pass_at_1_plus)}")
    return cells


def _attempts_change(inputs: ReportInputs, sampler: str) -> str:
    """``sampler``'s attempts against the base model's, paired by problem (the same seeds):
    Δ pass rate with its CI and the sign test's p; "–" for the base model or without both."""
    base, later = inputs.round_attempts.get("base"), inputs.round_attempts.get(sampler)
    if sampler == "base" or base is None or later is None:
        return "–"
    try:
        stats = compare_runs([base, later], names=["base", sampler]).runs[1].base
    except ValueError:  # attempts at different problems: nothing pairs
        return "–"
    return f"{_delta(stats)}, p {_p(stats)}"


def _round_row(inputs: ReportInputs, run: str, k: int) -> list[str]:
    """Round ``k`` of ``run``: the attempts it learnt from (its sampler's yield), its training
    and its model's pass@1."""
    sampler = "base" if k == 1 else f"{run}-r{k - 1}"
    model = f"{run}-r{k}"
    found = inputs.round_yields.get(sampler) or {}
    log = inputs.training.get(model) or []
    pairs = _e(found.get("pairs"))
    if _int(found.get("teacher_used")):
        own, teacher = _e(found.get("onpolicy_used")), _e(found.get("teacher_used"))
        pairs += f" ({own} own + {teacher} teacher)"
    return [
        _e(k),
        f"<code>{_e(sampler)}</code>",
        _pct(found.get("pass_rate")) if "pass_rate" in found else "–",
        _attempts_change(inputs, sampler),
        f"{_e(found.get('with_failure'))} / {_e(found.get('with_pass'))} / "
        f"{_e(found.get('every_attempt_passes'))} of {_e(found.get('problems'))}",
        pairs,
        f"{_fmt(_first(log, 'loss'), 4)} → {_fmt(_last(log, 'loss'), 4)}",
        f"<code>{_e(model)}</code>",
        *_pass_cells(inputs, model),
    ]


def _rounds_section(inputs: ReportInputs) -> str:
    runs, rounds = _onpolicy_plan(inputs)
    if not runs:
        return ""
    parts = ["<h2>On-policy rounds</h2>"]
    benchmarks = [benchmark_display(b) for b in inputs.evaluations]
    header = ["round", "attempts by", "attempts passing", "Δ vs base's attempts (pp, 95% CI), "
              "sign-test p", "problems: a failure / a pass / all pass", "pairs",
              "loss first → last", "model", *benchmarks]  # fmt: skip
    numeric = {0, 2, 3, 5, *range(8, 8 + len(benchmarks))}
    base = ["0", "–", "–", "–", "–", "–", "–", "<code>base</code>", *_pass_cells(inputs, "base")]
    for run in runs:
        parts.append(f"<h3><code>{_e(run)}</code></h3>")
        rows = [base, *(_round_row(inputs, run, k) for k in range(1, rounds + 1))]
        parts.append(_table(header, rows, numeric))
    parts.append(
        '<p class="note">Round k trains on the pairs of the attempts of the model after round '
        "k − 1 (round 1: the base model's, shared by every on-policy run), from that model. "
        "Attempts passing: the share of all attempts at the training problems that pass their "
        "tests (the sampled model's pass@1 estimate on them). Δ: against the base model's "
        "attempts at the same problems with the same seeds, paired by problem on its share of "
        "passing attempts (bootstrap CI; exact sign test over the problems whose share moved). "
        "Problems: with at least one "
        "failing attempt / at least one passing attempt / every attempt passing (no contrast, "
        "no pair). Benchmarks: pass@1 (base / plus tests where the benchmark has both).</p>"
    )
    if pending := _unfinished(inputs, "attempts:") + _unfinished(inputs, "pairs:"):
        parts.append(f'<p class="missing">Not finished: {", ".join(pending)}.</p>')
    return f'<section id="rounds">{"".join(parts)}</section>'


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


def _delta(stats: PairedStats | None) -> str:
    return format_delta(stats, missing="–")


def _p(stats: PairedStats | None) -> str:
    return format_p(stats, missing="–")


def _first_failure(task: TaskResult) -> str:
    """The detail of a task's first failing sample (its only one when greedy)."""
    samples = task.samples or [task]
    return next((sample.detail for sample in samples if sample.detail), "")


def _verdict_cell(verdict: str, detail: str, sampled: bool) -> str:
    cls = verdict_outcome(verdict, sampled)
    title = f' title="{_e(detail)}"' if detail else ""
    return f'<td class="{cls}"{title}>{_e(verdict)}</td>'


def _comparison_html(comparison: Comparison, runs: Mapping[str, EvalRun]) -> str:
    with_plus = any(entry.pass_at_1_plus is not None for entry in comparison.runs)
    two = has_base_and_plus(comparison.benchmark) or with_plus
    first = comparison.runs[0].name
    level = f"{comparison.confidence:.0%}"
    test = comparison.test_name
    if two:
        header = ["model", "pass@1 base", "pass@1 plus", "scored",
                  f"Δ base vs {first} (pp, {level} CI)", f"{test} p base"]  # fmt: skip
    else:  # one test set (BigCodeBench): one pass@1 column
        header = ["model", "pass@1", "scored", f"Δ vs {first} (pp, {level} CI)", f"{test} p"]
    if with_plus:
        header += [f"Δ plus vs {first} (pp, {level} CI)", f"{test} p plus"]
    rows = []
    for entry in comparison.runs:
        plus = [_pct(entry.pass_at_1_plus)] if two else []
        row = [f"<code>{_e(entry.name)}</code>", _pct(entry.pass_at_1_base), *plus,
               _scored(runs[entry.name]), _delta(entry.base), _p(entry.base)]  # fmt: skip
        if with_plus:
            row += [_delta(entry.plus), _p(entry.plus)]
        rows.append(row)
    table = _table(header, rows, numeric=set(range(1, len(header))))
    return table.replace("<table>", '<table class="headline">', 1)


def _task_table(comparison: Comparison, runs: Mapping[str, EvalRun]) -> str:
    names = [entry.name for entry in comparison.runs]
    first = names[0]
    changes = comparison.what_changes
    if not comparison.differing:
        return f'<p class="muted">No task changes its {changes} vs {_e(first)}.</p>'
    details = {name: {t.task_id: _first_failure(t) for t in runs[name].tasks} for name in names}
    head = "".join(f"<th>{_e(h)}</th>" for h in ["task", *names])
    body = []
    for row in comparison.differing[:MAX_TASK_ROWS]:
        cells = "".join(
            _verdict_cell(verdict, details[name].get(row.task_id, ""), comparison.sampled)
            for name, verdict in zip(names, row.verdicts, strict=True)
        )
        body.append(f"<tr><td><code>{_e(row.task_id)}</code></td>{cells}</tr>")
    hidden = len(comparison.differing) - MAX_TASK_ROWS
    more = f'<p class="muted">… and {hidden} more tasks.</p>' if hidden > 0 else ""
    two = has_base_and_plus(comparison.benchmark)
    which = "Verdicts base (or base/plus)" if two else "Verdicts"
    return (
        f"<h3>Tasks whose {changes} differs from {_e(first)}: {len(comparison.differing)} of "
        f'{comparison.tasks}</h3><p class="muted">{which}; hover a cell '
        f"for the first failure.</p><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>{more}"
    )


def _separate_runs_html(runs: Mapping[str, EvalRun], why: str | None) -> str:
    note = f'<p class="note">Not compared: {_e(why)}</p>' if why else ""
    first = next(iter(runs.values()))
    if not has_base_and_plus(first.benchmark) and all(
        run.pass_at_1_plus is None for run in runs.values()
    ):  # one test set (BigCodeBench): one pass@1 column
        rows = [
            [f"<code>{_e(name)}</code>", _pct(run.pass_at_1_base), _scored(run)]
            for name, run in runs.items()
        ]
        return note + _table(["model", "pass@1", "scored"], rows, {1, 2})
    rows = [
        [f"<code>{_e(name)}</code>", _pct(run.pass_at_1_base), _pct(run.pass_at_1_plus),
         _scored(run)]
        for name, run in runs.items()
    ]  # fmt: skip
    return note + _table(["model", "pass@1 base", "pass@1 plus", "scored"], rows, {1, 2, 3})


def _scored(run: EvalRun) -> str:
    """Tasks with a solution / all tasks: a run limited to a few tasks counts the rest as
    "missing" (failed), which a reader must see next to its pass@1."""
    scored = sum(1 for task in run.tasks if task.base != "missing")
    return f"{scored}/{len(run.tasks)}"


@dataclass(frozen=True)
class BenchmarkResult:
    """One benchmark's runs and, when they pair up, their comparison (else why not)."""

    benchmark: str
    runs: Mapping[str, EvalRun]
    comparison: Comparison | None
    why: str | None  # set when several runs could not be compared


def benchmark_results(inputs: ReportInputs) -> list[BenchmarkResult]:
    """Each benchmark's comparison, computed once for the headline and the details."""
    out = []
    for benchmark, runs in inputs.evaluations.items():
        comparison, why = None, None
        if len(runs) >= 2:
            try:
                comparison = compare_runs(list(runs.values()), names=list(runs))
            except ValueError as exc:  # different task sets or benchmarks: no paired statistics
                why = str(exc)
        out.append(BenchmarkResult(benchmark, runs, comparison, why))
    return out


def _benchmark_title(result: BenchmarkResult) -> str:
    first = next(iter(result.runs.values()))  # the baseline's task count
    return f"<h3>{_e(benchmark_display(result.benchmark))} · {len(first.tasks)} tasks</h3>"


def _headline_html(result: BenchmarkResult) -> str:
    title = _benchmark_title(result)
    comparison = result.comparison
    if comparison is None:
        return title + _separate_runs_html(result.runs, result.why)
    caption = (
        f'<p class="muted">Δ: difference to {_e(comparison.runs[0].name)} in percentage points '
        f"with a {comparison.confidence:.0%} paired bootstrap CI; p: exact {comparison.test_name} "
        "test.</p>"
    )
    notes = "".join(f'<p class="note">note: {_e(note)}</p>' for note in comparison.notes)
    return title + caption + _comparison_html(comparison, result.runs) + notes


def _results_section(
    inputs: ReportInputs, results: Sequence[BenchmarkResult], plot: bytes | None
) -> str:
    """The headline: pass@1, Δ and its CI per benchmark, first on the page."""
    parts = ["<h2>Results (pass@1)</h2>"]
    if not results:
        parts.append(_missing(section_state(inputs, "evaluation"), "Evaluation"))
    else:
        parts += [_headline_html(result) for result in results]
        parts.append(_img(plot, "pass@1 per model and benchmark"))
        parts.append(
            '<p class="muted">Task by task: <a href="#evaluation">evaluation details</a>.</p>'
        )
    return f'<section id="results">{"".join(parts)}</section>'


def _evaluation_section(inputs: ReportInputs, results: Sequence[BenchmarkResult]) -> str:
    parts = ["<h2>Evaluation details</h2>"]
    if not results:
        parts.append(_missing(section_state(inputs, "evaluation"), "Evaluation"))
    for result in results:
        parts.append(_benchmark_title(result))
        if result.comparison is not None:
            parts.append(_task_table(result.comparison, result.runs))
        elif result.why:
            parts.append(f'<p class="note">Not compared: {_e(result.why)}</p>')
        else:
            parts.append('<p class="muted">One run: nothing to compare task by task.</p>')
    if pending := _unfinished(inputs, "eval:"):
        parts.append(f'<p class="missing">Not finished: {", ".join(pending)}.</p>')
    return f'<section id="evaluation">{"".join(parts)}</section>'


# ---------------------------------------------------------------------------------------------
# The document
# ---------------------------------------------------------------------------------------------


def _sensitive_shares(inputs: ReportInputs) -> list[float]:
    shares = []
    for view in (inputs.examples or {}).get("pairs") or []:
        counts = view.get("counts") or {}
        tokens = counts.get("tokens_correct")
        if isinstance(tokens, int) and tokens > 0:
            shares.append(_int(counts.get("sensitive_correct")) / tokens)
    return shares


def make_plots(inputs: ReportInputs) -> dict[str, bytes]:
    """PNG bytes of each plot that has data, keyed as :data:`PLOT_FILES`."""
    scores = {
        benchmark: {model: (run.pass_at_1_base, run.pass_at_1_plus) for model, run in runs.items()}
        for benchmark, runs in inputs.evaluations.items()
    }
    # The baseline's task count, for each point's interval (runs of a benchmark share tasks
    # when they are compared; a partial run's interval is then a little too narrow).
    tasks = {
        benchmark: len(next(iter(runs.values())).tasks)
        for benchmark, runs in inputs.evaluations.items()
    }
    plots = {
        "selection": selection_plot(inputs.selection_summary, _sensitive_shares(inputs)),
        "training": training_plot(inputs.training),
        "evaluation": evaluation_plot(scores, tasks),
    }
    return {name: png for name, png in plots.items() if png}


def render_report(inputs: ReportInputs, plots: Mapping[str, bytes] | None = None) -> str:
    """The whole HTML document (pure). ``plots`` defaults to :func:`make_plots`."""
    plots = make_plots(inputs) if plots is None else plots
    results = benchmark_results(inputs)
    rounds = _rounds_section(inputs)
    nav = "".join(
        f'<a href="#{sid}">{title}</a>'
        for sid, title in (("results", "Results"), ("rounds", "Rounds"),
                           ("training", "Training"), ("evaluation", "Evaluation details"),
                           ("pairs", "Pairs"), ("selection", "Selection"),
                           ("run", "Run details"))
        if sid != "rounds" or rounds
    )  # fmt: skip
    # Headline first (issue 14: pass@1 with Δ and CI sat ~10,000 px down the page), then
    # how it was trained, then the details a reader digs into, then the run's bookkeeping.
    body = [
        _summary_section(inputs),
        f"<nav>{nav}</nav>",
        _results_section(inputs, results, plots.get("evaluation")),
        rounds,
        _training_section(inputs, plots.get("training")),
        _evaluation_section(inputs, results),
        _pairs_section(inputs),
        _selection_section(inputs, plots.get("selection")),
        _run_section(inputs),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>fgit report: {_e(inputs.name)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def write_report(run_dir: Path, out_dir: Path | None = None) -> Path:
    """Write ``index.html`` and the plots' PNG files to ``out_dir`` (default ``RUN/report``);
    returns the index path. Plots are written first, the index last."""
    run_dir = Path(run_dir)
    inputs = load_report_inputs(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    plots = make_plots(inputs)
    for name, filename in PLOT_FILES.items():
        if name in plots:
            atomic_write(out / filename, plots[name])
        else:  # a plot from an earlier report that no longer has data
            (out / filename).unlink(missing_ok=True)
    index = out / "index.html"
    atomic_write(index, render_report(inputs, plots).encode("utf-8"))
    return index
