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
