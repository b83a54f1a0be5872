"""The HTML report of a run folder: pair views, plots, sections, escaping, errors, a browser.

The run folder is synthetic but its files are real: pair views of pairs encoded with the tiny
tokenizer, evaluation results scored in the sandbox from HumanEval samples.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fgit.records import Pair
from fgit.report import (
    ReportError,
    load_report_inputs,
    pair_view,
    pair_views,
    write_report,
)
from fgit.report.plots import evaluation_plot, selection_plot, training_plot
from fgit.segments import encode_pair
from fgit.segments.examples import OFF_BY_ONE

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A variant one character away from its correct code: its cosine rounds to 1.000 (issue 14).
ONE_CHAR_PAIR = Pair(
    id="one-char",
    instruction="Return the last index.",
    response="def last(xs):\n    return len(xs) - 1\n",
    incorrect="def last(xs):\n    return len(xs) - 2\n",
    selection={"similarity": 0.99996, "verdict": "failed"},
)
# What the trainer records for the fgit run: 8 steps of 4 pairs, of 78 usable pairs.
FGIT_TRAINING = {
    "steps": 8, "global_batch_size": 4, "pairs_seen": 32, "distinct_pairs_seen": 32,
    "data": {"records": 80, "used": 78, "skipped": {"prompt too long": 2},
             "held_out_for_validation": 0},
}  # fmt: skip
HOSTILE = "<script>alert(1)</script>"
SECTIONS = ("summary", "results", "training", "evaluation", "pairs", "selection", "run")

# A response that tries to break out of the report's markup.
HOSTILE_PAIR = Pair(
    id="hostile/<b>id</b>",
    instruction="Return x + 1. </pre><script>alert('instruction')</script>",
    response=f"def f(x):\n    s = '{HOSTILE}'  # </pre> & co\n    return x + 1\n",
    incorrect=f"def f(x):\n    s = '{HOSTILE}'  # </pre> & co\n    return x - 1\n",
    selection={"similarity": 0.93, "verdict": "failed", "detail": "AssertionError </td><i>"},
)


def _decode_png(data: bytes) -> Any:
    """The decoded image (PIL comes with matplotlib, a dependency)."""
    from PIL import Image

    assert data.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# ---------------------------------------------------------------------------------------------
# Pair views
# ---------------------------------------------------------------------------------------------


def _char_marks(pieces: list[dict[str, Any]]) -> list[int]:
    return [piece["mark"] for piece in pieces for _ in piece["text"]]


@pytest.mark.parametrize("pair", [OFF_BY_ONE, HOSTILE_PAIR], ids=["off-by-one", "hostile"])
def test_pair_view_pieces_are_the_marked_tokens(pair, bytelevel_tokenizer):
    encoded = encode_pair(pair.instruction, pair.response, pair.incorrect, bytelevel_tokenizer)
    view = pair_view(pair.id, encoded, selection=pair.selection, instruction=pair.instruction)
    json.dumps(view)  # what segments/examples.json stores
    for name, side in (("correct", encoded.correct), ("incorrect", encoded.incorrect)):
        pieces = view[name]["pieces"]
        assert "".join(p["text"] for p in pieces) == side.response
        assert all(a["mark"] != b["mark"] for a, b in itertools.pairwise(pieces))
        chars = _char_marks(pieces)
        ids = side.input_ids[side.prompt_length :]
        marks = side.hybrid_mask[side.prompt_length :]
        assert len(ids) == len(marks) == len(side.response_offsets)
        for token_id, mark, (start, end) in zip(ids, marks, side.response_offsets, strict=True):
            # Each token's text carries the token's own mark, character for character.
            assert (
                side.response[start:end] == bytelevel_tokenizer.decode([token_id]) or end == start
            )
            assert chars[start:end] == [mark] * (end - start)
        response_marks = side.hybrid_mask[side.prompt_length :]
        assert view["counts"][f"tokens_{name}"] == len(response_marks)
        assert view["counts"][f"sensitive_{name}"] == sum(1 for v in response_marks if v)
    assert view["similarity"] == pair.selection.get("similarity")
    assert view["instruction"] == pair.instruction


def test_pair_view_off_by_one_marks_what_the_diff_changes(bytelevel_tokenizer):
    p = OFF_BY_ONE
    encoded = encode_pair(p.instruction, p.response, p.incorrect, bytelevel_tokenizer)
    view = pair_view(p.id, encoded)
    changed = [x["text"] for x in view["correct"]["pieces"] if x["mark"] == 2]
    assert changed == [" - 1"]
    line = "".join(x["text"] for x in view["correct"]["pieces"] if x["mark"] >= 1)
    assert "out[i] = out[i] + out[i - 1]" in line
    assert view["instruction"] == encoded.prompt  # no instruction given: the rendered prompt
    assert view["verdict"] is None and view["similarity"] is None


def test_pair_view_truncated_side_leaves_the_rest_unmarked(bytelevel_tokenizer):
    p = OFF_BY_ONE
    full = encode_pair(p.instruction, p.response, p.incorrect, bytelevel_tokenizer)
    cut = encode_pair(
        p.instruction, p.response, p.incorrect, bytelevel_tokenizer,
        max_length=full.correct.prompt_length + 40,
    )  # fmt: skip
    assert cut.correct.truncated
    view = pair_view(p.id, cut)
    pieces = view["correct"]["pieces"]
    assert "".join(x["text"] for x in pieces) == cut.correct.response
    assert pieces[-1]["mark"] == 0 and "return out" in pieces[-1]["text"]
    assert view["correct"]["truncated"] and view["correct"]["eos"] is None
    assert view["counts"]["tokens_correct"] == 40


def test_pair_views_counts_skips_and_limit(bytelevel_tokenizer):
    long_prompt = OFF_BY_ONE.model_copy(update={"id": "long", "instruction": "word " * 400})
    pairs = [long_prompt, OFF_BY_ONE, HOSTILE_PAIR, OFF_BY_ONE.model_copy(update={"id": "again"})]
    views, skipped = pair_views(pairs, bytelevel_tokenizer, max_length=256, limit=2)
    assert skipped == 1
    assert [v["id"] for v in views] == [OFF_BY_ONE.id, HOSTILE_PAIR.id]
    assert views[1]["verdict"] == "failed"


# ---------------------------------------------------------------------------------------------
# A run folder
# ---------------------------------------------------------------------------------------------


def _stage(outputs: dict[str, str], status: str = "done", **info: Any) -> dict[str, Any]:
    return {
        "key": "ab" * 32, "status": status, "started": "2026-11-23T15:00:00+00:00",
        "finished": "2026-11-23T15:01:00+00:00", "seconds": 1.25, "outputs": outputs,
        "info": info,
    }  # fmt: skip


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def _train_log(path: Path, with_weight: bool) -> None:
    rows = []
    slope = 0.15 if with_weight else 0.1  # FGIT lowers the NLL of sensitive tokens faster
    for step in range(1, 9):
        row = {"step": step, "epoch": step / 8, "learning_rate": 5e-6, "loss": 2.0 - 0.1 * step,
               "nll_sensitive": 2.6 - slope * step, "nll_shared": 1.9 - 0.05 * step,
               "pairs": 4, "tokens": 512}  # fmt: skip
        if with_weight:
            row["mean_weight"] = 1.3 + 0.01 * step
        rows.append(json.dumps(row))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n")


def _eval_runs(run_dir: Path) -> None:
    """Real results files: the canonical solutions, with some tasks made wrong per model."""
    from fgit.evaluation.stage import evaluate_samples
    from fgit.evaluation.tasks import load_benchmark

    tasks = load_benchmark("humaneval").tasks[:5]
    wrong = {"base": {1, 3}, "sft": {3}, "fgit": set()}
    for model, broken in wrong.items():
        samples = run_dir / "eval" / model / "humaneval.samples.jsonl"
        samples.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        for k, task in enumerate(tasks):
            solution = task.canonical_solution
            if k in broken:
                solution = f"def {task.entry_point}(*args):\n    return None\n"
            lines.append(json.dumps({"task_id": task.task_id, "solution": solution}))
        samples.write_text("\n".join(lines) + "\n")
        evaluate_samples(samples, "humaneval", run_dir / "eval" / model / "humaneval.json",
                         quiet=True)  # fmt: skip


def build_run_folder(run_dir: Path, tokenizer: Any) -> Path:
    views = [
        pair_view(p.id, encode_pair(p.instruction, p.response, p.incorrect, tokenizer),
                  selection=p.selection, instruction=p.instruction)
        for p in (OFF_BY_ONE, HOSTILE_PAIR, ONE_CHAR_PAIR)
    ]  # fmt: skip
    _write_json(
        run_dir / "segments" / "examples.json", {"model": "tiny <bytelevel>", "pairs": views}
    )
    _write_json(run_dir / "segments" / "stats.json",
                {"rows": [["pairs read", "2"], ["encoded", "2"], ["correct: changed tokens (2)",
                                                                  "3.1%"]]})  # fmt: skip
    _write_json(run_dir / "selection" / "pairs.jsonl.summary.json", {
        "problems": 5, "pairs": 2, "skipped": {"no usable incorrect candidate": 3},
        "dropped": {"no code": 4, "passes its tests": 1}, "verdicts": {"failed": 5, "passed": 1},
        "with_tests": 5, "most_similar_failing": 4, "most_similar_checked": 5,
        "mean_similarity": 0.81, "embedder": {"kind": "lexical"}, "seconds": 0.5,
        "share_most_similar_failing": 0.8,
    })  # fmt: skip
    _write_json(run_dir / "variants" / "variants.jsonl.summary.json", {
        "problems": 5, "resumed": 0, "generated": 5, "candidates": 15, "usable": 11,
        "extraction": {"fenced": 11, "prose": 4}, "without_candidates": ["p/3"], "seconds": 2.0,
        "source": {"kind": "mutation"},
    })  # fmt: skip
    _train_log(run_dir / "train" / "sft" / "train_log.jsonl", with_weight=False)
    _train_log(run_dir / "train" / "fgit" / "train_log.jsonl", with_weight=True)
    _write_json(run_dir / "train" / "fgit" / "training.json", FGIT_TRAINING)  # sft: none
    _eval_runs(run_dir)
    stages = {
        "problems": _stage({"problems": "problems/problems.jsonl"}, problems=5),
        "variants": _stage({"variants": "variants/variants.jsonl",
                            "summary": "variants/variants.jsonl.summary.json"}),
        "selection": _stage({"pairs": "selection/pairs.jsonl",
                             "summary": "selection/pairs.jsonl.summary.json",
                             "candidates": "selection/pairs.jsonl.candidates.jsonl"}),
        "segments": _stage({"examples": "segments/examples.json", "stats": "segments/stats.json"}),
    }  # fmt: skip
    # The stage info of a run before issue 14 (sft: "pairs_used" was the usable pairs), and now.
    infos = {"sft": {"steps": 8, "pairs_used": 78},
             "fgit": {"steps": 8, "pairs_seen": 32, "pairs_available": 78}}  # fmt: skip
    for name in ("sft", "fgit"):
        stages[f"train:{name}"] = _stage(
            {"run": f"train/{name}", "log": f"train/{name}/train_log.jsonl",
             "model": f"train/{name}/model"}, loss=name, **infos[name],
        )  # fmt: skip
    for model in ("base", "sft", "fgit"):
        stages[f"eval:{model}:humaneval"] = _stage(
            {"results": f"eval/{model}/humaneval.json"}, model=model, benchmark="humaneval"
        )
    stages["report"] = _stage({}, status="running")
    _write_json(run_dir / "manifest.json", {
        "fgit_version": "0.1.0", "created": "2026-11-23T15:00:00+00:00",
        "updated": "2026-11-23T15:05:00+00:00", "name": "quickstart",
        "label": f"Smoke demonstration {HOSTILE}", "config": {"model": "tiny", "alpha": 2.0},
        "config_sha256": "cd" * 32,
        "versions": {"python": "3.11.7", "torch": "2.13.0", "fgit": "0.1.0"},
        "stages": stages,
    })  # fmt: skip
    return run_dir


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory, bytelevel_tokenizer) -> Path:
    return build_run_folder(tmp_path_factory.mktemp("run") / "quickstart", bytelevel_tokenizer)


@pytest.fixture(scope="module")
def report(run_folder) -> Path:
    return write_report(run_folder)


def _manifest(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "manifest.json").read_text())


def _copy_run(run_folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(run_folder, target, ignore=shutil.ignore_patterns("report"))
    return target


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


def test_report_has_every_section_and_the_pair_marks(report):
    assert report == report.parent / "index.html" and report.parent.name == "report"
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    assert 'class="legend"' in page and "changed token" in page and "changed line" in page
    assert '<span class="m2"> - 1</span>' in page  # the off-by-one fix, token level
    # The changed line, its leading newline shown as a marked "↵".
    assert (
        '<span class="m1"><span class="nl">↵</span>\n        out[i] = out[i] + out[i</span>' in page
    )
    assert '<div class="label">Smoke demonstration' in page
    assert "quickstart" in page and "train:fgit" in page and "not run" not in page
    # Selection, segments and training numbers.
    assert "passes its tests" in page and "3.1%" in page and "80.0%" in page
    assert "1.3800" in page  # last mean W of the fgit run
    assert "not finished" not in page  # the running "report" stage feeds no section


def test_report_escapes_everything_from_data(report):
    page = report.read_text(encoding="utf-8")
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "# &lt;/pre&gt; &amp; co" in page
    assert "hostile/&lt;b&gt;id&lt;/b&gt;" in page and "<b>id</b>" not in page
    assert "AssertionError &lt;/td&gt;&lt;i&gt;" in page
    assert "tiny &lt;bytelevel&gt;" in page
    # One <pre> closes each one opened: the code cannot close it early.
    assert page.count("<pre>") == page.count("</pre>")


def test_report_is_self_contained(report):
    page = report.read_text(encoding="utf-8")
    links = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page)
    assert links and all(link.startswith(("#", "data:image/png;base64,")) for link in links)
    assert "http://" not in page and "https://" not in page
    assert page.count('src="data:image/png;base64,') == 3
    assert "<script" not in page and "<link" not in page


def test_plots_are_written_valid_and_reproducible(report, run_folder, across_processes):
    folder = report.parent
    for name in ("training.png", "evaluation.png", "selection.png"):
        image = _decode_png((folder / name).read_bytes())
        assert image.width > 300 and image.height > 200
        assert len(image.convert("L").getcolors()) > 2  # not a blank image
    # no timestamps, no randomness, no order from string hashing: the same page in two processes
    first, second = across_processes(
        "import hashlib\n"
        "from pathlib import Path\n"
        "from fgit.report.html import render_report\n"
        "from fgit.report.load import load_report_inputs\n"
        f"page = render_report(load_report_inputs(Path({str(run_folder)!r})))\n"
        "print(hashlib.sha256(page.encode()).hexdigest())\n"
    )
    assert first == second


def test_evaluation_section_compares_models_against_base(report):
    page = report.read_text(encoding="utf-8")
    results = page[page.index('<section id="results">') : page.index('<section id="training">')]
    evaluation = page[page.index('<section id="evaluation">') :]
    assert "humaneval · 164 tasks" in results and "humaneval · 164 tasks" in evaluation
    assert "Δ base vs base" in results and "McNemar" in results
    assert "+1.2 [" in results  # fgit vs base: 2 of 164 tasks gained
    assert "5/164" in results  # tasks scored: the rest are "missing"
    # base fails tasks 1 and 3, sft task 3, fgit none: 2 tasks differ from base.
    assert "Tasks whose pass/fail differs from base: 2 of 164" in evaluation
    assert "<code>HumanEval/1</code>" in evaluation and "<code>HumanEval/3</code>" in evaluation
    assert "<code>HumanEval/2</code>" not in evaluation
    assert 'class="fail" title="' in evaluation  # the first failure on hover


def _section(page: str, name: str) -> str:
    start = page.index(f'<section id="{name}">')
    return page[start : page.index("</section>", start)]


def _rows(html: str) -> dict[str, list[str]]:
    """Table rows by their first cell's text (tags stripped)."""
    out = {}
    for row in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)]
        out.setdefault(cells[0], cells[1:])
    return out


def test_headline_results_come_first(report):
    page = report.read_text(encoding="utf-8")
    starts = [page.index(f'<section id="{name}">') for name in SECTIONS]
    assert starts == sorted(starts)  # summary, results, training, details, ..., run details
    headline = page.index('<table class="headline">')
    # Before any code, plot, per-task table, pair or stage table.
    assert headline < page.index("<pre>") and headline < page.index("<img")
    assert headline < page.index("Tasks whose pass/fail differs")
    assert headline < page.index('<div class="pair">') < page.index("<th>stage</th>")
    rows = _rows(_section(page, "results"))
    assert rows["fgit"][0] == "3.0%" and rows["fgit"][3].startswith("+1.2 [")  # 5 of 164


def test_training_shows_the_pairs_trained_on(report, run_folder):
    page = report.read_text(encoding="utf-8")
    rows = _rows(_section(page, "training"))
    record = json.loads((run_folder / "train" / "fgit" / "training.json").read_text())
    steps, trained, read, usable, skipped, held = rows["fgit"]
    assert (steps, trained) == (str(record["steps"]), str(record["distinct_pairs_seen"]))
    assert (read, usable) == ("80", "78") and trained != usable
    assert skipped == "2 (prompt too long: 2)" and held == "0"
    # No training.json: the pairs the log counts (8 steps of 4), said to be from the log.
    assert rows["sft"][:2] == ["8", "32 (from the log, repeats counted)"]
    stages = _rows(_section(page, "run"))
    assert "pairs seen: 32" in stages["train:fgit"][-1]
    assert "pairs available: 78" in stages["train:sft"][-1]  # the old "pairs_used", relabelled
    assert "pairs_used" not in page and "pairs used" not in page


def test_no_raw_json_in_table_cells(report):
    page = report.read_text(encoding="utf-8")
    cells = re.findall(r"<td[^>]*>(.*?)</td>", page, re.S)
    raw = [c for c in cells if "&quot;" in c or "{" in c or "}" in c]
    assert not raw
    stages = _rows(_section(page, "run"))
    assert stages["train:fgit"][-1] == "loss: fgitsteps: 8pairs seen: 32pairs available: 78"
    assert "loss: fgit<br>steps: 8<br>" in page
    assert _rows(_section(page, "selection"))["embedder"] == ["kind: lexical"]
    assert _rows(_section(page, "selection"))["source"] == ["kind: mutation"]


def test_pair_sides_are_named_and_a_one_character_change_is_not_similarity_one(report):
    from fgit.report.html import lines_differing, similarity_text

    page = report.read_text(encoding="utf-8")
    pairs = _section(page, "pairs")
    assert pairs.count("<h4>correct response ") == pairs.count("<h4>incorrect variant ") == 3
    assert "(after)" not in page and "(before)" not in page
    one_char = pairs[pairs.index("<code>one-char</code>") :]
    meta = re.search(r'<p class="muted">(.*?)</p>', one_char).group(1)
    assert meta.startswith("embedding similarity 0.99996 · lines differing: 1 · ")
    assert "1.000" not in meta
    assert similarity_text(0.99996, False) == "1.0000"  # equal texts may round up
    assert similarity_text(0.81, True) == "0.8100"
    assert similarity_text(1.0, True) == "1.0000 (equal embeddings; the texts differ)"
    assert similarity_text(None, True) == "–"
    assert lines_differing(ONE_CHAR_PAIR.response, ONE_CHAR_PAIR.incorrect) == 1
    assert lines_differing("a\nb\n", "a\nb") == 0 and lines_differing("a", "b\nc") == 2


def test_step_axes_have_integer_ticks():
    from fgit.report.plots import training_figure

    rows = [{"step": s, "loss": 2.0 - s / 10, "mean_weight": 1.2} for s in (1, 2, 3)]
    fig = training_figure({"fgit": rows})
    assert len(fig.axes) == 2
    for ax in fig.axes:
        ticks = ax.get_xticks()
        assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks


def test_pass_at_1_axis_is_zoomed_and_keeps_the_intervals():
    from fgit.evaluation.stats import wilson_interval
    from fgit.report.plots import evaluation_figure

    scores = {"humaneval": {"base": (0.50, 0.45), "fgit": (0.53, 0.48)}}
    ax = evaluation_figure(scores, {"humaneval": 164}).axes[0]
    bottom, top = ax.get_ylim()
    low = 100 * wilson_interval(round(0.45 * 164), 164)[0]
    high = 100 * wilson_interval(round(0.53 * 164), 164)[1]
    assert 0 < bottom < low and high < top < 100  # every interval inside, 0-100 not shown
    assert "zoomed" in ax.get_ylabel() and "Wilson" in ax.get_ylabel()
    segments = [c for c in ax.collections if c.get_segments()]  # the error bars
    assert len(segments) == 4  # two models x (base, plus)
    # Data over the whole range: nothing to zoom, and the axis says nothing of it.
    wide = evaluation_figure({"humaneval": {"a": (0.02, None), "b": (0.97, None)}}).axes[0]
    assert wide.get_ylim() == (0.0, 100.0) and "zoomed" not in wide.get_ylabel()


def test_training_plot_panels_and_empty_inputs():
    assert training_plot({}) is None and training_plot({"x": [{"step": 1}]}) is None
    assert evaluation_plot({}) is None
    assert selection_plot(None) is None and selection_plot({"verdicts": {}}) is None
    only_loss = training_plot({"sft": [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}]})
    with_weight = training_plot({"fgit": [{"step": 1, "loss": 2.0, "mean_weight": 1.2}]})
    wide, narrow = _decode_png(with_weight), _decode_png(only_loss)
    if wide is not None:
        assert wide.width > narrow.width  # a second panel for W
    assert selection_plot(None, [0.1, 0.25]) is not None


def test_missing_and_unfinished_stages_render(tmp_path, run_folder):
    run_dir = _copy_run(run_folder, tmp_path)
    manifest = _manifest(run_dir)
    stages = manifest["stages"]
    for name in [n for n in stages if n.startswith("eval:") or n in ("variants", "selection")]:
        del stages[name]
    stages["segments"]["status"] = "running"
    stages["train:fgit"]["status"] = "failed"
    (run_dir / "train" / "fgit" / "train_log.jsonl").write_text("{broken")  # never read
    manifest["label"] = None
    _write_json(run_dir / "manifest.json", manifest)
    index = write_report(run_dir)
    page = index.read_text(encoding="utf-8")
    pairs = page[page.index('<section id="pairs">') : page.index('<section id="selection">')]
    assert "Segments: not finished" in pairs and 'class="m2"' not in pairs
    assert "Variants: not run" in page and "Selection: not run" in page
    assert "Evaluation: not run" in page
    assert "train:fgit</code>: failed" in page and "<code>sft</code>" in page
    assert 'class="label"' not in page
    assert not (index.parent / "evaluation.png").exists()
    assert page.count("data:image/png") == 1  # the training plot of sft


def test_empty_manifest_renders_every_section(tmp_path):
    _write_json(tmp_path / "manifest.json", {"name": "empty"})
    page = write_report(tmp_path).read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    assert page.count("not run") >= 5 and "data:image" not in page


def test_bad_run_folders_raise_report_error_naming_the_file(tmp_path, run_folder):
    with pytest.raises(ReportError, match=r"manifest\.json not found: is .* a run folder"):
        load_report_inputs(tmp_path)
    (tmp_path / "manifest.json").write_text('{"stages": ')
    with pytest.raises(ReportError, match=r"manifest\.json:1: invalid JSON"):
        load_report_inputs(tmp_path)
    (tmp_path / "manifest.json").write_text('{"stages": []}')
    with pytest.raises(ReportError, match=r"manifest\.json: 'stages'"):
        load_report_inputs(tmp_path)

    run_dir = _copy_run(run_folder, tmp_path)
    log = run_dir / "train" / "sft" / "train_log.jsonl"
    lines = log.read_text().splitlines()
    log.write_text("\n".join([lines[0], '{"step": 2, "loss":', *lines[2:]]) + "\n")
    with pytest.raises(ReportError, match=r"train_log\.jsonl:2: invalid JSON"):
        load_report_inputs(run_dir)
    log.write_text("\n".join(lines) + "\n")

    results = run_dir / "eval" / "sft" / "humaneval.json"
    data = json.loads(results.read_text())
    data["pass_at_1_base"] = 0.99  # a tampered number
    results.write_text(json.dumps(data))
    with pytest.raises(ReportError, match=r"sft/humaneval\.json: invalid run file"):
        load_report_inputs(run_dir)
    results.unlink()
    with pytest.raises(ReportError, match=r"sft/humaneval\.json: no such run file"):
        load_report_inputs(run_dir)

    examples = run_dir / "segments" / "examples.json"
    data = json.loads(examples.read_text())
    data["pairs"][1]["incorrect"]["pieces"][0]["mark"] = "<b>"
    examples.write_text(json.dumps(data))
    with pytest.raises(ReportError, match=r"examples\.json: pairs\[1\]: 'incorrect' pieces"):
        load_report_inputs(run_dir)

    (run_dir / "selection" / "pairs.jsonl.summary.json").unlink()
    with pytest.raises(ReportError, match=r"pairs\.jsonl\.summary\.json not found"):
        load_report_inputs(run_dir)


def test_incomparable_runs_are_shown_separately(tmp_path, run_folder):
    from fgit.evaluation.results import build_run, write_run
    from fgit.evaluation.scores import TaskScore

    run_dir = _copy_run(run_folder, tmp_path)
    partial = build_run(
        model="samples:x", benchmark="humaneval",
        scores=[TaskScore("HumanEval/0", "passed"), TaskScore("HumanEval/1", "failed")],
    )  # fmt: skip
    write_run(run_dir / "eval" / "sft" / "humaneval.json", partial)
    page = write_report(run_dir).read_text(encoding="utf-8")
    results = page[page.index('<section id="results">') : page.index('<section id="training">')]
    evaluation = page[page.index('<section id="evaluation">') :]
    assert "Not compared: different task ids" in results
    assert "Not compared: different task ids" in evaluation
    assert "50.0%" in results and "2/2" in results  # the partial run on its own


def test_write_report_is_atomic_and_replaces_an_old_report(tmp_path, run_folder):
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.html").write_text("old")
    (out / "evaluation.png").write_bytes(b"stale")
    run_dir = _copy_run(run_folder, tmp_path)
    manifest = _manifest(run_dir)
    manifest["stages"] = {k: v for k, v in manifest["stages"].items() if not k.startswith("eval")}
    _write_json(run_dir / "manifest.json", manifest)
    index = write_report(run_dir, out)
    assert index == out / "index.html" and index.read_text().startswith("<!DOCTYPE html>")
    assert not (out / "evaluation.png").exists()  # no data now: the stale plot is gone
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "selection.png", "training.png"]
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))


def test_cli_report_output_dir_and_its_old_name_out(tmp_path, run_folder):
    from typer.testing import CliRunner

    from fgit.cli import app

    for option in ("--output-dir", "--out"):  # --out: the name scripts may still use
        folder = tmp_path / option.strip("-")
        result = CliRunner().invoke(app, ["report", str(run_folder), option, str(folder)])
        assert result.exit_code == 0, result.output
        assert (folder / "index.html").is_file()
    both = ["report", str(run_folder), "--output-dir", str(tmp_path / "a"), "--out", "b"]
    result = CliRunner().invoke(app, both)
    assert result.exit_code == 2 and "--out is the old name of --output-dir" in result.output


def test_write_report_keeps_the_old_index_when_rendering_fails(tmp_path, run_folder, monkeypatch):
    from fgit.report import html as report_html

    out = tmp_path / "out"
    out.mkdir()
    (out / "index.html").write_text("old")

    def boom(*args, **kwargs):
        raise RuntimeError("crash while rendering")

    monkeypatch.setattr(report_html, "render_report", boom)
    with pytest.raises(RuntimeError):
        report_html.write_report(run_folder, out)
    assert (out / "index.html").read_text() == "old"
    assert not list(out.glob("*.tmp")) and not list(out.glob(".index*"))


# ---------------------------------------------------------------------------------------------
# A real browser
# ---------------------------------------------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    chromium = shutil.which("chromium")
    assert chromium is not None
    command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_report_renders_in_a_headless_browser(report, tmp_path):
    if shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (CI installs it: see .ci/run)")
    url = report.resolve().as_uri()
    dumped = _chromium(tmp_path, "--dump-dom", url)
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    for section in SECTIONS:
        assert f'id="{section}"' in dom
    assert re.search(r'<img[^>]+src="data:image/png;base64,', dom)
    assert '<span class="m2"> - 1</span>' in dom and '<span class="m1">' in dom
    assert "<script" not in dom  # the hostile text stayed text

    shot = tmp_path / "shot.png"
    taken = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", url)
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-2000:]
    data = shot.read_bytes()
    image = _decode_png(data)
    if image is None:
        assert len(data) > 5000
    else:
        assert image.size == (1280, 2000)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 10  # text, marks and plots, not a blank page


def _attempts_run(model: str, shares: list[str]) -> Any:
    """An on-policy attempts file's run: one string of sample verdicts (P/F) per problem."""
    from datetime import datetime, timezone

    from fgit.evaluation.results import build_run
    from fgit.evaluation.scores import TaskScore

    scores = [
        [TaskScore(f"mbpp/{i}", "passed" if c == "P" else "failed", None, "") for c in letters]
        for i, letters in enumerate(shares)
    ]
    return build_run(
        model=model, benchmark="problems:problems.jsonl", sample_scores=scores, ks=[1],
        data={"source": "problems.jsonl", "sha256": "ab"},
        created=datetime(2026, 1, 2, tzinfo=timezone.utc),
    )  # fmt: skip


def test_rounds_section_pairs_a_rounds_attempts_with_the_base_models(tmp_path: Path) -> None:
    """Round 2's sampler (round 1's model) passes 1 of 4 where the base model passed 2 of 4, on
    10 of 20 problems: −12.5 points, 10 : 0 for the sign test (p = 2 / 2¹⁰)."""
    from fgit.evaluation.results import write_run

    run_dir = tmp_path / "run"
    attempts = {"base": ["PPFF"] * 10 + ["FFFF"] * 10, "lutra-r1": ["PFFF"] * 10 + ["FFFF"] * 10}
    stages: dict[str, Any] = {}
    for model, shares in attempts.items():
        folder = run_dir / "onpolicy" / model
        folder.mkdir(parents=True)
        write_run(folder / "attempts.json", _attempts_run(model, shares))
        summary = {"pairs": 20, "pass_rate": 0.25, "problems": 20, "with_failure": 20,
                   "with_pass": 10, "every_attempt_passes": 0}  # fmt: skip
        (folder / "pairs.jsonl.summary.json").write_text(json.dumps(summary))
        stages[f"attempts:{model}"] = {
            "status": "done", "outputs": {"results": f"onpolicy/{model}/attempts.json"}
        }  # fmt: skip
        stages[f"pairs:{model}"] = {
            "status": "done", "outputs": {"summary": f"onpolicy/{model}/pairs.jsonl.summary.json"}
        }  # fmt: skip
    manifest = {"name": "rounds", "config": {"onpolicy": {"runs": ["lutra"], "rounds": 2}},
                "stages": stages}  # fmt: skip
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    html = write_report(run_dir).read_text()
    section = html[html.index('<section id="rounds">') :]
    section = section[: section.index("</section>")]
    assert "sign-test p" in section
    assert section.count("-12.5 [") == 1 and "p 0.002" in section  # only round 2's sampler
    assert "lutra-r1" in section
