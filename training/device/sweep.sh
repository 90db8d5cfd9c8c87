#!/usr/bin/env bash
# There, on the device machine (repository root, $OUT set; carry .devicekit): train variants of
# CONFIG side by side on the one GPU (a 22M-parameter model leaves an H100 mostly idle, so four
# runs cost little more than one), then a greedy soup of them (qaflow.training.soup: the runs'
# weights averaged, each joining only if the dev F1 goes up), keep whichever of the runs and the
# soup has the best F1 on the recipe's own dev split (never XQuAD), and leave in $OUT what comes
# back under the tool's limits:
#   model-files.tar (config, tokenizer, card, metrics) and model.safetensors.part-NN of the best,
#   runs.tar (every run's log, card and metrics), sweep.txt (the table the choice was made on).
# With DISTILL_MINUTES set, students then train from the base (CONFIG's model.base; BASE=DIR
# when the arguments name another) for that long with the finished runs and the base as
# teachers, side by side, one per weight in DISTILL_WEIGHTS (the share of the loss from the
# teachers' averaged span distributions; qaflow.training.distill), with DISTILL_SET's settings
# (variant b's by default), and join the soup's candidates, as does the base (SOUP_BASE=0: not).
# Extra arguments go to every `python -m qaflow.training` run; SOUP_SET takes --set arguments
# for the soup's dev scoring (SOUP=0 skips the soup). A CPU smoke run here:
#   SKIP_WHEELS=1 PYTHON=.venv/bin/python OUT=/tmp/kit-out THREADS=1 VARIANTS="a b" \
#       SOUP_SET="--set run.final_eval_max_examples=50" bash training/device/sweep.sh \
#       --max-steps 2 --max-train-examples 64 --set run.final_eval_max_examples=50
set -uo pipefail
config=${CONFIG:-training/minilm-l6-squad-gpu-continue.toml}
python=${PYTHON:-python3}
out=${OUT:?OUT must name the folder whose files come back}
runs=${SWEEP_DIR:-/tmp/qaflow-sweep}
threads=${THREADS:-4}          # torch threads per run for the dev evaluations (on the CPU)
limit_s=${RUN_LIMIT_S:-420}    # each run is killed after this: the tool's call must still return
soup_limit_s=${SOUP_LIMIT_S:-150}
distill_minutes=${DISTILL_MINUTES:-}
distill_weights=${DISTILL_WEIGHTS:-0.5 0.9}
distill_set=${DISTILL_SET---set optimization.learning_rate=1e-4 --set optimization.epochs=3}
# name|settings: every variant continues CONFIG's base on the same data, split and seeds.
variants=(
    "a|"
    "b|--set optimization.learning_rate=1e-4 --set optimization.epochs=3"
    "c|--set optimization.learning_rate=1.5e-4 --set optimization.epochs=4 --set optimization.batch_size=64"
    "d|--set optimization.learning_rate=1e-4 --set optimization.epochs=5"
    # SQuAD plus two of the other sets pack.sh carries: a CPU run from v3 on such a mix was the
    # best single model on SQuAD's dev split (77.86 against 77.4x), and SQuAD's dev questions
    # stay the same when files are added (each file picks its dev articles in turn).
    "e|--set optimization.learning_rate=1e-4 --set optimization.epochs=2 --set data.train_files=['squad_v1.1_train.jsonl.gz','squadshifts.jsonl.gz','tydiqa_goldp_en.jsonl.gz']"
)
if [[ -z ${SKIP_WHEELS:-} ]]; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .devicekit/whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
command -v nvidia-smi >/dev/null && nvidia-smi -L
"$python" -c "import torch, transformers, qaflow.training; print('torch', torch.__version__, \
'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__)" || exit 1
rm -rf "$runs" && mkdir -p "$runs" "$out"
set -f  # the settings hold brackets: the shell must not read them as file patterns
for variant in "${variants[@]}"; do
    name=${variant%%|*}
    [[ -n ${VARIANTS:-} && " $VARIANTS " != *" $name "* ]] && continue  # VARIANTS="a c": those only
    # shellcheck disable=SC2086  # the settings are words on purpose
    timeout "$limit_s" "$python" -m qaflow.training "$config" --data-dir .devicekit/data \
        --output-dir "$runs/$name" --threads "$threads" ${variant#*|} "$@" \
        > "$runs/$name.log" 2>&1 &
done
set +f
wait
tail -n 3 "$runs"/*.log
models=("$runs"/*/model)
base=${BASE:-$("$python" -c "import sys; from qaflow.training.config import load_training_config as l
print(l(sys.argv[1]).model.base)" "$config")}
if [[ -n $distill_minutes ]] && (( ${#models[@]} >= 1 )); then
    teachers="["
    for teacher in "${models[@]}" "$base"; do teachers+="'$teacher',"; done
    teachers="${teachers%,}]"
    for weight in $distill_weights; do
        # shellcheck disable=SC2086  # the settings are words on purpose
        timeout "$limit_s" "$python" -m qaflow.training "$config" --data-dir .devicekit/data \
            --output-dir "$runs/distilled-$weight" --threads "$threads" "$@" $distill_set \
            --set "distillation.teachers=$teachers" --set "distillation.weight=$weight" \
            --set "optimization.time_budget_minutes=$distill_minutes" \
            > "$runs/distilled-$weight.log" 2>&1 &
    done
    wait
    tail -n 3 "$runs"/distilled-*.log
    models=("$runs"/*/model)
fi
if [[ ${SOUP:-1} != 0 ]] && (( ${#models[@]} >= 2 )); then
    # The base is a candidate too: the pick is then never worse on dev than where the runs began.
    [[ ${SOUP_BASE:-1} != 0 ]] && models+=("$base")
    # shellcheck disable=SC2086  # SOUP_SET is words on purpose
    timeout "$soup_limit_s" "$python" -m qaflow.training.soup "$runs/soup/model" "${models[@]}" \
        --greedy "$config" --data-dir .devicekit/data ${SOUP_SET:-} > "$runs/soup.log" 2>&1 \
        || echo "no soup (see soup.log in runs.tar)"
    tail -n 2 "$runs/soup.log"
fi
# The pick: the soup when there is one (it starts from the best run by its own scorer, so it is
# that run or better, and its metrics score every run on SQuAD's dev questions alike; a run's own
# figure is on its own config's dev split, which differs for variant e); else the best run.
best=$("$python" - "$runs" <<'PY' | tee "$out/sweep.txt" | tail -n 1
import json, sys
from pathlib import Path

rows, soup = [], ""
for metrics in sorted(Path(sys.argv[1]).glob("*/model/metrics.json")):
    m, name = json.loads(metrics.read_text()), metrics.parent.parent.name
    rows.append((m["dev"]["f1"], name))
    line = f"{name}: dev EM {m['dev']['exact_match']:.2f} F1 {m['dev']['f1']:.2f} on {m['dev']['count']}"
    if "soup" in m:
        print(f"{line}  mean of {', '.join(Path(p).parent.name for p in m['soup'])}")
        for single in m.get("singles", []):
            print(f"  {Path(single['model']).parent.name}: soup scorer F1 {single['f1']:.2f}")
        soup = name
        continue
    opt = m["config"]["optimization"]
    distill = m["config"].get("distillation", {})
    taught = f"  distilled from {len(distill['teachers'])} (weight {distill['weight']:g})" \
        if distill.get("teachers") else ""
    print(f"{line}  lr {opt['learning_rate']:g} epochs {opt['epochs']} batch {opt['batch_size']}"
          f"  steps {m['global_step']}/{m['total_steps']}  {m['train_seconds']:.0f} s{taught}")
print(soup if soup else max(rows, key=lambda row: row[0])[1] if rows else "")
PY
)
tar -C "$runs" --exclude model.safetensors --exclude checkpoints --exclude '.dev-eval-model' --exclude '.final-eval-model' \
    --exclude '.partial-model' -cf "$out/runs.tar" .
if [[ -z $best ]]; then
    echo "no run finished" >&2
    exit 1
fi
echo "best: $best"
tar -C "$runs/$best/model" --exclude model.safetensors -cf "$out/model-files.tar" .
split -b 15M -d "$runs/$best/model/model.safetensors" "$out/model.safetensors.part-"
ls -la "$out"
