"""The ``fgit`` command. Thin shells over the library: parse options, call, print."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from fgit.errors import user_errors

app = typer.Typer(
    help="Fault-Guided Fine-Tuning (FGIT) for code LLMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Packaged offline models and model loading.", no_args_is_help=True)
segments_app = typer.Typer(help="Error-sensitive segments of pairs.", no_args_is_help=True)
problems_app = typer.Typer(help="Training problems from datasets.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(problems_app, name="problems")
app.add_typer(segments_app, name="segments")

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def one_line_errors(func: F) -> F:
    """Known failures end with one line naming what and where, not a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except user_errors() as error:
            message = str(error)
            if isinstance(error, FileNotFoundError) and error.filename and error.strerror:
                message = f"{error.filename}: no such file"  # not "[Errno 2] No such file ..."
            err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


def _renamed(value: T | None, old: T | None, name: str, old_name: str) -> T | None:
    """An option given by its name, or by the name it had before (kept as a hidden alias so
    that scripts keep working); not both."""
    if value is not None and old is not None and value != old:
        raise typer.BadParameter(f"{old_name} is the old name of {name}: give one of them")
    return old if value is None else value


@app.command()
def version() -> None:
    """Print fgit's version and the versions of the libraries it runs on (= fgit --version)."""
    from fgit.versions import versions

    console.print(" · ".join(f"{name} {number}" for name, number in versions().items()))


def _version_option(value: bool) -> None:
    if value:
        version()
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_option,
            is_eager=True,
            help="Print fgit's version and its libraries' (as `fgit version`), and exit.",
        ),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            envvar="FGIT_STRICT",
            help="Make warnings errors (exit 2): an empty pairs file, pairs without "
            "error-sensitive tokens, a build that keeps no problem, a samples file that covers "
            "part of the benchmark.",
        ),
    ] = False,
) -> None:
    """Fault-Guided Fine-Tuning (FGIT) for code LLMs."""
    from fgit.warn import set_strict

    before = set_strict(strict)
    ctx.call_on_close(lambda: set_strict(before))  # the process-wide setting, for this command


# Every command that shows progress bars takes --quiet; it silences them, not the results.
QuietOption = Annotated[bool, typer.Option(help="No progress output.")]


@models_app.command("list")
def models_list() -> None:
    """List the packaged offline models and whether they are prepared in the cache."""
    from fgit.models import HF_SUBDIR, PACKAGED_MODELS, TOKENIZER_SUBDIR, model_dir

    header = ("name", "upstream", "parts", "model ready", "tokenizer ready")
    rows = []
    for name, spec in PACKAGED_MODELS.items():
        folder = model_dir(name)
        hf_ready = (folder / HF_SUBDIR).is_dir()
        tok_ready = hf_ready or (folder / TOKENIZER_SUBDIR).is_dir()
        rows.append((name, spec.hf_repo, str(len(spec.parts)), "yes" if hf_ready else "-",
                     "yes" if tok_ready else "-"))  # fmt: skip
    if not console.is_terminal:  # piped: whole values on aligned lines, no box drawing
        from fgit.listing import aligned_lines

        typer.echo("\n".join(aligned_lines(header, rows, console.width)))
        return
    table = Table(title="packaged models (fgit models prepare NAME)")
    for column in header:
        table.add_column(column, no_wrap=column in ("name", "upstream"))
    for row in rows:
        table.add_row(*row)
    console.print(table)


@models_app.command("prepare")
@one_line_errors
def models_prepare(
    name: Annotated[str, typer.Argument(help="A packaged model name (fgit models list).")],
    tokenizer_only: Annotated[
        bool, typer.Option(help="Convert only the tokenizer (fast; no weights).")
    ] = False,
    quiet: QuietOption = False,
) -> None:
    """Download the pinned packages, check sha256, convert once to a cached HF folder."""
    from fgit.models import ensure_hf_folder, ensure_tokenizer_folder

    ensure = ensure_tokenizer_folder if tokenizer_only else ensure_hf_folder
    path = ensure(name, quiet=quiet)
    console.print(f"ready: {path}")


PairsOption = Annotated[
    Path,
    typer.Option(
        "--pairs",
        help="Pairs: JSONL/JSON (native, TRL or LLaMA-Factory rows), .parquet/.arrow, a datasets "
        "folder, or hf:NAME[:SPLIT] (docs/data.md).",
    ),
]
ModelOption = Annotated[
    str, typer.Option("--model", help="Packaged model name, local folder or hub id (tokenizer).")
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        help="Data folder (default: $FGIT_DATA_DIR, else ../shared/data beside the checkout or "
        "the current folder; with none at all, evaluation lets evalplus download its file)."
    ),
]
MaxLengthOption = Annotated[int, typer.Option(help="Truncate prompt+response to this length.")]
PromptFormatOption = Annotated[
    str, typer.Option(help="auto (chat template if any), chat, or plain.")
]


def _prompt_kind(kind: str) -> str:
    if kind not in ("auto", "chat", "plain"):
        raise typer.BadParameter(
            f"must be auto, chat or plain, not {kind!r}", param_hint="--prompt-format"
        )
    return kind


def _prompt_format(kind: str):
    from fgit.segments import PromptFormat

    return PromptFormat(kind=_prompt_kind(kind))  # type: ignore[arg-type]


@segments_app.command("show")
@one_line_errors
def segments_show(
    pairs: PairsOption,
    model: ModelOption,
    record_id: Annotated[str, typer.Option("--id", help="The pair's id.")],
    max_length: MaxLengthOption = 1024,
    prompt_format: PromptFormatOption = "auto",
    boundaries: Annotated[bool, typer.Option(help="Mark token boundaries with │.")] = False,
    markers: Annotated[
        str,
        typer.Option(
            help="color, plain (changed tokens in ⟦…⟧, '>' before marked lines: survives a "
            "pipe), or auto: color on a terminal, plain otherwise."
        ),
    ] = "auto",
    quiet: QuietOption = False,
) -> None:
    """Print a pair with its error-sensitive tokens marked (coloured on a terminal)."""
    from fgit.models import load_tokenizer
    from fgit.records import read_pairs
    from fgit.segments import encode_pair
    from fgit.segments.render import plain_pair, render_pair

    if markers not in ("auto", "color", "plain"):
        raise typer.BadParameter(
            f"must be auto, color or plain, not {markers!r}", param_hint="--markers"
        )

    records = {record.id: record for record in read_pairs(pairs)}
    if not records:
        raise typer.BadParameter(f"{pairs}: the file holds no pairs", param_hint="--pairs")
    if record_id not in records:
        sample = ", ".join(list(records)[:5])
        raise typer.BadParameter(
            f"no pair with id {record_id!r} in {pairs} ({len(records)} pairs; e.g. {sample})",
            param_hint="--id",
        )
    record = records[record_id]
    tokenizer = load_tokenizer(model, quiet=quiet)
    encoded = encode_pair(
        record.instruction,
        record.response,
        record.incorrect,
        tokenizer,
        prompt_format=_prompt_format(prompt_format),
        max_length=max_length,
        context=record.context,
    )
    title = f"{record.id} · {model}"
    if markers == "plain" or (markers == "auto" and not console.is_terminal):
        typer.echo(plain_pair(encoded, title=title, show_boundaries=boundaries), nl=False)
        return
    # color asked for on a pipe (e.g. into `less -R`): ANSI colours all the same
    out = console if console.is_terminal else Console(force_terminal=True)
    out.print(render_pair(encoded, title=title, show_boundaries=boundaries))


@segments_app.command("stats")
@one_line_errors
def segments_stats(
    pairs: PairsOption,
    model: ModelOption,
    max_length: MaxLengthOption = 1024,
    prompt_format: PromptFormatOption = "auto",
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the numbers as JSON (counts, fractions, skips)."),
    ] = False,
    quiet: QuietOption = False,
) -> None:
    """Encode every pair and report sensitive-token shares, truncation and skips."""
    from fgit.models import load_tokenizer
    from fgit.records import read_pairs
    from fgit.segments.stats import summarise_pairs, unmarked_pairs_warning
    from fgit.warn import warn

    records = read_pairs(pairs)
    if not records:
        warn(f"{pairs}: the file holds no pairs; every count is zero")
    tokenizer = load_tokenizer(model, quiet=quiet)
    summary = summarise_pairs(
        records, tokenizer, prompt_format=_prompt_format(prompt_format), max_length=max_length,
        show_progress=not quiet,
    )  # fmt: skip
    if as_json:
        import json

        typer.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        _print_rows(f"segments of {pairs} · {model}", summary.rows())
    for line in summary.skip_summary():
        err_console.print(line, highlight=False, soft_wrap=True)
    unmarked = unmarked_pairs_warning(summary.without_marks, summary.encoded, str(pairs))
    if unmarked:
        warn(unmarked)


def _print_rows(title: str, rows: list[tuple[str, str]]) -> None:
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


@problems_app.command("build")
@one_line_errors
def problems_build(
    preset: Annotated[
        str, typer.Option(help="mbpp, leetcode, leetcode-markdown, codealpaca, evol-codealpaca.")
    ],
    out: Annotated[Path, typer.Option(help="Problems JSONL to write.", dir_okay=False)],
    data_dir: DataDirOption = None,
    decontaminate: Annotated[
        bool, typer.Option(help="Remove problems overlapping HumanEval(+), MBPP+, MBPP test.")
    ] = True,
    limit: Annotated[int | None, typer.Option(help="Keep only the first N problems.")] = None,
) -> None:
    """Load a dataset as problems, decontaminate it, write it (with a report beside it)."""
    from fgit.data.build import build_problems

    try:
        built = build_problems(
            preset=preset, data_folder=data_dir, decontaminate=decontaminate, limit=limit
        )
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--preset") from None
    console.print(built.load_summary, highlight=False)
    if built.decontamination_summary is not None:
        console.print(f"decontamination: {built.decontamination_summary}", highlight=False)
    if not built.problems:
        from fgit.warn import warn

        warn(built.why_empty())
    report_path = built.write(out)
    problems = built.problems
    console.print(f"{len(problems)} problems -> {out} (report: {report_path})")


@problems_app.command("holdout")
@one_line_errors
def problems_holdout(
    problems: Annotated[Path, typer.Argument(help="Problems JSONL (the run's problems.jsonl).")],
    out: Annotated[
        Path, typer.Option(help="Problems JSONL to write the held-out ones to.", dir_okay=False)
    ],
    fraction: Annotated[
        float, typer.Option(help="The training runs' holdout_fraction (0.15: about 15%).")
    ],
    seed: Annotated[int, typer.Option(help="The training runs' holdout_seed.")] = 0,
) -> None:
    """Write the problems training leaves out (the ones `fgit validate` scores), to score them
    with `fgit evaluate --benchmark problems:OUT`."""
    from fgit.evaluation.problems import has_tests
    from fgit.validation import write_holdout

    _check_fraction(fraction, "--fraction")
    held = write_holdout(problems, out, fraction, seed)
    if not held:
        raise typer.BadParameter(
            f"{problems}: the holdout holds no problems", param_hint="--fraction"
        )
    untested = sum(not has_tests(p) for p in held)
    note = f" ({untested} without tests, not scored by evaluate or validate)" if untested else ""
    console.print(
        f"{len(held)} held-out problems{note} -> {out}\n"
        f"score them: fgit evaluate --benchmark problems:{out} --model MODEL",
        highlight=False,
        soft_wrap=True,
    )


def _check_fraction(fraction: float, option: str) -> None:
    """A holdout fraction in [0, 1) (:func:`fgit.validation.holdout_ids`'s range), as one line."""
    if not 0 <= fraction < 1:
        raise typer.BadParameter(f"must be in [0, 1), got {fraction}", param_hint=option)


@app.command()
@one_line_errors
def variants(
    problems: Annotated[Path, typer.Option(help="Problems JSONL (native, Alpaca or TRL).")],
    teacher: Annotated[
        str,
        typer.Option(
            help="mutation, a packaged model name or folder (hf:...), openai:MODEL@URL, vllm:..."
        ),
    ],
    out: Annotated[
        Path, typer.Option(help="Variants JSONL to write (resumes if it exists).", dir_okay=False)
    ],
    k: Annotated[int, typer.Option(help="Candidates per problem.")] = 3,
    temperature: Annotated[float, typer.Option(help="Teacher sampling temperature.")] = 0.8,
    max_new_tokens: Annotated[int, typer.Option(help="Teacher output limit.")] = 1024,
    template: Annotated[
        Path | None, typer.Option(help="Prompt template file with {instruction}, {response}.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Problems per teacher call.")] = 16,
    seed: Annotated[int, typer.Option(help="Sampling / mutation seed.")] = 0,
    limit: Annotated[int | None, typer.Option(help="Only the first N problems.")] = None,
    quiet: QuietOption = False,
) -> None:
    """Stage 1: K similar-but-incorrect candidates per problem from a teacher or mutation."""
    from fgit.generation import SamplingParams
    from fgit.records import read_problems
    from fgit.variants.sources import load_source
    from fgit.variants.stage import generate_variants, summary_path

    records = read_problems(problems)[:limit]
    params = SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
    source = load_source(
        teacher, params=params, template=template.read_text() if template else None, seed=seed,
        quiet=quiet,
    )  # fmt: skip
    summary = generate_variants(records, source, out, k=k, batch_size=batch_size, quiet=quiet)
    kinds = ", ".join(f"{kind} {n}" for kind, n in summary.extraction.most_common())
    _print_rows(
        f"variants -> {out}",
        [
            ("problems", str(summary.problems)),
            ("resumed (already done)", str(summary.resumed)),
            ("generated now", str(summary.generated)),
            ("candidates", str(summary.candidates)),
            ("usable candidates", str(summary.usable)),
            ("extraction", kinds or "-"),
            ("problems without a usable candidate", str(len(summary.without_candidates))),
            ("seconds", f"{summary.seconds:.1f}"),
        ],
    )
    console.print(f"summary: {summary_path(out)}")


@app.command("export")
@one_line_errors
def export_command(
    pairs: PairsOption,
    out: Annotated[Path, typer.Option(help="File to write: .jsonl or .parquet.", dir_okay=False)],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Tokenizer (packaged name, folder or hub id): also write the token ids and "
            "masks fgit train would use.",
        ),
    ] = None,
    max_length: MaxLengthOption = 1024,
    prompt_format: PromptFormatOption = "auto",
    quiet: QuietOption = False,
) -> None:
    """Write pairs as TRL preference rows, with fgit's error-sensitive marks as extra columns
    (docs/trl.md)."""
    from fgit.export import FORMATS, export_rows, write_rows
    from fgit.records import read_pairs
    from fgit.warn import warn

    if out.suffix.lower() not in FORMATS:
        raise typer.BadParameter(f"{out}: write {' or '.join(FORMATS)}", param_hint="--out")
    records = read_pairs(pairs)
    if not records:
        warn(f"{pairs}: the file holds no pairs; the export is empty")
    tokenizer = None
    if model is not None:
        from fgit.models import load_tokenizer

        tokenizer = load_tokenizer(model, quiet=quiet)
    result = export_rows(
        records, tokenizer=tokenizer, prompt_format=_prompt_format(prompt_format),
        max_length=max_length,
    )  # fmt: skip
    write_rows(result.rows, out)
    rows = [("pairs read", str(len(records))), ("rows written", str(len(result.rows)))]
    if model is not None:
        rows.append(("token columns for", model))
    _print_rows(f"export -> {out}", rows)
    if result.skipped:
        first_id, why = result.skipped[0]
        warn(
            f"{len(result.skipped)} of {len(records)} pairs left out: fgit cannot encode them "
            f"for {model} (first: {first_id}, {why})"
        )


@app.command("select")
@one_line_errors
def select_command(
    variants_file: Annotated[Path, typer.Option("--variants", help="Variants JSONL.")],
    out: Annotated[Path, typer.Option(help="Pairs JSONL to write.", dir_okay=False)],
    embedder: Annotated[
        str, typer.Option(help="minilm, lexical, unixcoder, hf:NAME or lm:NAME.")
    ] = "minilm",
    tests: Annotated[
        bool, typer.Option(help="Run candidates against the problem's tests in the sandbox.")
    ] = True,
    timeout: Annotated[
        float, typer.Option(help="Sandbox wall-clock limit per program (s).")
    ] = 10.0,
    workers: Annotated[int | None, typer.Option(help="Parallel sandbox runs.")] = None,
    quiet: QuietOption = False,
) -> None:
    """Stage 2: keep the most similar candidate that really fails; write pairs."""
    from fgit.execution import SandboxLimits
    from fgit.selection.embedders import load_scorer
    from fgit.selection.select import journal_path, select_pairs

    summary = select_pairs(
        variants_file,
        out,
        load_scorer(embedder),
        run_tests=tests,
        limits=SandboxLimits(timeout_s=timeout),
        workers=workers,
        quiet=quiet,
    )
    share = summary.share_most_similar_failing
    rows = [
        ("problems", str(summary.problems)),
        ("pairs written", str(summary.pairs)),
        ("mean similarity of chosen", f"{summary.mean_similarity:.3f}"),
        ("problems with tests", str(summary.with_tests)),
        (
            "most similar candidate fails its tests",
            f"{share:.1%} of {summary.most_similar_checked}" if share is not None else "-",
        ),
    ]
    rows += [(f"skipped: {reason}", str(n)) for reason, n in summary.skipped.most_common()]
    rows += [
        (f"dropped candidates: {reason}", str(n)) for reason, n in summary.dropped.most_common()
    ]
    rows += [
        (f"candidate verdict: {verdict}", str(n)) for verdict, n in summary.verdicts.most_common()
    ]
    _print_rows(f"selection -> {out} (embedder {embedder})", rows)
    console.print(f"every candidate with its scores: {journal_path(out)}")


@app.command("onpolicy")
@one_line_errors
def onpolicy_command(
    attempts_file: Annotated[
        Path,
        typer.Option(
            "--attempts",
            help="An evaluation run of n samples per problem: fgit evaluate --benchmark "
            "problems:FILE --n-samples N --temperature T --out RUN.json.",
        ),
    ],
    problems: Annotated[Path, typer.Option(help="The problems file that was sampled.")],
    out: Annotated[Path, typer.Option(help="Pairs JSONL to write.", dir_okay=False)],
    correct: Annotated[
        Literal["model", "model-only", "reference"],
        typer.Option(help="The correct side: a passing attempt (model: else the reference)."),
    ] = "model",
    incorrect: Annotated[
        Literal["most-similar", "random"],
        typer.Option(help="The failing attempt most similar to a correct side, or a random one."),
    ] = "most-similar",
    pairs_per_problem: Annotated[int, typer.Option(min=1)] = 1,
    teacher_pairs: Annotated[
        Path | None, typer.Option(help="A teacher's pairs to mix in (fgit select's output).")
    ] = None,
    teacher_share: Annotated[
        float, typer.Option(min=0, max=1, help="The share of --teacher-pairs to add.")
    ] = 1.0,
    onpolicy_share: Annotated[
        float, typer.Option(min=0, max=1, help="The share of the attempts' pairs to keep.")
    ] = 1.0,
    embedder: Annotated[
        str, typer.Option(help="minilm, lexical, unixcoder, hf:NAME or lm:NAME.")
    ] = "minilm",
    seed: Annotated[int, typer.Option(help="Seed of the random rule and of the shares.")] = 0,
    timeout: Annotated[
        float, typer.Option(help="Sandbox wall-clock limit per reference (s).")
    ] = 10.0,
    workers: Annotated[int | None, typer.Option(help="Parallel sandbox runs.")] = None,
) -> None:
    """Pairs from a model's own attempts: its passing and failing answers (docs/onpolicy.md)."""
    from fgit.evaluation.problems import read_benchmark_problems
    from fgit.evaluation.results import read_run
    from fgit.execution import SandboxLimits
    from fgit.onpolicy.attempts import attempts_of
    from fgit.onpolicy.build import build_round_pairs, write_round_pairs
    from fgit.onpolicy.pairs import PairRules
    from fgit.records import read_pairs
    from fgit.selection.embedders import load_scorer

    run = read_run(attempts_file)
    sampled = read_benchmark_problems(problems)[0]
    attempts = attempts_of(run, sampled)
    pairs, summary, outcomes = build_round_pairs(
        sampled,
        attempts,
        load_scorer(embedder),
        PairRules(correct, incorrect, pairs_per_problem, seed),
        teacher_pairs=read_pairs(teacher_pairs) if teacher_pairs else [],
        onpolicy_share=onpolicy_share,
        teacher_share=teacher_share if teacher_pairs else 0.0,
        selection={"sampled_by": run.model},
        limits=SandboxLimits(timeout_s=timeout),
        workers=workers,
    )
    write_round_pairs(out, pairs, summary, outcomes)
    rows = [
        ("problems sampled", str(summary.problems)),
        ("problems without attempts in the run (left out)", str(len(sampled) - len(attempts))),
        ("attempts", str(summary.attempts)),
        ("attempts passing", f"{summary.pass_rate:.1%}"),
        ("problems with a failing attempt", str(summary.with_failure)),
        ("problems with a passing attempt", str(summary.with_pass)),
        ("problems whose every attempt passes", str(summary.every_attempt_passes)),
        ("pairs from the attempts", f"{summary.onpolicy_used} of {summary.onpolicy_pairs}"),
        ("teacher pairs", f"{summary.teacher_used} of {summary.teacher_pairs}"),
        ("pairs written", str(summary.pairs)),
    ]
    rows += [(f"correct side: {k}", str(n)) for k, n in summary.correct_from.most_common()]
    rows += [(f"no pair: {why}", str(n)) for why, n in summary.no_pair.most_common()]
    rows += [(f"attempts not usable: {why}", str(n)) for why, n in summary.dropped.most_common()]
    _print_rows(f"on-policy pairs -> {out} (embedder {embedder})", rows)
    console.print(f"every problem's attempts and outcome: {out}.outcomes.jsonl")
    if not pairs:
        from fgit.warn import warn

        warn(f"{out}: no pairs (the reasons are above)")


def _parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``--set key=value`` options; values are YAML (``--set lora.r=8``, ``--set lora=null``)."""
    import yaml

    from fgit.merge import set_override
    from fgit.training.config import ConfigError

    out: dict[str, Any] = {}
    for item in pairs:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML") from None
        # A later --set wins; lora=null then lora.r=8 starts lora afresh (fgit.merge).
        set_override(out, key.split("."), value)
    return out


def _setting(name: str) -> str:
    """A `fgit train` option's help: the description of the TrainConfig field it sets, so the
    help and the config never disagree."""
    from fgit.training.config import TrainConfig

    return TrainConfig.model_fields[name].description or name


@app.command()
@one_line_errors
def train(
    config: Annotated[
        Path | None, typer.Option(help="YAML settings (keys of fgit.training.TrainConfig).")
    ] = None,
    pairs: Annotated[Path | None, typer.Option(help=_setting("pairs"))] = None,
    model: Annotated[str | None, typer.Option(help=_setting("model"))] = None,
    output_dir: Annotated[
        Path | None, typer.Option(help=_setting("output_dir"), file_okay=False)
    ] = None,
    loss: Annotated[str | None, typer.Option(help=_setting("loss"))] = None,
    granularity: Annotated[str | None, typer.Option(help=_setting("granularity"))] = None,
    alpha: Annotated[float | None, typer.Option(help=_setting("alpha"))] = None,
    detach_weights: Annotated[bool | None, typer.Option(help=_setting("detach_weights"))] = None,
    learning_rate: Annotated[
        float | None, typer.Option("--lr", "--learning-rate", help=_setting("learning_rate"))
    ] = None,
    epochs: Annotated[float | None, typer.Option(help=_setting("epochs"))] = None,
    max_steps: Annotated[int | None, typer.Option(help=_setting("max_steps"))] = None,
    per_device_batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size", "--per-device-batch-size", help=_setting("per_device_batch_size")
        ),
    ] = None,
    gradient_accumulation_steps: Annotated[
        int | None,
        typer.Option(
            "--grad-accum",
            "--gradient-accumulation-steps",
            help=_setting("gradient_accumulation_steps"),
        ),
    ] = None,
    lora: Annotated[bool | None, typer.Option(help=_setting("lora"))] = None,
    precision: Annotated[str | None, typer.Option(help=_setting("precision"))] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any other setting as KEY=VALUE (YAML value), repeatable."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Discard what output_dir holds and train from scratch.")
    ] = False,
    quiet: Annotated[bool | None, typer.Option(help=_setting("quiet"))] = None,
) -> None:
    """Stage 4: fine-tune on pairs with the FGIT loss or a baseline (resumes; accelerate-ready)."""
    from fgit.training.config import load_train_config

    overrides = _parse_overrides(set_ or [])
    # Each option is named after the setting it sets (TrainConfig's field).
    options = dict(
        pairs=pairs,
        model=model,
        output_dir=output_dir,
        loss=loss,
        granularity=granularity,
        alpha=alpha,
        detach_weights=detach_weights,
        learning_rate=learning_rate,
        epochs=epochs,
        max_steps=max_steps,
        per_device_batch_size=per_device_batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        precision=precision,
        quiet=quiet,
    )
    # Options given on the command line win over --set; options not given leave --set alone.
    overrides.update({key: value for key, value in options.items() if value is not None})
    if lora is not None:
        # --lora turns LoRA on: an empty block merges onto the file's (or --set's) settings and
        # keeps them, or gives the defaults where there are none. --no-lora turns it off.
        overrides["lora"] = (overrides.get("lora") or {}) if lora else None
    settings = load_train_config(config, overrides)
    # torch loads only now, so a bad config or option fails in a fraction of a second.
    from fgit.training.trainer import train as run_training

    result = run_training(settings, overwrite=overwrite)
    if not _is_main_process():
        return
    data = result.summary.get("data", {})
    rows = [
        ("status", "already trained (same settings and data)" if result.cached else "trained"),
        ("loss", settings.loss),
        ("optimizer steps", str(result.steps)),
        ("pairs used", f"{data.get('used', '?')} of {data.get('records', '?')}"),
    ]
    rows += [(f"skipped: {kind}", str(n)) for kind, n in data.get("skipped", {}).items()]
    rows += [("truncated to max_length", str(data.get("truncated", 0)))]
    rows += [("model", str(result.model_dir))]
    if result.adapter_dir is not None:
        rows.append(("adapter", str(result.adapter_dir)))
    rows.append(("log", str(result.output_dir / "train_log.jsonl")))
    _print_rows(f"training -> {result.output_dir}", rows)


def _default_eval_out(model: str | None, samples: Path | None, benchmark: str) -> Path:
    import re

    source = samples.stem if samples is not None else Path(str(model)).name or str(model)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", source).strip("-") or "model"
    from fgit.evaluation.problems import is_problems_benchmark, results_label

    if is_problems_benchmark(benchmark):
        benchmark = results_label(benchmark)
    return Path("runs") / "eval" / f"{slug}-{benchmark.replace('+', 'plus')}.json"


@app.command()
@one_line_errors
def evaluate(
    benchmark: Annotated[
        str,
        typer.Option(
            help="humaneval, humaneval+, mbpp, mbpp+, bigcodebench-complete, "
            "bigcodebench-instruct, bigcodebench-hard-complete, bigcodebench-hard-instruct, "
            "or problems:PATH (your file)."
        ),
    ],
    model: Annotated[
        str | None, typer.Option(help="Model to generate with: packaged name, folder or hub id.")
    ] = None,
    samples: Annotated[
        Path | None,
        typer.Option(help="Score this EvalPlus samples file instead (task_id, solution)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Results JSON (default runs/eval/NAME-BENCHMARK.json).", dir_okay=False),
    ] = None,
    data_dir: DataDirOption = None,
    prompt_format: Annotated[
        str,
        typer.Option(
            "--prompt-format",
            "--prompt",
            help="auto, chat (evalplus's or bigcodebench's instruction) or plain.",
        ),
    ] = "auto",
    max_new_tokens: Annotated[
        int | None,
        typer.Option(help="Tokens per answer (default 512; BigCodeBench 1280, as upstream)."),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Prompts per generation batch.")] = 16,
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16 or float16.")] = "auto",
    sanitize: Annotated[
        bool,
        typer.Option(
            help="Sanitise answers (evalplus's sanitizer, bigcodebench's for BigCodeBench): "
            "drops the model's own tests."
        ),
    ] = True,
    limit: Annotated[int | None, typer.Option(help="Only the first N tasks (a smoke run).")] = None,
    cache: Annotated[
        str | None, typer.Option(help="KV cache for local generation: dynamic (default) or static.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Parallel sandbox runs (default: all cores).")
    ] = None,
    n_samples: Annotated[
        int, typer.Option(help="Samples per task, for pass@k (more than 1 needs --temperature).")
    ] = 1,
    temperature: Annotated[float, typer.Option(help="Sampling temperature; 0 is greedy.")] = 0.0,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling: top-p.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Sampling seed (each task's is derived from it).")] = 0,
    k: Annotated[
        str | None,
        typer.Option("--k", help="pass@k for these k, e.g. 1,10 (default: 1, 10, 100 up to n)."),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Stage 5: greedy pass@1 (or pass@k of n samples), scored in the sandbox the way evalplus
    scores."""
    from fgit.evaluation.problems import is_problems_benchmark
    from fgit.evaluation.results import summary_rows
    from fgit.evaluation.scoring import ScoreSettings
    from fgit.evaluation.stage import GenerationSettings, evaluate_model, evaluate_samples
    from fgit.evaluation.tasks import BENCHMARKS

    if (model is None) == (samples is None):
        raise typer.BadParameter("give exactly one of --model and --samples")
    if benchmark not in BENCHMARKS and not is_problems_benchmark(benchmark):
        raise typer.BadParameter(
            f"unknown benchmark {benchmark!r}; choose from {', '.join(BENCHMARKS)} or problems:PATH"
        )
    if samples is not None:  # a samples file is scored as given: generation options mean nothing
        given = [
            name
            for name, value, default in (
                ("--n-samples", n_samples, 1),
                ("--temperature", temperature, 0.0),
                ("--top-p", top_p, 1.0),
                ("--seed", seed, 0),
            )
            if value != default
        ]
        if given:
            raise typer.BadParameter(
                f"{', '.join(given)} only apply to --model (a samples file is scored as given)"
            )
    _prompt_kind(prompt_format)
    if samples is not None and not samples.is_file():  # before the benchmark's data loads
        raise FileNotFoundError(f"{samples}: no such samples file")
    target = out or _default_eval_out(model, samples, benchmark)
    scoring = ScoreSettings(workers=workers)
    ks = _ks_option(k)
    if samples is not None:
        run = evaluate_samples(
            samples, benchmark, target, data_dir=data_dir, scoring=scoring, quiet=quiet, ks=ks
        )
    else:
        settings = GenerationSettings(
            prompt_kind=prompt_format,  # type: ignore[arg-type]
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            dtype=dtype,
            sanitize=sanitize,
            cache_implementation=None if cache in (None, "dynamic") else cache,
            n_samples=n_samples,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
        )
        run = evaluate_model(
            str(model), benchmark, target, data_dir=data_dir, generation=settings,
            scoring=scoring, limit=limit, quiet=quiet, ks=ks,
        )  # fmt: skip
    _print_rows(f"evaluation -> {target}", summary_rows(run))
    reasons = (
        ("without_tests", "have no tests"),
        ("without_entry_point", "define check(candidate) in their tests but no entry_point"),
    )
    for key, why in reasons:
        unscored = run.data.get(key)
        if unscored:
            ids = unscored["ids"]
            console.print(
                f"{unscored['count']} record(s) of {run.data['source']} {why} and were not "
                f"scored: {', '.join(ids[:5])}{' …' if unscored['count'] > 5 else ''}",
                highlight=False,
                soft_wrap=True,
            )


def _ks_option(text: str | None) -> list[int] | None:
    """``--k 1,10`` as integers (:func:`fgit.evaluation.passk.split_ks`); whether each is <= n
    is checked once n is known."""
    from fgit.evaluation.passk import split_ks

    if text is None:
        return None
    try:
        return split_ks(text)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


@app.command()
@one_line_errors
def validate(
    model: Annotated[str, typer.Option(help="Packaged name, folder, hub id or backend spec.")],
    problems: Annotated[Path, typer.Option(help="Problems JSONL with tests (fgit's schema).")],
    out: Annotated[Path, typer.Option(help="Results JSON to write.", dir_okay=False)],
    holdout_fraction: Annotated[
        float,
        typer.Option(help="The training runs' holdout_fraction: only those problems are scored."),
    ],
    holdout_seed: Annotated[int, typer.Option(help="The training runs' holdout_seed.")] = 0,
    max_new_tokens: Annotated[int, typer.Option(help="Generation limit per problem.")] = 512,
    batch_size: Annotated[int, typer.Option(help="Prompts per generation batch.")] = 16,
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16 or float16.")] = "auto",
    workers: Annotated[
        int | None, typer.Option(help="Parallel sandbox runs (default: all cores).")
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Greedy pass@1 on held-out training problems, run against their own tests: what
    hyper-parameters are chosen on (never on a reported benchmark). Prompts are the chat
    template with the instruction as the user message: training's prompt_format auto. Scored
    as `fgit evaluate --benchmark problems:FILE` scores (FILE from `fgit problems holdout`)."""

    from fgit.evaluation.problems import read_benchmark_problems
    from fgit.evaluation.stage import GenerationSettings, load_generation_backend
    from fgit.io import write_json
    from fgit.validation import split_problems
    from fgit.validation import validate as run_validation

    _check_fraction(holdout_fraction, "--holdout-fraction")
    # The reader `fgit problems holdout` and `problems:` benchmarks use: LeetCodeDataset too.
    chosen = split_problems(read_benchmark_problems(problems)[0], holdout_fraction, holdout_seed)[1]
    if not chosen:
        raise typer.BadParameter(f"{problems}: the holdout holds no problems to validate on")
    generation = GenerationSettings(batch_size=batch_size, dtype=dtype)
    backend = load_generation_backend(model, generation, quiet)
    result = run_validation(backend, chosen, max_new_tokens=max_new_tokens, workers=workers)
    record = {
        "model": model,
        "problems_file": str(problems),
        "holdout": {"fraction": holdout_fraction, "seed": holdout_seed},
        "generation": {**backend.describe(), "max_new_tokens": max_new_tokens, "greedy": True},
        **result.to_json(),
    }
    write_json(out, record)
    skipped = f", {len(result.skipped)} without tests skipped" if result.skipped else ""
    console.print(
        f"validation pass@1: {result.passed}/{result.problems} = {result.pass_rate:.1%}"
        f"{skipped} -> {out}",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
@one_line_errors
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Results JSON files of `fgit evaluate`.")],
    out: Annotated[
        Path | None, typer.Option(help="Also write the comparison as JSON.", dir_okay=False)
    ] = None,
    old_out: Annotated[Path | None, typer.Option("--json", hidden=True, dir_okay=False)] = None,
    name: Annotated[
        list[str] | None,
        typer.Option(
            "--name",
            help="A run's name, once per run in order (default: the file names, or the "
            "folders that tell them apart, e.g. base and fgit for eval/base/humaneval.json "
            "and eval/fgit/humaneval.json).",
        ),
    ] = None,
) -> None:
    """Runs side by side: pass@1, paired differences (McNemar, bootstrap CI), flipped tasks.

    Runs with n samples per task pair on each task's share of passing samples (sign test)."""
    import json

    from fgit.evaluation.compare import (
        compare_runs,
        comparison_to_dict,
        names_from_paths,
        render_comparison,
    )
    from fgit.evaluation.results import read_run

    if name and len(name) != len(runs):
        raise typer.BadParameter(
            f"{len(name)} names for {len(runs)} runs: give one per run", param_hint="--name"
        )
    loaded = [read_run(path) for path in runs]
    try:
        comparison = compare_runs(loaded, names=name or names_from_paths(runs))
    except ValueError as error:  # runs on different benchmarks or tasks
        err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    console.print(render_comparison(comparison))
    target = _renamed(out, old_out, "--out", "--json")
    if target is not None:
        target.write_text(json.dumps(comparison_to_dict(comparison), indent=2) + "\n")


def _is_main_process() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


ForceOption = Annotated[
    list[str] | None,
    typer.Option("--force", help="Run this stage again even if current (name or eval:*)."),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a setting: KEY=VALUE (YAML value), repeatable."),
]


def _print_run(result: Any) -> None:
    """What ran, the evaluation side by side per benchmark, and where the report is."""
    from fgit.evaluation.compare import compare_runs, render_comparison
    from fgit.evaluation.results import read_run

    manifest = result.manifest
    if manifest.get("label"):
        console.print(f"[bold yellow]{manifest['label']}[/]", highlight=False)
    stages = manifest.get("stages", {})
    by_benchmark: dict[str, list[tuple[str, Path]]] = {}
    for name, record in stages.items():
        if name.startswith("eval:") and record.get("status") == "done":
            info = record.get("info", {})
            path = result.root / record["outputs"]["results"]
            by_benchmark.setdefault(info["benchmark"], []).append((info["model"], path))
    for benchmark, entries in by_benchmark.items():
        runs = [read_run(path) for _, path in entries]
        try:
            comparison = compare_runs(runs, names=[model for model, _ in entries])
        except ValueError as error:
            err_console.print(f"{benchmark}: runs not comparable: {error}", highlight=False)
            continue
        console.print(f"[bold]{benchmark}[/] ({len(runs[0].tasks)} tasks)")
        console.print(render_comparison(comparison))
    ran, cached = len(result.ran), len(result.cached)
    # soft_wrap: paths are printed whole, never broken across lines.
    console.print(
        f"{ran} stage(s) ran, {cached} cached, {result.seconds:.0f} s · run folder {result.root}"
        f" · manifest {result.root / 'manifest.json'}",
        highlight=False,
        soft_wrap=True,
    )
    if result.report is not None:
        console.print(f"[bold green]report:[/] {result.report}", highlight=False, soft_wrap=True)


@app.command()
@one_line_errors
def run(
    config: Annotated[Path, typer.Argument(help="Run config YAML (examples/*.yaml).")],
    set_: SetOption = None,
    force: ForceOption = None,
    until: Annotated[
        str | None,
        typer.Option(help="Stop after this stage (name or pattern: selection, 'train:*')."),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """The whole pipeline: problems -> variants -> selection -> segments -> training ->
    evaluation -> report. Cached per stage by its inputs' hash; resumes after a crash."""
    from fgit.pipeline import load_run_config, run_pipeline

    settings = load_run_config(config, _parse_overrides(set_ or []))
    _print_run(run_pipeline(settings, force=force, quiet=quiet, until=until))


@app.command()
@one_line_errors
def quickstart(
    output_dir: Annotated[Path, typer.Option(help="Run folder to write.", file_okay=False)] = Path(
        "runs/quickstart"
    ),
    set_: SetOption = None,
    force: ForceOption = None,
    quiet: QuietOption = False,
) -> None:
    """The main job on a CPU, offline, in about 12 minutes: HumanEval's training half ->
    mutation pairs -> SFT and FGIT on SmolLM2-135M -> base vs SFT vs FGIT on the held-out half
    -> HTML report. A smoke demonstration of the pipeline, not a result."""
    from fgit.pipeline import run_pipeline
    from fgit.pipeline.quickstart import quickstart_config

    settings = quickstart_config(output_dir, _parse_overrides(set_ or []))
    if not quiet:
        console.print(f"[bold yellow]{settings.label}[/]", highlight=False)
    _print_run(run_pipeline(settings, force=force, quiet=quiet))


@app.command()
@one_line_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder of `fgit run`.")],
    output_dir: Annotated[
        Path | None, typer.Option(help="Folder for index.html and the PNGs (default RUN/report).")
    ] = None,
    old_output_dir: Annotated[Path | None, typer.Option("--out", hidden=True)] = None,
) -> None:
    """Write the run's self-contained HTML report (pairs, selection, training, evaluation)."""
    from fgit.report import write_report

    folder = _renamed(output_dir, old_output_dir, "--output-dir", "--out")
    console.print(f"report: {write_report(run_dir, folder)}", highlight=False, soft_wrap=True)


if __name__ == "__main__":  # pragma: no cover
    app()
