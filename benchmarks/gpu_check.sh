#!/usr/bin/env bash
# Issue 6's GPU check, run on a lent GPU machine from the repository root:
#   bash benchmarks/gpu_check.sh            (results and logs under $OUT, default /tmp/gpu_check)
# That machine's python3 has jax with CUDA, flax, optax and pytest but no tensorflow and no
# ml_collections: the ml_collections wheel travels in .whl/ (pip download ml_collections).
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
echo "== device_step_throughput (real pmapped step, transfer guard, donation, bf16, remat)"
timeout 330 python3 benchmarks/device_step_throughput.py --steps 20 2> >(tee "$OUT/device_step.err" >&2) | tee "$OUT/device_step.json"
echo "== model_throughput (same script as the CPU numbers)"
timeout 90 python3 benchmarks/model_throughput.py --repeats 5 | tee "$OUT/model_throughput.json"
echo "== model, train and loss tests on the GPU"
timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_model.py tests/test_train.py tests/test_losses.py 2>&1 | tee "$OUT/pytest.log" | tail -25
