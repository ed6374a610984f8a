#!/bin/bash
# Put what tools/device_train.sh handed back (the files of one call, in FILES_AT) into WEIGHTS_DIR:
# each weights file joined from its parts and checked against the sha256 its manifest holds.
#   tools/device_fetch.sh FILES_AT WEIGHTS_DIR
set -euo pipefail
src=$1; dst=$2
mkdir -p "$dst"
tar xzf "$src/json.tgz" -C "$dst"
for first in "$src"/*.weights.npz.00; do
  name=$(basename "$first" .00)
  cat "$src/$name".?? > "$dst/$name"
  model=${name%.weights.npz}
  want=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['weights_sha256'])" \
      "$dst/$model.manifest.json")
  got=$(sha256sum "$dst/$name" | cut -d' ' -f1)
  [ "$want" = "$got" ] || { echo "$name: sha256 $got, manifest says $want" >&2; exit 1; }
  echo "$name: sha256 checked"
done
cp "$src/device.log" "$dst/device.log" 2>/dev/null || true
