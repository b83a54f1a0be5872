"""fgit.progress: the one bar style (counts, elapsed, ETA; changing text last, on stderr)."""

from __future__ import annotations

import pytest
from rich.progress import Progress

from fgit.progress import progress_bar, remaining_seconds


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


class _Clock:
    """A clock that moves only when told: rich reads it for elapsed time and its rate window."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_eta_for_steps_slower_than_richs_window_is_the_mean_rate_since_the_start() -> None:
    """A step every 200 s leaves rich's 30-s window one sample, so rich has no rate; 2 of 5 done
    in 400 s leaves 3 at 200 s each."""
    clock = _Clock()
    with Progress(get_time=clock, disable=True) as bar:
        task_id = bar.add_task("generate", total=5)
        task = bar.tasks[0]
        assert remaining_seconds(task) is None  # nothing done: no rate to go by
        for _ in range(2):
            clock.now += 200
            bar.advance(task_id)
        assert task.time_remaining is None  # rich alone: no estimate for the whole run
        assert remaining_seconds(task) == pytest.approx(600)
        bar.advance(task_id, 3)
        assert remaining_seconds(task) == 0.0


def test_eta_for_fast_steps_is_richs_recent_rate() -> None:
    """Steps every second: rich's rate over its window (here 1 a second once the run speeds up),
    not the slow start's mean."""
    clock = _Clock()
    with Progress(get_time=clock, disable=True) as bar:
        task_id = bar.add_task("score", total=100)
        clock.now += 100  # a slow start (loading): the mean rate would say 1 per 10 s
        bar.advance(task_id)
        for _ in range(9):
            clock.now += 1
            bar.advance(task_id)
        task = bar.tasks[0]
        assert remaining_seconds(task) == task.time_remaining == pytest.approx(90)


def test_unbounded_task_has_no_eta() -> None:
    clock = _Clock()
    with Progress(get_time=clock, disable=True) as bar:
        task_id = bar.add_task("read", total=None)
        clock.now += 10
        bar.advance(task_id)
        assert remaining_seconds(bar.tasks[0]) is None


def test_logged_line_shows_an_eta_when_every_step_takes_minutes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log of an hour of sampling once read `eta -:--:--` on every line."""
    monkeypatch.setenv("FGIT_PROGRESS_EVERY", "0")
    clock = _Clock()
    with progress_bar(False, unit="sequences") as bar:
        bar.get_time = clock  # tasks added from here on keep this clock
        task = bar.add_task("generate", total=256)
        for _ in range(2):
            clock.now += 220
            bar.advance(task, 32)
    lines = capsys.readouterr().err.splitlines()
    logged = [line for line in lines if line.startswith("generate: ")]
    assert logged[-1] == "generate: 64/256 sequences, elapsed 0:07:20, eta 0:22:00"
