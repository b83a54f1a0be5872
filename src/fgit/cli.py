"""The ``fgit`` command. Thin shells over the library: parse options, call, print."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from fgit import __version__

app = typer.Typer(
    help="Fault-Guided Fine-Tuning (FGIT) for code LLMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Packaged offline models and model loading.", no_args_is_help=True)
segments_app = typer.Typer(help="Error-sensitive segments of pairs.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(segments_app, name="segments")

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def _user_errors() -> tuple[type[Exception], ...]:
    from fgit.models import ModelError
    from fgit.records import RecordError
    from fgit.segments import SegmentError

    return (ModelError, RecordError, SegmentError, FileNotFoundError)


def one_line_errors(func: F) -> F:
    """Known failures end with one line naming what and where, not a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except _user_errors() as error:
            err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


@app.command()
def version() -> None:
    """Print fgit's version and the versions of the libraries it runs on."""
    import tokenizers
    import torch
    import transformers

    console.print(
        f"fgit {__version__} · torch {torch.__version__} · transformers {transformers.__version__}"
        f" · tokenizers {tokenizers.__version__}"
    )


@models_app.command("list")
def models_list() -> None:
    """List the packaged offline models and whether they are prepared in the cache."""
    from fgit.models import HF_SUBDIR, PACKAGED_MODELS, TOKENIZER_SUBDIR, model_dir

    table = Table(title="packaged models (fgit models prepare NAME)")
    for column in ("name", "upstream", "parts", "model ready", "tokenizer ready"):
        table.add_column(column, no_wrap=column in ("name", "upstream"))
    for name, spec in PACKAGED_MODELS.items():
        folder = model_dir(name)
        hf_ready = (folder / HF_SUBDIR).is_dir()
        tok_ready = hf_ready or (folder / TOKENIZER_SUBDIR).is_dir()
        table.add_row(
            name, spec.hf_repo, str(len(spec.parts)), "yes" if hf_ready else "-",
            "yes" if tok_ready else "-",
        )  # fmt: skip
    console.print(table)


@models_app.command("prepare")
@one_line_errors
def models_prepare(
    name: Annotated[str, typer.Argument(help="A packaged model name (fgit models list).")],
    tokenizer_only: Annotated[
        bool, typer.Option(help="Convert only the tokenizer (fast; no weights).")
    ] = False,
) -> None:
    """Download the pinned packages, check sha256, convert once to a cached HF folder."""
    from fgit.models import ensure_hf_folder, ensure_tokenizer_folder

    path = ensure_tokenizer_folder(name) if tokenizer_only else ensure_hf_folder(name)
    console.print(f"ready: {path}")


PairsOption = Annotated[Path, typer.Option("--pairs", help="Pairs JSONL (native or TRL-style).")]
ModelOption = Annotated[
    str, typer.Option("--model", help="Packaged model name, local folder or hub id (tokenizer).")
]
MaxLengthOption = Annotated[int, typer.Option(help="Truncate prompt+response to this length.")]
PromptFormatOption = Annotated[
    str, typer.Option(help="auto (chat template if any), chat, or plain.")
]


def _prompt_format(kind: str):
    from fgit.segments import PromptFormat

    if kind not in ("auto", "chat", "plain"):
        raise typer.BadParameter(f"must be auto, chat or plain, not {kind!r}")
    return PromptFormat(kind=kind)  # type: ignore[arg-type]


@segments_app.command("show")
@one_line_errors
def segments_show(
    pairs: PairsOption,
    model: ModelOption,
    record_id: Annotated[str, typer.Option("--id", help="The pair's id.")],
    max_length: MaxLengthOption = 1024,
    prompt_format: PromptFormatOption = "auto",
    boundaries: Annotated[bool, typer.Option(help="Mark token boundaries with │.")] = False,
) -> None:
    """Print a pair with its error-sensitive tokens coloured."""
    from fgit.models import load_tokenizer
    from fgit.records import read_pairs
    from fgit.segments import encode_pair
    from fgit.segments.render import render_pair

    records = {record.id: record for record in read_pairs(pairs)}
    if record_id not in records:
        sample = ", ".join(list(records)[:5])
        raise typer.BadParameter(
            f"no pair with id {record_id!r} in {pairs} ({len(records)} pairs; e.g. {sample})",
            param_hint="--id",
        )
    record = records[record_id]
    tokenizer = load_tokenizer(model)
    encoded = encode_pair(
        record.instruction,
        record.response,
        record.incorrect,
        tokenizer,
        prompt_format=_prompt_format(prompt_format),
        max_length=max_length,
    )
    console.print(render_pair(encoded, title=f"{record.id} · {model}", show_boundaries=boundaries))


@segments_app.command("stats")
@one_line_errors
def segments_stats(
    pairs: PairsOption,
    model: ModelOption,
    max_length: MaxLengthOption = 1024,
    prompt_format: PromptFormatOption = "auto",
) -> None:
    """Encode every pair and report sensitive-token shares, truncation and skips."""
    from fgit.models import load_tokenizer
    from fgit.records import read_pairs
    from fgit.segments.stats import summarise_pairs

    records = read_pairs(pairs)
    tokenizer = load_tokenizer(model)
    summary = summarise_pairs(
        records, tokenizer, prompt_format=_prompt_format(prompt_format), max_length=max_length
    )
    table = Table(title=f"segments of {pairs} · {model}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in summary.rows():
        table.add_row(key, value)
    console.print(table)
    for line in summary.skip_summary():
        err_console.print(line, highlight=False, soft_wrap=True)


@app.command()
@one_line_errors
def quickstart() -> None:
    """The main job. Today: checks the install and shows error-sensitive tokens of an example.

    The full pipeline (variants -> selection -> training -> evaluation -> report) is not built
    yet; this command will run it end to end once it is.
    """
    from fgit.models import load_tokenizer
    from fgit.segments import encode_pair
    from fgit.segments.examples import OFF_BY_ONE
    from fgit.segments.render import render_pair

    version()
    model = "smollm2-135m-instruct"
    tokenizer = load_tokenizer(model)
    pair = OFF_BY_ONE
    encoded = encode_pair(pair.instruction, pair.response, pair.incorrect, tokenizer)
    console.print(render_pair(encoded, title=f"{pair.id} · {model} tokenizer"))
    console.print(
        "[bold yellow]not yet:[/] the full FGIT pipeline (teacher variants, selection, training,"
        " evaluation, report) is not built yet. Available now: [bold]fgit segments show[/],"
        " [bold]fgit segments stats[/], [bold]fgit models prepare[/]."
    )


if __name__ == "__main__":  # pragma: no cover
    app()
