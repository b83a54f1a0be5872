"""``python -m fgit`` (and ``accelerate launch -m fgit train ...``)."""

from fgit.cli import app

app()
