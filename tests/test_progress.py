"""fgit.progress: the one bar style (counts, elapsed, ETA; changing text last, on stderr)."""

from __future__ import annotations

import pytest

from fgit.progress import progress_bar


def test_bar_shows_counts_eta_and_detail_last(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one line, whatever the terminal
    with progress_bar(False, unit="parts", detail="{task.fields[step]}") as bar:
        task = bar.add_task("fetch", total=2, step="joining part02")
        bar.advance(task, 2)
    out, err = capsys.readouterr()
    assert out == ""
    line = err.strip().splitlines()[-1]
    assert line.startswith("fetch") and "2/2 parts" in line
    assert line.index("2/2") < line.index("eta") < line.index("joining part02")
    assert line.rstrip().endswith("joining part02")


def test_quiet_bar_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar(True) as bar:
        bar.advance(bar.add_task("x", total=1))
    assert capsys.readouterr() == ("", "")


def test_bar_logs_plain_lines_where_it_cannot_redraw(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under nohup or a scheduler stderr is a file, where rich would print the bar only at the
    end: each step then logs one line (every FGIT_PROGRESS_EVERY seconds; 0 here)."""
    monkeypatch.setenv("FGIT_PROGRESS_EVERY", "0")
    with progress_bar(False, unit="attempts") as bar:
        task = bar.add_task("sampling", total=3)
        bar.advance(task)
        bar.advance(task)
        bar.advance(task)
    lines = capsys.readouterr().err.splitlines()
    logged = [line for line in lines if line.startswith("sampling: ")]
    assert [line.split(",")[0] for line in logged] == [
        "sampling: 1/3 attempts",
        "sampling: 2/3 attempts",
    ]  # the finished task is not logged again: rich prints the final bar itself
    assert all("elapsed" in line and "eta" in line for line in logged)


def test_bar_logs_at_most_once_per_interval(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FGIT_PROGRESS_EVERY", "3600")
    with progress_bar(False, unit="attempts") as bar:
        task = bar.add_task("sampling", total=3)
        for _ in range(3):
            bar.advance(task)
    assert not [line for line in capsys.readouterr().err.splitlines() if ": " in line]


def test_quiet_bar_logs_nothing_either(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FGIT_PROGRESS_EVERY", "0")
    with progress_bar(True) as bar:
        task = bar.add_task("x", total=2)
        bar.advance(task)
    assert capsys.readouterr() == ("", "")
