"""On-policy pairs: the model's own failing attempts as the incorrect side (CodeLutra-style).

:mod:`fgit.onpolicy.pairs` holds the rules (pure), :mod:`fgit.onpolicy.attempts` samples and
reads attempts, :mod:`fgit.onpolicy.build` writes a round's pairs; `fgit run`'s ``onpolicy``
section chains them into rounds (:mod:`fgit.pipeline.rounds`). docs/onpolicy.md explains the
choices.
"""
