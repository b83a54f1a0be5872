"""Stage 5: pass@1 on HumanEval(+) and MBPP(+), scored in fgit's sandbox the way evalplus does.

``tasks`` loads benchmarks; ``groundtruth`` computes expected outputs; ``prompts`` builds
evalplus's prompts and turns a model's answer into a solution (``evalplus.sanitize``);
``samples`` reads EvalPlus samples files; ``scoring`` runs solutions in the sandbox; ``stage``
runs a model on a benchmark end to end; ``results``, ``scores``, ``compare`` and ``stats``
record, compare and test runs.
"""
