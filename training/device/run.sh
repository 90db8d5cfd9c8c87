#!/usr/bin/env bash
# There, on the device machine (repository root, $OUT set; carry .devicekit): install the kit's
# wheels, train CONFIG, and leave the model in $OUT in pieces under the tool's 16 MiB a file:
# model-files.tar (config, tokenizer, card, metrics), model.safetensors.part-NN, train.log.
# Extra arguments go to `python -m qaflow.training`.
# A CPU smoke run here: SKIP_WHEELS=1 PYTHON=.venv/bin/python OUT=/tmp/kit-out \
#     bash training/device/run.sh training/minilm-l6-squad-gpu-continue.toml --max-steps 2 ...
set -euo pipefail
config=${1:-training/minilm-l6-squad-gpu-continue.toml}
shift || true
python=${PYTHON:-python3}
out=${OUT:?OUT must name the folder whose files come back}
run=${RUN_DIR:-/tmp/qaflow-run}
if [[ -z ${SKIP_WHEELS:-} ]]; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .devicekit/whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
command -v nvidia-smi >/dev/null && nvidia-smi -L
mkdir -p "$out"
"$python" -m qaflow.training "$config" --data-dir .devicekit/data --output-dir "$run" "$@" \
    2>&1 | tee "$out/train.log"
tar -C "$run/model" --exclude model.safetensors -cf "$out/model-files.tar" .
split -b 15M -d "$run/model/model.safetensors" "$out/model.safetensors.part-"
ls -la "$out"
