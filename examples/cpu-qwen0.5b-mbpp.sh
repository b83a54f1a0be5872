#!/usr/bin/env bash
# The whole experiment of docs/results.md (issues 11 and 15), from the teacher to the report.
# Resumable: every step is cached (the pipeline's stage keys, one validation file per model), so
# after an interruption run it again and it goes on where it stopped.
#
#   bash examples/cpu-qwen0.5b-mbpp.sh            # RUN=... to write elsewhere
#   ONPOLICY=0 bash examples/cpu-qwen0.5b-mbpp.sh # issue 11's arms only, without step 5
#
# Needs the teacher's llama.cpp server (see examples/cpu-qwen0.5b-mbpp.yaml) until the variants
# stage is done; nothing after that uses it.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=examples/cpu-qwen0.5b-mbpp.yaml
RUN=${RUN:-runs/cpu-qwen0.5b-mbpp}
HOLDOUT=0.2               # = training.defaults.holdout_fraction in $CONFIG
BASE=qwen2.5-coder-0.5b-instruct
SWEEP=(sft-lr1e-4 sft-lr4e-4 fgit-lr1e-4 fgit-lr4e-4)

# 1. problems -> teacher's variants -> pairs -> segments -> the sweep's four training runs
fgit run "$CONFIG" --set output_dir="$RUN" --until "train:${SWEEP[-1]}"

# 2. greedy pass@1 on the held-out 20% of the training problems, for the base model and each run
for name in base "${SWEEP[@]}"; do
    model=$RUN/train/$name/model
    [[ $name == base ]] && model=$BASE
    [[ -f $RUN/validation/$name.json ]] || fgit validate --model "$model" \
        --problems "$RUN/problems/problems.jsonl" --holdout-fraction "$HOLDOUT" \
        --out "$RUN/validation/$name.json"
done

# 3. per loss, the learning rate with the best validation pass@1 (a tie: the lower rate)
choose() {
    python - "$RUN/validation" "$1" <<'PY'
import json, sys
from pathlib import Path
folder, loss = Path(sys.argv[1]), sys.argv[2]
runs = sorted(folder.glob(f"{loss}-lr*.json"), key=lambda p: float(p.stem.split("-lr")[1]))
print(max(runs, key=lambda p: json.loads(p.read_text())["passed"]).stem)  # max keeps the first
PY
}
SFT=$(choose sft)
FGIT=$(choose fgit)
LR=$(python -c "print(float('${FGIT##*-lr}'))")   # fgit-lr4e-4 -> 0.0004
echo "chosen: $SFT, $FGIT; DPO at FGIT's rate $LR"

# 4. DPO at FGIT's rate, then base and the three arms on HumanEval(+) and MBPP(+), and the report
fgit run "$CONFIG" --set output_dir="$RUN" \
    --set "training.runs.dpo={loss: dpo, beta: 0.1, learning_rate: $LR}" \
    --set "evaluation.models=[base, $SFT, $FGIT, dpo]"

# 5. Issue 15: on-policy rounds, a run of its own (examples/cpu-qwen0.5b-onpolicy.yaml): the same
#    problems, holdout, training defaults and evaluation, no teacher. CodeLutra's dual loss
#    (DPO + λ·SFT, β = 0.1, λ = 1) and FGIT, each on pairs of its own passing and failing
#    attempts (4 per problem, T = 0.8), 2 rounds, at FGIT's chosen rate (docs/onpolicy.md).
#    Only round 2's models are scored on the benchmarks; round 1's are measured by round 2's
#    attempts, which are their samples on the training problems (the report's Rounds section).
[[ ${ONPOLICY:-1} == 1 ]] || exit 0
fgit run examples/cpu-qwen0.5b-onpolicy.yaml --set output_dir="$RUN-onpolicy" \
    --set "training.runs.codelutra.learning_rate=$LR" \
    --set "training.runs.fgit-onpolicy.learning_rate=$LR"
