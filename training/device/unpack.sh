#!/usr/bin/env bash
# Here, after a device run: rebuild the model directory from the files the tool brought back.
#   bash training/device/unpack.sh FILES_AT DEST
set -euo pipefail
files=${1:?the folder the files of the run came back to}
dest=${2:?where the model directory goes}
mkdir -p "$dest"
tar -C "$dest" -xf "$files/model-files.tar"
cat "$files"/model.safetensors.part-* > "$dest/model.safetensors"
ls -la "$dest"
