"""Stage 5: pass@1 on HumanEval(+) and MBPP(+), scored in fgit's sandbox the way evalplus does.

``tasks`` loads benchmarks; ``groundtruth`` computes expected outputs; ``scoring`` runs
solutions in the sandbox; ``prompts`` and ``sanitize`` turn a model's answer into a solution;
``results`` and ``stats`` record, compare and test runs.
"""
