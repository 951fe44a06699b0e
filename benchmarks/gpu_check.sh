#!/usr/bin/env bash
# The GPU check (issue 21), run on a lent GPU machine from the repository root:
#   bash benchmarks/gpu_check.sh            results and logs under $OUT (default /tmp/gpu_check)
#   GPU_CHECK_DRY=1 bash benchmarks/gpu_check.sh     the same runs on the CPU: tiny model,
#                                           batches 1-2, one step, .venv's python
# Our train step (device_step_throughput.py) and the authors' network in PyTorch
# (pytorch_throughput.py --train-runs) in float32 and bfloat16 (AMP for PyTorch) at
# batches 6, 32 and 128: images/s, compile or warm-up seconds, peak memory; and the
# second-start compile with the persistent compilation cache (the same step in a new
# process). One file comes out: $OUT/gpu_check_<date>_<gpu>.json (benchmarks/gpu_results.py
# merge; copy it to benchmarks/results/ and commit it); `python3 benchmarks/gpu_results.py
# table FILE` prints the README's table.
#
# Sized for one call of at most 10 minutes: every run has its own timeout, cut to what
# is left of GPU_CHECK_DEADLINE (560 s) from the start, and a run with under 25 s left
# is skipped (recorded as such). The most important runs come first: batch 6 float32 in
# both frameworks, then bfloat16 at batch 128 in both, then the second start.
# The machine's python3 has jax with CUDA, flax, optax and torch but no ml_collections:
# its wheel travels in .whl/ (e.g. cp /opt/pypi/files/ml_collections-*.whl .whl/, or
# pip download ml_collections --no-deps -d .whl).
set -u
OUT=${OUT:-/tmp/gpu_check}
RUNS="$OUT/runs"
rm -rf "$RUNS" && mkdir -p "$RUNS"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-1}
DEADLINE=${GPU_CHECK_DEADLINE:-560}
T0=$(date +%s)
if [ "${GPU_CHECK_DRY:-0}" = 1 ]; then
  PY=${PYTHON:-.venv/bin/python}
  TINY=--tiny STEPS=1 B6=1 B32=2 B128=2 TORCH_DEVICE=cpu GPU=cpu-dry
  export JAX_PLATFORMS=cpu
else
  PY=${PYTHON:-python3}
  TINY= STEPS=20 B6=6 B32=32 B128=128 TORCH_DEVICE=cuda
  nvidia-smi -L
  GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
fi
if ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
# A fresh compilation cache (and XLA autotuning cache) for the first starts.
export POSE3D_JAX_COMPILATION_CACHE=${GPU_CHECK_CACHE:-/tmp/pose3d_gpu_check_cache}
rm -rf "$POSE3D_JAX_COMPILATION_CACHE"
"$PY" - >"$OUT/facts.json" <<'EOF'
import json, os, platform
facts = {"python": platform.python_version(), "host_cpus": os.cpu_count()}
for name in ("jax", "jaxlib", "flax", "optax", "torch"):
    try:
        facts[name] = __import__(name).__version__
    except Exception as err:  # noqa: BLE001
        facts[name] = f"unavailable: {err}"
try:
    import torch
    facts["cuda_torch"] = torch.version.cuda
except Exception:  # noqa: BLE001
    pass
print(json.dumps({"versions": facts}))
EOF
cat "$OUT/facts.json"

# run NAME START TIMEOUT CMD...: CMD's stdout -> NAME.json, stderr -> NAME.err, a line in runs.tsv.
run() {
  local name=$1 start=$2 limit=$3
  shift 3
  local left=$((DEADLINE - ($(date +%s) - T0)))
  if [ "$left" -lt 25 ]; then
    printf '%s\t%s\t-1\t0\t0\n' "$name" "$start" >>"$RUNS/runs.tsv"
    echo "== $name: skipped, ${left}s left"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (timeout ${limit}s, ${left}s left)"
  local began rc wall
  began=$(date +%s.%N)
  timeout -k 5 "$limit" "$@" >"$RUNS/$name.json" 2>"$RUNS/$name.err"
  rc=$?
  wall=$(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $began }")
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$start" "$rc" "$wall" "$limit" >>"$RUNS/runs.tsv"
  echo "   rc $rc, ${wall}s"; tail -c 600 "$RUNS/$name.json"; echo
  [ "$rc" = 0 ] || tail -5 "$RUNS/$name.err"
}
JAX="$PY benchmarks/device_step_throughput.py $TINY --steps $STEPS --no-remat --no-forward --cache"
TORCH="$PY benchmarks/pytorch_throughput.py --train-runs $TINY --steps $STEPS --device $TORCH_DEVICE"

# H100 (2026-11-26, XLA's default flags): compile 54 s float32 and 107 s bfloat16 at batch 6;
# bfloat16 at batch 32 had not compiled in 400 s. Cached second starts should take seconds.
run torch_b6            first 90  $TORCH --dtypes float32 bfloat16 --batches $B6
run jax_f32_b6          first 150 $JAX --dtypes float32 --batches $B6
run jax_bf16_b128       first 240 $JAX --dtypes bfloat16 --batches $B128
run torch_b32_b128      first 120 $TORCH --dtypes float32 bfloat16 --batches $B32 $B128
run jax_bf16_b128_again second 60 $JAX --dtypes bfloat16 --batches $B128
run jax_f32_b128        first 150 $JAX --dtypes float32 --batches $B128
run jax_bf16_b6         first 150 $JAX --dtypes bfloat16 --batches $B6
run jax_f32_b6_again    second 45 $JAX --dtypes float32 --batches $B6
run jax_bf16_b32        first 150 $JAX --dtypes bfloat16 --batches $B32
run jax_f32_b32         first 120 $JAX --dtypes float32 --batches $B32
# If time is left: bfloat16 at batch 128 compiled afresh under the other flag profiles
# (compile_cache.GPU_FLAG_PROFILES) - how much the flags cut, and what they cost at run time.
run jax_bf16_b128_fast  profile 200 env POSE3D_JAX_XLA_GPU_FLAGS=fast POSE3D_JAX_COMPILATION_CACHE=off \
  $JAX --dtypes bfloat16 --batches $B128
run jax_bf16_b128_xla   profile 200 env POSE3D_JAX_XLA_GPU_FLAGS=off POSE3D_JAX_COMPILATION_CACHE=off \
  $JAX --dtypes bfloat16 --batches $B128

"$PY" benchmarks/gpu_results.py merge "$RUNS" "$OUT" --gpu "$GPU" --extra "$OUT/facts.json" \
  >"$OUT/result_path.txt" && RESULT=$(cat "$OUT/result_path.txt")
echo "== $RESULT ($(($(date +%s) - T0)) s in all)"
"$PY" benchmarks/gpu_results.py table "$RESULT"
# To see which XLA pass a slow compile spends its time in, run a step with
#   TF_CPP_MIN_LOG_LEVEL=0 TF_CPP_VMODULE=hlo_pass_pipeline=1
# and sum the "HLO pass: NAME time: ..." lines by NAME.
