"""The settings of `fgit run`: one YAML file describes every stage of a pipeline run.

Each section is one stage's settings; the training runs reuse :class:`TrainConfig`'s keys
(``training.defaults`` shared by every run, ``training.runs.NAME`` on top). Paths in the file
are relative to the file. The pipeline fills in what links the stages (pairs, model, folders).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from fgit.config_file import (
    ConfigError,
    ConfigSource,
    Issue,
    config_error,
    issues_from,
    read_settings,
)
from fgit.errors import validation_summary
from fgit.merge import deep_merge
from fgit.training.config import TrainConfig

__all__ = ["RunConfig", "load_run_config", "round_name", "train_config"]

# Keys of TrainConfig that the pipeline sets: the stage links, not a user's choice.
PIPELINE_TRAIN_KEYS = ("pairs", "model", "output_dir")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProblemsSettings(_Strict):
    """Stage 0: where the problems (instruction + correct response + tests) come from."""

    preset: str | None = None  # fgit.problems.PRESETS: mbpp, leetcode, evol-codealpaca, ...
    path: Path | None = None  # or a JSONL/JSON file (native, Alpaca or TRL records)
    decontaminate: bool = True  # drop problems overlapping HumanEval(+), MBPP+ and MBPP test
    limit: int | None = Field(None, ge=1)  # keep the first N problems
    seed: int = 0  # the HumanEval split's seed (humaneval-train)

    @model_validator(mode="after")
    def _one_source(self) -> ProblemsSettings:
        if (self.preset is None) == (self.path is None):
            raise ValueError("give exactly one of preset and path")
        return self


class VariantsSettings(_Strict):
    """Stage 1: K similar-but-incorrect candidates per problem."""

    teacher: str = "mutation"  # mutation, a packaged name/folder (hf:), openai:MODEL@URL, vllm:
    k: int = Field(3, ge=1)
    temperature: float = Field(0.8, ge=0)
    max_new_tokens: int = Field(1024, ge=1)
    batch_size: int = Field(16, ge=1)
    seed: int = 0
    template: Path | None = None  # a prompt template file with {instruction} and {response}
    # Requests in flight to an openai: teacher (1 for llama-cpp-python's one-at-a-time server).
    # Not part of the stage key: it changes speed, not the samples (each carries its own seed).
    concurrency: int | None = Field(None, ge=1)


class SelectionSettings(_Strict):
    """Stage 2: keep the most similar candidate that really fails its tests."""

    embedder: str = "minilm"  # minilm, lexical, unixcoder, hf:NAME, lm:NAME
    tests: bool = True
    timeout: float = Field(10.0, gt=0)  # sandbox wall-clock limit per program (s)
    workers: int | None = Field(None, ge=1)


class SegmentsSettings(_Strict):
    """Stage 3: error-sensitive token statistics, and the pairs the report shows."""

    examples: int = Field(12, ge=0)


class TrainingSettings(_Strict):
    """Stage 4: one fine-tuning run per entry of ``runs`` (TrainConfig keys)."""

    defaults: dict[str, Any] = Field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = Field(default_factory=lambda: {"fgit": {"loss": "fgit"}})
    # inline: in this process. accelerate: `accelerate launch` with accelerate_config (multi-GPU).
    launcher: Literal["inline", "accelerate"] = "inline"
    accelerate_config: Path | None = None

    @model_validator(mode="after")
    def _check(self) -> TrainingSettings:
        for name in self.runs:
            if not name or name == "base" or not name.replace("-", "").replace("_", "").isalnum():
                raise ValueError(
                    f"run name {name!r}: use letters, digits, - and _ ('base' is the untrained "
                    "model)"
                )
        if self.launcher == "accelerate" and self.accelerate_config is None:
            raise ValueError("launcher accelerate needs accelerate_config (a YAML of accelerate)")
        return self


class EvaluationSettings(_Strict):
    """Stage 5: greedy pass@1 of the base model and of every trained model."""

    # Names of fgit.data.EVALUATION_BENCHMARKS (humaneval(+), mbpp(+), bigcodebench-...), or
    # problems:PATH (your own file, relative to the config).
    benchmarks: list[str] = Field(default_factory=lambda: ["humaneval+", "mbpp+"])
    models: list[str] | None = None  # "base" and training run names; default: all of them
    # all: the whole benchmark. heldout-half: HumanEval's half that humaneval-train left out.
    tasks: Literal["all", "heldout-half"] = "all"
    prompt: Literal["auto", "chat", "plain"] = "auto"
    # None: each benchmark's default, 512 (BigCodeBench: 1280, upstream's); a number: every one.
    max_new_tokens: int | None = Field(None, ge=1)
    batch_size: int = Field(16, ge=1)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    cache: Literal["dynamic", "static"] = "dynamic"
    engine: Literal["transformers", "vllm"] = "transformers"
    limit: int | None = Field(None, ge=1)  # only the first N tasks (a smoke run)
    workers: int | None = Field(None, ge=1)

    @field_validator("benchmarks")
    @classmethod
    def _known(cls, benchmarks: list[str]) -> list[str]:
        from fgit.data import EVALUATION_BENCHMARKS
        from fgit.evaluation.problems import benchmark_name, is_problems_benchmark, problems_path

        names = []
        for benchmark in benchmarks:
            if is_problems_benchmark(benchmark):
                names.append(benchmark_name(problems_path(benchmark)))  # ValueError: no PATH
            elif benchmark in EVALUATION_BENCHMARKS:
                names.append(benchmark)
            else:
                raise ValueError(
                    f"unknown benchmark {benchmark!r}; choose from "
                    f"{', '.join(EVALUATION_BENCHMARKS)} or problems:PATH"
                )
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:  # a problems file's results are named after the file's name alone
            raise ValueError(
                f"benchmark {twice[0]} appears twice (problems files need distinct file names)"
            )
        return benchmarks

    @model_validator(mode="after")
    def _prose_needs_chat(self) -> EvaluationSettings:
        from fgit.evaluation.benchmark_names import bigcodebench_split

        prose = [name for name in self.benchmarks if bigcodebench_split(name) == "instruct"]
        if self.prompt == "plain" and prose:
            raise ValueError(
                f"{prose[0]} has prose prompts, which prompt plain (a base model) cannot complete"
            )
        return self


class SharesSettings(_Strict):
    """The share of each source's pairs a round trains on: its own attempts' pairs and the
    teacher's (the selection stage's), each in [0, 1], chosen by a hash of the pair id."""

    onpolicy: float = Field(1.0, ge=0, le=1)
    teacher: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _not_empty(self) -> SharesSettings:
        if self.onpolicy == 0 and self.teacher == 0:
            raise ValueError("onpolicy and teacher are both 0: a round would have no pairs")
        return self


class OnPolicySettings(_Strict):
    """Rounds of learning from the model's own attempts (docs/onpolicy.md): each run of
    ``runs`` samples its current model on the training problems, makes pairs of its passing
    and failing attempts, trains from its current model, and is evaluated, ``rounds`` times."""

    runs: list[str] = Field(default_factory=list)  # training runs that learn on-policy
    rounds: int = Field(2, ge=1)
    samples: int = Field(4, ge=1)  # attempts per problem and round
    temperature: float = Field(0.8, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(512, ge=1)
    seed: int = 0  # sampling seeds and the random rules' draws
    # The correct side: model (a passing attempt, else the reference), model-only, reference.
    correct: Literal["model", "model-only", "reference"] = "model"
    # The incorrect side: the failing attempt most similar to a correct side, or a random one.
    incorrect: Literal["most-similar", "random"] = "most-similar"
    pairs_per_problem: int = Field(1, ge=1)
    shares: SharesSettings = SharesSettings()

    @field_validator("runs")
    @classmethod
    def _distinct(cls, runs: list[str]) -> list[str]:
        twice = sorted({name for name in runs if runs.count(name) > 1})
        if twice:
            raise ValueError(f"run {twice[0]} is listed twice")
        return runs


def round_name(run: str, round_number: int) -> str:
    """The model a run has after round ``round_number`` (1-based): ``NAME-rK``."""
    return f"{run}-r{round_number}"


class RunConfig(_Strict):
    name: str = Field(min_length=1)
    # Shown as a banner in the report and in the summary (e.g. "smoke demonstration").
    label: str | None = None
    output_dir: Path
    model: str  # the student: packaged name, local folder or hub id
    data_dir: Path | None = None  # default: $FGIT_DATA_DIR, else ../shared/data
    problems: ProblemsSettings
    variants: VariantsSettings = VariantsSettings()
    selection: SelectionSettings = SelectionSettings()
    segments: SegmentsSettings = SegmentsSettings()
    training: TrainingSettings = TrainingSettings()
    evaluation: EvaluationSettings = EvaluationSettings()
    onpolicy: OnPolicySettings = OnPolicySettings()
    report: bool = True

    @model_validator(mode="after")
    def _check(self) -> RunConfig:
        self._check_onpolicy()
        names = set(self.training.runs) | {"base"} | set(self.round_models)
        unknown = [m for m in self.evaluation.models or [] if m not in names]
        if unknown:
            kinds = (
                "'base', a training run or a round's model"
                if self.onpolicy.runs
                else "'base' or a training run"
            )
            raise ValueError(
                f"evaluation.models: {', '.join(unknown)} is not {kinds} "
                f"({', '.join(sorted(names))})"
            )
        if self.evaluation.tasks == "heldout-half":
            if self.problems.preset != "humaneval-train":
                raise ValueError(
                    "evaluation.tasks heldout-half needs problems.preset humaneval-train (the "
                    "half it leaves out is what is evaluated)"
                )
            if any(b not in ("humaneval", "humaneval+") for b in self.evaluation.benchmarks):
                raise ValueError("evaluation.tasks heldout-half applies to humaneval(+) only")
        elif self.problems.preset in ("humaneval-train", "humaneval-heldout"):
            bad = [b for b in self.evaluation.benchmarks if b.startswith("humaneval")]
            if bad:
                raise ValueError(
                    f"training on HumanEval problems and evaluating on all of {bad[0]} would "
                    "score the training data; set evaluation.tasks: heldout-half"
                )
        return self

    def _check_onpolicy(self) -> None:
        unknown = [name for name in self.onpolicy.runs if name not in self.training.runs]
        if unknown:
            raise ValueError(
                f"onpolicy.runs: {unknown[0]} is not a training run "
                f"({', '.join(self.training.runs)})"
            )
        clash = sorted(set(self.round_models) & set(self.training.runs))
        if clash:
            raise ValueError(
                f"training run {clash[0]} has the name of a round's model (onpolicy.runs "
                "NAME's rounds are NAME-r1, NAME-r2, ...); rename it"
            )

    @property
    def teacher_runs(self) -> list[str]:
        """The training runs that train once on the teacher's pairs."""
        return [name for name in self.training.runs if name not in self.onpolicy.runs]

    @property
    def needs_teacher(self) -> bool:
        """Whether the variants, selection and segments stages run: unless every run learns
        on-policy without the teacher's pairs. A config without on-policy runs keeps them even
        with no training run (``runs: {}`` makes and shows the pairs, as before rounds)."""
        if not self.onpolicy.runs:
            return True
        return bool(self.teacher_runs) or self.onpolicy.shares.teacher > 0

    @property
    def round_models(self) -> list[str]:
        """Every on-policy run's model after each round, run by run."""
        rounds = range(1, self.onpolicy.rounds + 1)
        return [round_name(name, k) for name in self.onpolicy.runs for k in rounds]

    @property
    def eval_models(self) -> list[str]:
        """The models evaluated: ``evaluation.models``, else base, every teacher run and every
        round of every on-policy run."""
        named = self.evaluation.models or ["base", *self.teacher_runs, *self.onpolicy.runs]
        rounds = range(1, self.onpolicy.rounds + 1)
        models: list[str] = []
        for name in named:  # an on-policy run's name stands for its model after every round
            expanded = (
                [round_name(name, k) for k in rounds] if name in self.onpolicy.runs else [name]
            )
            models += [model for model in expanded if model not in models]
        return models


def train_config(config: RunConfig, name: str, **links: Any) -> TrainConfig:
    """The :class:`TrainConfig` of training run ``name``: defaults, the run's keys deep-merged
    on top, the links. :func:`parse_run_config` has checked every run's settings (and says
    where a bad one is written); a ValueError here is a config that was built around it."""
    given = [key for key in PIPELINE_TRAIN_KEYS if key in _run_settings(config, name)]
    if given:
        raise ValueError(f"training.runs.{name}.{given[0]}: {_SET_BY_PIPELINE}")
    try:
        return TrainConfig.model_validate(_run_settings(config, name, links))
    except ValidationError as error:
        raise ValueError(f"training.runs.{name}: {validation_summary(error)}") from None


_SET_BY_PIPELINE = (
    "the pipeline sets this (the selected pairs, the run's model and its folder); remove it"
)


def _run_settings(
    config: RunConfig, name: str, links: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run ``name``'s keys deep-merged on ``training.defaults``; with ``links`` (a dict, even
    empty) also the keys the pipeline sets, its own defaults under ``links``."""
    settings = deep_merge(config.training.defaults, config.training.runs[name])
    if links is None:
        return settings
    return {
        **settings,
        "pairs": Path("pairs.jsonl"),
        "model": config.model,
        "output_dir": config.output_dir / "train" / name,
        **links,
    }


def training_issues(config: RunConfig) -> list[Issue]:
    """Every training run's settings checked as :class:`TrainConfig`, each problem at the key
    the user wrote: ``training.defaults.KEY`` for a shared one (said once, naming the runs it
    breaks when not all), ``training.runs.NAME.KEY`` for a run's own."""
    defaults = config.training.defaults
    found: dict[Issue, list[str]] = {}
    for name, own in config.training.runs.items():
        where = ("training", "runs", name)
        issues = [
            Issue((*where, key) if key in own else ("training", "defaults", key), _SET_BY_PIPELINE)
            for key in PIPELINE_TRAIN_KEYS
            if key in own or key in defaults
        ]
        if not issues:
            try:
                TrainConfig.model_validate(_run_settings(config, name, {}))
            except ValidationError as error:
                issues = [
                    _origin(issue, own, defaults, where)
                    for issue in issues_from(error, TrainConfig)
                ]
        for issue in issues:
            found.setdefault(issue, []).append(name)
    located = []
    for issue, names in found.items():
        shared = issue.path[:2] == ("training", "defaults")
        if shared and len(names) < len(config.training.runs):  # e.g. beta, and an sft run
            issue = Issue(issue.path, f"{issue.message} (in run {', '.join(names)})")
        located.append(issue)
    return located


def _origin(
    issue: Issue, own: dict[str, Any], defaults: dict[str, Any], where: tuple[str, ...]
) -> Issue:
    """``issue`` (at a TrainConfig key path) moved to where that key is written: the run's own
    keys, else ``training.defaults``; a problem of the whole run (no key) is the run's."""
    path = issue.path
    if path and not _has(own, path) and _has(defaults, path):
        return Issue(("training", "defaults", *path), issue.message)
    return Issue((*where, *path), issue.message)


def _has(settings: dict[str, Any], path: tuple[Any, ...]) -> bool:
    """Whether ``settings`` sets the key at ``path`` (or a non-mapping above it)."""
    node: Any = settings
    for part in path:
        if not isinstance(node, dict):
            return True  # e.g. lora: null here, and lora.r is what fails
        if part not in node:
            return False
        node = node[part]
    return True


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Relative paths in the file are relative to the file, as in `fgit train`'s configs."""

    def fix(section: dict[str, Any] | None, key: str) -> None:
        if isinstance(section, dict) and isinstance(section.get(key), str):
            path = Path(section[key]).expanduser()
            section[key] = str(path if path.is_absolute() else base / path)

    fix(data, "output_dir")
    fix(data, "data_dir")
    fix(data.get("problems"), "path")
    fix(data.get("variants"), "template")
    fix(data.get("training"), "accelerate_config")
    evaluation = data.get("evaluation")
    if isinstance(evaluation, dict) and isinstance(evaluation.get("benchmarks"), list):
        evaluation["benchmarks"] = [_problems_spec(b, base) for b in evaluation["benchmarks"]]


def _problems_spec(benchmark: Any, base: Path) -> Any:
    """``problems:PATH`` with PATH relative to the config file, like every path in it."""
    from fgit.evaluation.problems import PREFIX, is_problems_benchmark

    if not isinstance(benchmark, str) or not is_problems_benchmark(benchmark):
        return benchmark
    raw = benchmark.removeprefix(PREFIX)
    if not raw.strip():
        return benchmark  # no path: validation says so
    path = Path(raw).expanduser()
    return benchmark if path.is_absolute() else f"{PREFIX}{base / path}"


def parse_run_config(
    data: Any, source: str | ConfigSource, base: Path, overrides: dict[str, Any] | None = None
) -> RunConfig:
    """Validate a config mapping (``source`` names it in errors, with the lines of its keys
    when it is a :class:`ConfigSource`; paths relative to ``base``)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source if isinstance(source, str) else source.name}: expected a mapping of "
            f"settings, got {type(data).__name__}"
        )
    data = dict(data)
    _resolve_paths(data, base)
    data = deep_merge(data, overrides or {})
    if not isinstance(source, ConfigSource):
        source = ConfigSource(source)
    source = replace(source, overrides=overrides or {})
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as error:
        raise config_error(issues_from(error, RunConfig), source) from None
    # Every run's settings are checked before anything runs, each at the key that is wrong.
    issues = training_issues(config) or onpolicy_issues(config)
    if issues:
        raise config_error(issues, source)
    return config


def onpolicy_issues(config: RunConfig) -> list[Issue]:
    """The on-policy runs share their first round's attempts (the base model's), sampled on the
    problems that training does not hold out: they must hold out the same ones."""
    splits = {
        name: (settings.holdout_fraction, settings.holdout_seed)
        for name in config.onpolicy.runs
        for settings in [train_config(config, name)]
    }
    unmerged = [
        name
        for name in config.onpolicy.runs
        if (lora := train_config(config, name).lora) is not None and not lora.merge
    ]
    if unmerged:
        return [
            Issue(
                ("onpolicy", "runs"),
                f"{unmerged[0]} keeps lora.merge false, but each round trains from the last "
                "round's merged model (train/NAME-rK/model); keep lora.merge true",
            )
        ]
    if len(set(splits.values())) > 1:
        shown = ", ".join(
            f"{name} {fraction} (seed {seed})" for name, (fraction, seed) in splits.items()
        )
        return [
            Issue(
                ("onpolicy", "runs"),
                f"the on-policy runs hold out different problems ({shown}); they share the base "
                "model's attempts, so give them one holdout_fraction and holdout_seed",
            )
        ]
    return []


def load_run_config(path: Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """A run config from a YAML file, with ``--set`` overrides (nested dicts) on top."""
    data, source = read_settings(path)
    return parse_run_config(data, source, Path(path).resolve().parent, overrides)
