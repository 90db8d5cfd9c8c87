#!/usr/bin/env bash
# Here, before a device run: gather what the GPU machine lacks into .devicekit/ (git-ignored,
# named in the run's `carry`): SQuAD v1.1 train (and EXTRA_DATA) and the Python 3.12 wheels of qaflow's
# training-time dependencies that the machine's image does not hold (pydantic and friends).
set -euo pipefail
data=${1:-../shared/data/qa-train}
kit=.devicekit
python=${PYTHON:-.venv/bin/python}
rm -rf "$kit" && mkdir -p "$kit/whl" "$kit/data"
# SQuAD, and the sets sweep.sh's variant e adds (EXTRA_DATA; QED's 2.8 MB would pass the limit).
extra_data=${EXTRA_DATA-squadshifts.jsonl.gz tydiqa_goldp_en.jsonl.gz}
for name in squad_v1.1_train.jsonl.gz squad_v1.1_train.ambiguous_answer_start_ids.txt $extra_data; do
    cp "$data/$name" "$kit/data/"
done
pins=$("$python" - <<'PY'
from importlib.metadata import version
names = ["pydantic", "pydantic_core", "pydantic-settings", "python-dotenv",
         "typing-inspection", "annotated-types"]
print(" ".join(f"{name}=={version(name)}" for name in names))
PY
)
# shellcheck disable=SC2086
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$kit/whl" $pins
tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
extra=$(du -sb "$kit" | cut -f1)
total_mib=$(( (tree + extra) / 1048576 ))
echo "repository ${tree} bytes + kit ${extra} bytes = ${total_mib} MiB (the tool takes 64)"
if (( total_mib >= 63 )); then
    echo "too big for one device call: carry less" >&2
    exit 1
fi
