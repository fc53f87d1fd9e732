#!/usr/bin/env bash
# The prepared GPU check (issue 7, section 6): under 8 minutes on one H100/H200-class GPU, no
# download of data (FMA-shaped synthetic features are generated in memory / a temp dir).
#
#   bash bench/device_check.sh            # from the repository root (or anywhere: it cd's there)
#
# Python: $PYTHON if set, else .venv/bin/python, else python3 — the first whose torch sees a GPU
# and that imports the project. If none does, it creates .venv-gpu (with system site packages, so
# a preinstalled CUDA torch is reused) and runs `pip install -e .` (needs a package index; set
# TORCH_SPEC, e.g. "torch==2.11.0", to install torch too).
#
# Every benchmark updates its *-gpu section of BENCHMARKS.md; logs go to $OUT (if set) or
# bench-gpu-logs/. A summary of every table is printed at the end.
#
# DRY_RUN=1 checks the plumbing on a CPU in a few minutes: tiny sizes, BENCHMARKS.md untouched.
set -euo pipefail
DRY_RUN="${DRY_RUN:-0}"
export DRY_RUN

cd "$(dirname "$0")/.."
LOGS="${OUT:-bench-gpu-logs}"
mkdir -p "$LOGS"
STARTED=$(date +%s)
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

log() { echo "[device_check +$(( $(date +%s) - STARTED ))s] $*" >&2; }

usable() {  # usable PYTHON → 0 when it has CUDA torch and imports the project's training path
  "$1" - <<'EOF' >/dev/null 2>&1
import torch, lightning, optuna, numpy  # noqa: F401
import objectives.training  # noqa: F401
import os
assert os.environ.get("DRY_RUN") == "1" or torch.cuda.is_available()
EOF
}

PY=""
for candidate in "${PYTHON:-}" .venv/bin/python .venv-gpu/bin/python python3 python; do
  [ -n "$candidate" ] || continue
  command -v "$candidate" >/dev/null 2>&1 || [ -x "$candidate" ] || continue
  if usable "$candidate"; then PY="$candidate"; break; fi
done
if [ -z "$PY" ]; then
  log "no Python with CUDA torch and the project; creating .venv-gpu"
  python3 -m venv --system-site-packages .venv-gpu
  if [ -n "${TORCH_SPEC:-}" ]; then
    timeout 600 .venv-gpu/bin/pip install -q "$TORCH_SPEC"
  fi
  timeout 600 .venv-gpu/bin/pip install -q -e . \
    || timeout 300 .venv-gpu/bin/pip install -q --no-deps -e .
  PY=.venv-gpu/bin/python
  if ! usable "$PY"; then
    echo "error: $PY cannot import CUDA torch + lightning + optuna + objectives;" \
         "install them (pip install torch==<cuda build> && pip install -e .) and rerun" >&2
    exit 1
  fi
fi
log "python: $PY"
"$PY" - <<'EOF' | tee "$LOGS/device.txt"
import torch
if torch.cuda.is_available():
    gib = torch.cuda.get_device_properties(0).total_memory / 2**30
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"cuDNN {torch.backends.cudnn.version()}, GPU {torch.cuda.get_device_name()}, {gib:.0f} GiB")
else:
    print(f"torch {torch.__version__}, no GPU (dry run on the CPU)")
EOF
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,clocks.max.sm \
  --format=csv,noheader | tee -a "$LOGS/device.txt" || true

THREADS=$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))
BUDGET_S="${BUDGET_S:-470}"  # a step that could end (at its limit) past this is skipped
FAILED=() SKIPPED=()
step() {  # step NAME SECONDS "DRY-RUN OVERRIDES" MODULE ARGS...: one benchmark under a timeout;
          # a failure is noted, not fatal. Later flags win in argparse, so overrides go last.
  local name=$1 limit=$2 dry=$3; shift 3
  if [ "$DRY_RUN" = 1 ]; then
    # shellcheck disable=SC2206  # the overrides are meant to split into words
    set -- "$@" $dry --device cpu --no-write
  fi
  if (( $(date +%s) - STARTED + limit > BUDGET_S )); then
    log "$name skipped: it could end past the ${BUDGET_S}s budget"; SKIPPED+=("$name"); return 0
  fi
  log "$name (limit ${limit}s): $*"
  if timeout --kill-after=10 "$limit" "$PY" -m "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err"; then
    cat "$LOGS/$name.out"
  else
    log "$name FAILED or timed out (exit $?); see $LOGS/$name.err"; tail -5 "$LOGS/$name.err" >&2
    FAILED+=("$name")
  fi
}

# Expected times on an H100/H200 are in the comments; the limits are worst cases.
# 1. Throughput at the paper shape: bare ceiling, ours, ours with resident batches, the reference
#    loop (8 workers), fp32 and bf16, and the large-batch option (256, bf16). ~100 s.
step throughput 150 "--shapes quick --clips 32 --quick-factor 2 --rounds 1 --eval-clips 4" \
  bench.throughput --device cuda --shapes paper --clips 2048 --eval-clips 64 --rounds 2 \
  --large-batch --threads "$THREADS"
# ... and at the quick shape (small model: per-step overhead dominates). ~25 s.
step throughput_quick 60 "--clips 32 --quick-factor 2" \
  bench.throughput --device cuda --shapes quick --clips 512 --quick-factor 4 --rounds 1 \
  --threads "$THREADS"
# 1b. The large-batch option (2E epochs) vs batch 32 (E and 2E epochs): validation accuracy on the
#     same (synthetic, learnable) data. ~50 s.
step large_batch 100 "--shape quick --clips 512 --eval-clips 32 --epochs 2" \
  bench.large_batch --device cuda --shape paper --clips 2048 --eval-clips 256 --epochs 5 \
  --seeds 0 --threads "$THREADS"
# 2. Hidden-size cost curve (λ = 0 and λ = 1) at the paper shape. ~50 s.
step hidden 90 "--shape quick --clips 64 --hidden 16 128" \
  bench.hidden_cost --device cuda --shape paper --clips 1024 --epochs 2 \
  --hidden 32 64 128 160 256 --threads "$THREADS"
# 6. Several trial processes on the one GPU (the --per-device default follows from it). ~50 s each.
step sharing_bare 90 "--shape quick --seconds 2 --processes 1 2" \
  bench.sharing --device cuda --path bare --processes 1 2 4 --seconds 6
step sharing_ours 100 "--shape quick --clips 64 --processes 1 2" \
  bench.sharing --device cuda --path ours --processes 1 2 4 --clips 512 --epochs 3 --resident

cp BENCHMARKS.md "$LOGS/BENCHMARKS.md" 2>/dev/null || true
echo
echo "================ device_check summary ($(( $(date +%s) - STARTED )) s) ================"
cat "$LOGS/device.txt"
for name in throughput throughput_quick large_batch hidden sharing_bare sharing_ours; do
  [ -s "$LOGS/$name.out" ] && { echo; echo "## $name"; cat "$LOGS/$name.out"; }
done
if [ ${#SKIPPED[@]} -gt 0 ]; then
  echo; echo "skipped (time budget BUDGET_S=$BUDGET_S): ${SKIPPED[*]}"
fi
if [ ${#FAILED[@]} -gt 0 ]; then
  echo; echo "failed or timed out: ${FAILED[*]} (logs in $LOGS)"; exit 1
fi
