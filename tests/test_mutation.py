"""Rule-based mutation baseline: exact edits per operator, source preservation, MBPP coverage."""

from __future__ import annotations

import ast
import json
import statistics

import pytest

from fgit.variants.mutation import OPERATORS, Mutation, mutate, mutation_sites


def mutated(code: str, operator: str, after: str, before: str | None = None) -> str:
    """The program made by the one site of ``operator`` whose replacement is ``after``."""
    [site] = [
        s
        for s in mutation_sites(code)
        if s.operator == operator and s.after == after and before in (None, s.before)
    ]
    assert code[site.start : site.end] == site.before
    return site.apply(code)


def operators_of(code: str) -> set[str]:
    return {s.operator for s in mutation_sites(code)}


@pytest.mark.parametrize(
    ("code", "operator", "after", "expected"),
    [
        ("if a < b:\n    go()\n", "compare_swap", "<=", "if a <= b:\n    go()\n"),
        ("if a < b:\n    go()\n", "compare_swap", ">", "if a > b:\n    go()\n"),
        ("ok = x==y\n", "compare_swap", "!=", "ok = x!=y\n"),
        ("ok = k in d\n", "compare_swap", "not in", "ok = k not in d\n"),
        ("ok = k not  in (d)\n", "compare_swap", "in", "ok = k in (d)\n"),
        ("ok = v is None\n", "compare_swap", "is not", "ok = v is not None\n"),
        ("y = (a) + b\n", "arith_swap", "-", "y = (a) - b\n"),
        ("y = a * b\n", "arith_swap", "/", "y = a / b\n"),
        ("y = n // 10\n", "arith_swap", "%", "y = n % 10\n"),
        ("y = n % 10\n", "arith_swap", "//", "y = n // 10\n"),
        ("total += x\n", "aug_swap", "-=", "total -= x\n"),
        (
            "for i in range(10):\n    go(i)\n",
            "off_by_one",
            "11",
            "for i in range(11):\n    go(i)\n",
        ),
        ("for i in range(10):\n    go(i)\n", "off_by_one", "9", "for i in range(9):\n    go(i)\n"),
        ("m = 0xff\n", "off_by_one", "0x100", "m = 0x100\n"),
        ("y = a[i]\n", "index_shift", "i - 1", "y = a[i - 1]\n"),
        ("y = a[j + k]\n", "index_shift", "j + k + 1", "y = a[j + k + 1]\n"),
        ("y = a[:n]\n", "index_shift", "n + 1", "y = a[:n + 1]\n"),
        ("y = a[len(b)]\n", "index_shift", "len(b) - 1", "y = a[len(b) - 1]\n"),
        (
            "for i in range(a, b):\n    go(i)\n",
            "boundary",
            "b + 1",
            "for i in range(a, b + 1):\n    go(i)\n",
        ),
        (
            "for i in range(a, b):\n    go(i)\n",
            "boundary",
            "a + 1",
            "for i in range(a + 1, b):\n    go(i)\n",
        ),
        (
            "for i in range(len(s)):\n    go(i)\n",
            "boundary",
            "len(s) - 1",
            "for i in range(len(s) - 1):\n    go(i)\n",
        ),
        ("if a and b:\n    go()\n", "logic_swap", "or", "if a or b:\n    go()\n"),
        (
            "while x > 0:\n    x -= 1\n",
            "negate_condition",
            "not x > 0",
            "while not x > 0:\n    x -= 1\n",
        ),
        (
            "if a or b:\n    go()\n",
            "negate_condition",
            "not (a or b)",
            "if not (a or b):\n    go()\n",
        ),
        (
            "ys = [x for x in xs if x]\n",
            "negate_condition",
            "not x",
            "ys = [x for x in xs if not x]\n",
        ),
        ("if not done:\n    go()\n", "remove_not", "", "if done:\n    go()\n"),
        ("r = pow(a, b)\n", "swap_args", "b, a", "r = pow(b, a)\n"),
        ("r = max(a, 0)\n", "minmax_swap", "min", "r = min(a, 0)\n"),
        ("found = False\n", "bool_swap", "True", "found = True\n"),
        ("def f():\n    return True\n", "return_value", "False", "def f():\n    return False\n"),
        ("def f():\n    return 0\n", "return_value", "1", "def f():\n    return 1\n"),
    ],
)
def test_each_operator_makes_the_exact_edit(code, operator, after, expected):
    assert operator in OPERATORS
    assert mutated(code, operator, after) == expected


def test_drop_condition_keeps_each_operands_parentheses():
    code = "if a and (b or c) and d:\n    go()\n"
    drops = {s.apply(code) for s in mutation_sites(code) if s.operator == "drop_condition"}
    assert {
        "if (b or c) and d:\n    go()\n",
        "if a and d:\n    go()\n",
        "if a and (b or c):\n    go()\n",
        "if a and (c) and d:\n    go()\n",  # from the inner ``or``
        "if a and (b) and d:\n    go()\n",
    } == drops


def test_remove_statement_drops_whole_lines_or_leaves_pass():
    code = (
        "def f(xs):\n"
        "    out = []\n"
        "    for x in xs:\n"
        "        if x < 0:  # skip negatives\n"
        "            continue\n"
        "        out.append(x)\n"
        "    while n:\n"
        "        n -= 1\n"
        "    return out\n"
    )
    removals = {
        s.before: s.apply(code) for s in mutation_sites(code) if s.operator == "remove_statement"
    }
    guard = "        if x < 0:  # skip negatives\n            continue\n"
    assert removals[guard] == code.replace(guard, "")
    assert removals["        out.append(x)\n"] == code.replace("        out.append(x)\n", "")
    assert removals["n -= 1"] == code.replace("n -= 1", "pass")  # the loop's only statement
    assert "continue" not in removals  # the guard covers its own body


def test_skips_type_errors_literals_annotations_and_fstrings():
    assert "arith_swap" not in operators_of('s = "a" + t\nzs = [0] * n\nm = "%d" % k\n')
    assert "aug_swap" not in operators_of('s += "x"\n')
    assert "off_by_one" not in operators_of("x = True\n")
    assert operators_of("def f(a: Tuple[int, 2]) -> List[1]:\n    pass\n") == set()
    assert operators_of('s = f"{a + 1}"\n') == set()
    assert "swap_args" not in operators_of("f(a, a)\nmax(a, b)\n")
    # ``x / 1`` -> ``x / 0`` would be a crash, not a fault
    assert {s.after for s in mutation_sites("y = x / 1\n") if s.operator == "off_by_one"} == {"2"}


PROGRAM = '''\
def count_runs(xs, limit):  # counts  runs   (odd spacing kept)
    """Count increasing runs; stop at ``limit``."""
    runs, i = 0, 1
    while i < len(xs) and runs <= limit:
        if xs[i] > xs[i - 1]:
            runs += 1   # one more
        elif not xs[i]:
            continue
        i += 1
    best = max(runs, limit)
    return runs == best or False
'''


def test_mutants_parse_differ_and_keep_every_other_line():
    mutants = mutate(PROGRAM, 50, seed=3)
    assert len(mutants) > 20
    texts = {" ".join(m.code.split()) for m in mutants}
    assert len(texts) == len(mutants)
    assert " ".join(PROGRAM.split()) not in texts
    original = PROGRAM.splitlines(keepends=True)
    for m in mutants:
        ast.parse(m.code)
        if "\n" in m.before + m.after:
            continue  # whole-line removals
        lines = m.code.splitlines(keepends=True)
        changed = [i for i, (a, b) in enumerate(zip(original, lines, strict=True)) if a != b]
        assert changed == [m.line - 1], m
        assert m.before in original[m.line - 1] and m.after in lines[m.line - 1]


def test_k_mutants_spread_over_operators_and_lines():
    for seed in range(10):
        mutants = mutate(PROGRAM, 4, seed=seed)
        assert len(mutants) == 4
        assert len({m.operator for m in mutants}) == 4
        assert len({m.line for m in mutants}) == 4


def test_deterministic_for_a_seed(across_processes):
    first, second = across_processes(
        "from fgit.variants.mutation import mutate, mutation_sites\n"
        f"program = {PROGRAM!r}\n"
        "print(repr([m.code for m in mutate(program, 3, seed=7)]))\n"
        "print(repr(mutation_sites(program)))\n"
    )
    assert first == second
    assert repr([m.code for m in mutate(PROGRAM, 3, seed=7)]) in first
    assert len({tuple(m.code for m in mutate(PROGRAM, 3, seed=s)) for s in range(8)}) > 1


def test_non_ascii_before_the_node_on_the_same_line():
    code = 'def f(a, b):\n    label = "é—ü"; return label if a < b else "ß" + str(a + 1)\n'
    assert mutated(code, "compare_swap", "<=") == code.replace("a < b", "a <= b")
    assert mutated(code, "off_by_one", "2") == code.replace("a + 1", "a + 2")
    assert mutated(code, "arith_swap", "-") == code.replace("a + 1", "a - 1")
    for m in mutate(code, 10):
        ast.parse(m.code)


def test_crlf_and_cr_line_endings_are_kept():
    code = PROGRAM.replace("\n", "\r\n")
    mutants = mutate(code, 50)
    assert mutants
    for m in mutants:
        assert "\n" not in m.code.replace("\r\n", "")
        assert m.code.splitlines() != code.splitlines()
    code = "x = 1\ry = x + 2\r"
    assert mutated(code, "arith_swap", "-") == "x = 1\ry = x - 2\r"
    assert [s.line for s in mutation_sites(code) if s.operator == "arith_swap"] == [2]


@pytest.mark.parametrize("code", ["def f(:\n", "x = = 1", "a\0b", ""])
def test_invalid_or_empty_code_gives_nothing(code):
    assert mutate(code) == []
    assert mutation_sites(code) == []


def test_code_without_sites_gives_nothing():
    assert mutate('x = "a"') == []
    assert mutate(PROGRAM, 0) == []


def test_few_sites_give_fewer_than_k():
    mutants = mutate("flag = True\n", 3)
    assert mutants == [Mutation("bool_swap", 1, "True", "False", "flag = False\n")]


def test_thirty_line_function_gives_k_distinct_mutants():
    """Speed is measured in benchmarks/mutation.py (a wall-clock assert flakes under load)."""
    code = PROGRAM + "".join(f"    total_{i} = xs[{i}] + limit * {i}\n" for i in range(19))
    assert len(code.splitlines()) == 30
    for seed in range(5):
        mutants = mutate(code, 3, seed=seed)
        assert len(mutants) == 3 and len({m.code for m in mutants}) == 3
        assert all(m.code != code for m in mutants)


@pytest.mark.filterwarnings("ignore:invalid escape sequence")
def test_mbpp_reference_solutions(shared_data, record_property):
    path = shared_data / "mbpp" / "mbpp.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 974
    counts = []
    for row in rows:
        code = row["code"]
        mutants = mutate(code, 3, seed=0)
        for m in mutants:
            ast.parse(m.code)
            assert m.code != code
            assert m.code.count("\r\n") <= code.count("\r\n")
        counts.append(len(mutants))
    covered = sum(c > 0 for c in counts) / len(counts)
    mean = statistics.mean(counts)
    record_property("mbpp_covered", covered)
    record_property("mbpp_mean_mutants_k3", mean)
    print(f"MBPP: {covered:.1%} of solutions get a mutant; mean {mean:.2f} mutants for k=3")
    assert covered >= 0.90
