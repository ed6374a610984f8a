#!/bin/bash
# Train models in one call on a lent GPU machine (Keras on JAX; no TensorFlow there), from a cells
# pack, and hand back each model's weights, manifest and history in pieces the call can return.
#
#   tools/device_train.sh PACK MODEL[:FLAGS] ...     e.g.
#   tools/device_train.sh .device/cells-80-black.npz "inception_v3:--init nsfwjs-inception-v3 --epochs 60"
#
# Each MODEL[:FLAGS] runs `python -m leukemia_core train --model MODEL --cells-pack PACK FLAGS`
# (FLAGS: any train options; the pack fixes the data, crop and input size). What the call needs
# travels with it (docs/training.md, "Training on a lent GPU"): the pack and the wheels in .device/
# (`carry`), the pretrained start in model_weights-pretrained/. On this machine, as a rehearsal,
# DEVICE_LOCAL=1 skips the wheel install and writes to runs/device-out instead of $OUT.
set -euo pipefail
pack=$1; shift
out=${OUT:-runs/device-out}
if [ "${DEVICE_LOCAL:-0}" != 1 ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      .device/whl/*.whl
  export PYTHONPATH=/tmp/site
  py=python3
else
  py=${PYTHON:-.venv/bin/python}
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
$py -c "import jax; print('devices:', jax.devices())" | tee "$out/device.log"
for spec in "$@"; do
  model=${spec%%:*}
  flags=""
  [ "$spec" != "$model" ] && flags=${spec#*:}
  echo "== $model $flags" | tee -a "$out/device.log"
  start=$SECONDS
  # shellcheck disable=SC2086  # FLAGS are words of train options
  $py -m leukemia_core train --model "$model" --cells-pack "$pack" $flags \
      --run-dir "$work/run-$model" --weights-dir "$work/w" --cache-dir "" --verbose 2 2>&1 | tee -a "$out/device.log"
  echo "$model: $((SECONDS - start)) s wall" | tee -a "$out/device.log"
done
# at most 8 files of 16 MiB come back: the JSON files in one archive, each weights file in 15 MiB parts
(cd "$work/w" && tar czf "$out/json.tgz" ./*.json)
for f in "$work"/w/*.weights.npz; do
  split -b 15M -d "$f" "$out/$(basename "$f")."
done
ls -l "$out"
