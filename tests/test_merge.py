"""fgit.merge.deep_merge: the one merge of settings (--set, training.defaults under a run)."""

from __future__ import annotations

import copy

from fgit.merge import deep_merge


def test_nested_mappings_merge_key_by_key():
    base = {"lora": {"r": 16, "alpha": 64}, "loss": "fgit"}
    assert deep_merge(base, {"lora": {"r": 8}}) == {"lora": {"r": 8, "alpha": 64}, "loss": "fgit"}


def test_none_lists_and_scalars_replace():
    base = {"lora": {"r": 16}, "report_to": ["wandb"], "alpha": 2.0}
    merged = deep_merge(base, {"lora": None, "report_to": ["tensorboard"], "alpha": 3.0})
    assert merged == {"lora": None, "report_to": ["tensorboard"], "alpha": 3.0}


def test_a_mapping_on_top_of_none_or_nothing_is_taken_whole():
    assert deep_merge({"lora": None}, {"lora": {"r": 8}}) == {"lora": {"r": 8}}
    assert deep_merge({}, {"a": {"b": {"c": 1}}}) == {"a": {"b": {"c": 1}}}


def test_neither_input_changes():
    base = {"training": {"defaults": {"max_steps": 5, "lora": {"r": 16}}}}
    overrides = {"training": {"defaults": {"lora": {"alpha": 8}}}, "x": {"y": 1}}
    before = copy.deepcopy((base, overrides))
    merged = deep_merge(base, overrides)
    merged["x"]["y"] = 2  # the result does not share the overrides' dicts either
    merged["training"]["defaults"]["lora"]["r"] = 4
    assert (base, overrides) == before


def test_a_replace_mapping_is_taken_whole_as_a_plain_dict():
    from fgit.merge import Replace

    base = {"training": {"runs": {"sft": {"loss": "sft"}, "fgit": {"loss": "fgit"}}}}
    merged = deep_merge(base, {"training": {"runs": Replace({"x": Replace({"loss": "dpo"})})}})
    assert merged == {"training": {"runs": {"x": {"loss": "dpo"}}}}
    assert type(merged["training"]["runs"]) is dict  # what YAML and JSON writers take
    assert type(merged["training"]["runs"]["x"]) is dict


def test_set_override_starts_afresh_below_an_earlier_null_or_scalar():
    from fgit.merge import Replace, set_override

    overrides: dict = {}
    for path, value in [
        (["training", "runs"], None),
        (["training", "runs", "a"], {"loss": "sft"}),
        (["training", "runs", "b", "loss"], "fgit"),
        (["lora", "r"], 8),
        (["lora"], 5),
        (["lora", "alpha"], 4),
        (["seed"], None),
        (["seed"], {"x": 1}),
    ]:
        set_override(overrides, path, value)
    assert overrides == {
        "training": {"runs": {"a": {"loss": "sft"}, "b": {"loss": "fgit"}}},
        "lora": {"alpha": 4},
        "seed": {"x": 1},
    }
    assert isinstance(overrides["training"]["runs"], Replace)  # the null said: not the file's
    assert not isinstance(overrides["training"], Replace)  # merges into the file's training
    assert isinstance(overrides["lora"], Replace) and isinstance(overrides["seed"], Replace)
    base = {"training": {"defaults": {"epochs": 1}, "runs": {"old": {}}}, "lora": {"r": 16}}
    assert deep_merge(base, overrides) == {
        "training": {
            "defaults": {"epochs": 1},
            "runs": {"a": {"loss": "sft"}, "b": {"loss": "fgit"}},
        },
        "lora": {"alpha": 4},
        "seed": {"x": 1},
    }
