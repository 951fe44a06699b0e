#!/usr/bin/env bash
# Issue 6's GPU check, run on a lent GPU machine from the repository root:
#   bash benchmarks/gpu_check.sh            (results and logs under $OUT, default /tmp/gpu_check)
# That machine's python3 has jax with CUDA, flax, optax and pytest but no tensorflow and no
# ml_collections: the ml_collections wheel travels in .whl/ (pip download ml_collections).
# Sized for a 15-minute device lease: about 8 minutes after the machine has started.
set -u
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
nvidia-smi -L
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
python3 -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())"
echo "== model and loss tests on the GPU (full float32 there: tests/conftest.py)"
timeout 140 python3 -m pytest -q -p no:cacheprovider tests/test_losses.py tests/test_model.py \
  -k "losses or pointwise or split or bfloat16 or remat or batchnorm or pool" 2>&1 | tee "$OUT/pytest.log" | tail -25
echo "== device_step_throughput: float32 and bfloat16 at batch 6 (XLA's default flags)"
# Measured on an H100: compiles of 54 s (float32) and 107 s (bfloat16), ~4.5 minutes in all.
timeout 330 python3 benchmarks/device_step_throughput.py --dtypes float32 bfloat16 --batches 6 \
  --steps 20 --no-remat 2> >(tee "$OUT/step_b6.err" >&2) | tee "$OUT/step_b6.json"
# Not within one lease with the above: batch 32 and its remat scratch, e.g.
#   python3 benchmarks/device_step_throughput.py --dtypes float32 --batches 32 --steps 10
# To see which XLA pass a slow compile spends its time in, run it with
#   TF_CPP_MIN_LOG_LEVEL=0 TF_CPP_VMODULE=hlo_pass_pipeline=1
# and sum the "HLO pass: NAME time: ..." lines by NAME.
