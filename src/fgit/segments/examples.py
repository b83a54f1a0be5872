"""Small built-in pairs with known sensitive tokens, for tests, the report's tests and docs."""

from fgit.records import Pair

OFF_BY_ONE = Pair(
    id="example/off-by-one",
    instruction="Write a function that returns the running sums of a list of integers.",
    response=(
        "def running_sums(a):\n"
        "    out = list(a)\n"
        "    for i in range(1, len(out)):\n"
        "        out[i] = out[i] + out[i - 1]\n"
        "    return out\n"
    ),
    incorrect=(
        "def running_sums(a):\n"
        "    out = list(a)\n"
        "    for i in range(1, len(out)):\n"
        "        out[i] = out[i] + out[i]\n"
        "    return out\n"
    ),
    source="fgit examples",
)
