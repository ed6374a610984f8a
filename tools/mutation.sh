#!/usr/bin/env bash
# Mutation testing of the modules with fast tests (mutmut 3, configured in setup.cfg [mutmut]).
# Not run in CI. Usage:
#   bash tools/mutation.sh                      # every module below (about 25 minutes on 2 busy cores)
#   bash tools/mutation.sh 'leukemia_core.evaluation.metrics.*'   # only these mutants (fnmatch on mutant names)
# Writes mutation/summary.json (counts per module, wall seconds of the last full run) and
# mutation/survivors.txt (every mutant not killed);
# `.venv/bin/mutmut show NAME` prints a mutant's diff. mutmut works in mutants/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
if [ ! -x "$PY" ]; then
    echo "no .venv: run ./run test once first (it creates .venv)" >&2
    exit 1
fi
want=$(sed -n 's/^mutmut==//p' requirements-dev.txt)
have=$("$PY" -c 'import importlib.metadata as m; print(m.version("mutmut"))' 2>/dev/null || true)
if [ "$have" != "$want" ]; then
    "$PY" -m pip install -q -r requirements-dev.txt
fi

# Mutants to run: whole modules, and of leukemia_core/inference.py only the CSV-row helpers
# (the rest of it loads models and is tested by the slow tests).
DEFAULT=(
    'leukemia_core.evaluation.metrics.*'
    'leukemia_core.data.splits.*'
    'leukemia_core.data.datasets.*'
    'leukemia_core.models.calibration.*'
    'leukemia_core.data.images.*'
    'leukemia_core.data.preprocess.*'
    'leukemia_core.cells.finder.*'
    'leukemia_core.cells.check.*'
    'leukemia_core.inference.x_image_row__mutmut_*'
    'leukemia_core.inference.x_cell_rows__mutmut_*'
)
if [ $# -gt 0 ]; then
    PATTERNS=("$@"); FULL=0
else
    # a full run starts from scratch, so its figures and time do not depend on earlier runs
    PATTERNS=("${DEFAULT[@]}"); FULL=1
    rm -rf mutants
fi
JOBS=${MUTATION_JOBS:-$(nproc)}

export TF_CPP_MIN_LOG_LEVEL=2
start=$(date +%s)
status=0
nice -n 19 .venv/bin/mutmut run --max-children "$JOBS" "${PATTERNS[@]}" > mutation/last-run.log 2>&1 || status=$?
end=$(date +%s)
if [ "$status" -ne 0 ]; then
    tail -40 mutation/last-run.log >&2
    echo "mutmut run failed (exit $status); full log: mutation/last-run.log" >&2
    exit "$status"
fi
"$PY" tools/mutation_summary.py --seconds $((end - start)) --full "$FULL" -- "${DEFAULT[@]}"
