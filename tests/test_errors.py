"""fgit.errors: the user's errors and how they are put in one line."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from fgit.errors import validation_summary
from fgit.training import ConfigError, load_train_config


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    a: int = 0
    b: int = 0
    c: int = 0
    d: int = 0

    @model_validator(mode="after")
    def _check(self) -> _Settings:
        if self.a < 0:
            raise ValueError("a must not be negative")
        return self


def _error(**data: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        _Settings.model_validate(data)
    return info.value


def test_validation_summary_is_one_line_of_key_and_message() -> None:
    assert validation_summary(_error(a=-1)) == "a must not be negative"  # no "Value error, "
    assert validation_summary(_error(a="x")) == "a: Input should be a valid integer, " + (
        "unable to parse string as an integer"
    )
    many = validation_summary(_error(a="x", b="x", c="x", d="x", e=1))
    assert many.count(": Input should be") == 3 and many.endswith(" (and 2 more)")
    assert "\n" not in many


def test_config_errors_use_it() -> None:
    base = {"pairs": "p.jsonl", "model": "m", "output_dir": "out"}
    with pytest.raises(ConfigError) as info:
        load_train_config(None, base | {"quantization": "4bit"})
    assert str(info.value).startswith("command line: quantization (QLoRA) needs lora settings")
