#!/bin/bash
# What a call to a lent GPU machine carries (tools/device_train.sh): in .device/ (git-ignored) the
# cells pack and the wheels the machine lacks (Keras and its two small needs; JAX, NumPy, OpenCV,
# scikit-image, pandas and the rest are there), built here.
#   tools/device_prepare.sh [--with-surroundings] [QUALITY]
# The call then carries .device plus model_weights-pretrained/ for a pretrained start, and runs
# with model_weights/ moved out of the tree (a call sends at most 64 MiB): docs/training.md.
set -euo pipefail
crop=black; extra=()
if [ "${1:-}" = "--with-surroundings" ]; then crop=surroundings; extra=(--with-surroundings); shift; fi
quality=${1:-85}
py=${PYTHON:-.venv/bin/python}
D=../shared/data
mkdir -p .device/whl
keras=$($py -c "import keras; print(keras.__version__)")
for w in "keras==$keras" namex optree; do
  $py -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d .device/whl "$w"
done
$py -m leukemia_core cells-pack --model inception_v3 --data $D/cnmc2019 --data $D/aria_all --data $D/bccd \
    "${extra[@]}" --quality "$quality" --out ".device/cells-80-$crop.npz"
du -sh .device/* .device/whl/*
