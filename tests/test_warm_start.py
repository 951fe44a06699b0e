"""The ONNX Runtime start that skips restoring: right answers, no JAX, no stale export.

A first Predictor on ONNX Runtime restores the checkpoint and exports it; a
later process finds the export by the step folder's files
(deploy/export_index.py) and must then import neither JAX, flax nor orbax, give
the same poses, and never serve the export of weights the folder no longer holds.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import REPO_ROOT, TINY_MODEL

from pose3d_jax.deploy import export_index
from pose3d_jax.inference import engines
from pose3d_jax.inference.predictor import Predictor
from pose3d_jax.model import network

INPUT_RES = 128

# Poses of one synthetic frame in a fresh process, and the heavy modules it imported.
CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from pose3d_jax.inference.predictor import Predictor
    predictor = Predictor.from_checkpoint(sys.argv[1], backend="onnxruntime", warn=False)
    frame = np.random.default_rng(0).integers(0, 255, (200, 160, 3), np.uint8)
    result = predictor(frame)
    heavy = sorted(m for m in ("jax", "flax", "orbax", "tensorflow") if m in sys.modules)
    print(json.dumps({"joints_2d": result.joints_2d.tolist(),
                      "joints_3d_mm": result.joints_3d_mm.tolist(),
                      "engine": type(predictor.engine).__name__, "imported": heavy}))
    """
)


def _write(directory, seed):
    model = {**TINY_MODEL, "num_stacks": 1}
    return network.write_random_checkpoint(directory, model, input_res=INPUT_RES, seed=seed)


def _child(step_dir, cache):
    env = {**os.environ, export_index.CACHE_ENV: str(cache), "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(step_dir)],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _xla_joints(step_dir):
    frame = np.random.default_rng(0).integers(0, 255, (200, 160, 3), np.uint8)
    result = Predictor(network.load_network(step_dir), backend="xla", warn=False)(frame)
    return result.joints_2d, result.joints_3d_mm


@pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime is not installed"
)
def test_second_start_imports_no_jax_and_gives_the_same_poses(tmp_path):
    step_dir = _write(tmp_path / "ckpt", seed=0)
    cold = _child(step_dir, tmp_path / "cache")
    warm = _child(step_dir, tmp_path / "cache")
    assert "jax" in cold["imported"]  # the first start restores with orbax
    assert warm["imported"] == [] and warm["engine"] == "OnnxRuntimeEngine"
    np.testing.assert_array_equal(warm["joints_2d"], cold["joints_2d"])
    joints_2d, joints_3d = _xla_joints(step_dir)
    np.testing.assert_allclose(warm["joints_2d"], joints_2d, atol=1e-3)
    np.testing.assert_allclose(warm["joints_3d_mm"], joints_3d, atol=1e-2)


def test_a_checkpoint_rewritten_in_place_is_exported_again(tmp_path):
    cache = tmp_path / "cache"
    first = _write(tmp_path / "ckpt", seed=0)
    before = _child(first, cache)
    shutil.rmtree(tmp_path / "ckpt")
    second = _write(tmp_path / "ckpt", seed=7)  # same path, same file sizes, new weights
    assert second == first
    after = _child(second, cache)
    assert "jax" in after["imported"]  # a miss: restored and exported again
    joints_2d, _ = _xla_joints(second)
    np.testing.assert_allclose(after["joints_2d"], joints_2d, atol=1e-3)
    assert not np.allclose(after["joints_2d"], before["joints_2d"], atol=1e-2)
    assert len(list(cache.glob("*.onnx"))) == 2


def test_a_damaged_export_is_forgotten_and_made_again(tmp_path, monkeypatch):
    monkeypatch.setenv(export_index.CACHE_ENV, str(tmp_path / "cache"))
    step_dir = _write(tmp_path / "ckpt", seed=0)
    Predictor.from_checkpoint(step_dir, backend="onnxruntime", warn=False)
    exported = export_index.lookup(step_dir)
    assert exported is not None
    exported.write_bytes(b"not an onnx model")
    predictor = Predictor.from_checkpoint(step_dir, backend="onnxruntime", warn=False)
    assert predictor.network.variables is not None  # restored, not the warm path
    assert export_index.lookup(step_dir) == exported and exported.stat().st_size > 1000
    frame = np.random.default_rng(0).integers(0, 255, (200, 160, 3), np.uint8)
    joints_2d, _ = _xla_joints(step_dir)
    np.testing.assert_allclose(predictor(frame).joints_2d, joints_2d, atol=1e-3)


def test_fingerprint_follows_the_files(tmp_path):
    folder = tmp_path / "step"
    (folder / "model").mkdir(parents=True)
    weights = folder / "model" / "d.bin"
    weights.write_bytes(b"a" * 100)
    (folder / "meta.json").write_text("{}")
    first = export_index.files_fingerprint(folder)
    assert export_index.files_fingerprint(folder) == first
    copy = shutil.copytree(folder, tmp_path / "copy")  # copy2 keeps the times
    assert export_index.files_fingerprint(copy) == first
    stat = weights.stat()
    weights.write_bytes(b"b" * 100)  # same size, same time: only the content changed
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert export_index.files_fingerprint(folder) == first  # the documented blind spot
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert export_index.files_fingerprint(folder) != first
    weights.write_bytes(b"b" * 101)
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert export_index.files_fingerprint(folder) != first


def test_choosing_the_backend_imports_no_jax_without_an_accelerator_plugin():
    from pose3d_jax.runtime import malloc_tuning

    if malloc_tuning.accelerator_plugin_installed():
        pytest.skip("a JAX accelerator plugin is installed: choosing must ask JAX")
    code = (
        "import sys; from pose3d_jax.inference import engines; "
        "print(engines.default_backend(), engines.resolve()[0], 'jax' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != engines.BACKEND_ENV}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True
    )
    expected = engines.resolve("auto")[0]  # the same choice in this process
    assert done.stdout.split() == ["auto", expected, "False"], done.stderr[-2000:]
