"""Every benchmark script starts as `make bench` starts it (python benchmarks/X.py from
the repository root, nothing else on sys.path), parses its arguments, and the ones not
run elsewhere in the suite run their smallest setting to one JSON line. No timing is
asserted: this is so that none breaks silently (a missing import stopped `make bench`)."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT, SHARED_DATA

SCRIPTS = sorted(p.name for p in (REPO_ROOT / "benchmarks").glob("*.py"))
LIBRARY_MODULES = {"pytorch_reference.py"}  # imported by the others, no command line


def _run(args, timeout=300, env=None):
    return subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=timeout, env=env,
    )  # fmt: skip


def _json_line(proc) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout[-2000:]
    return json.loads(lines[0])


@pytest.mark.parametrize("script", sorted(set(SCRIPTS) - LIBRARY_MODULES))
def test_every_benchmark_parses_its_arguments(script):
    proc = _run([f"benchmarks/{script}", "--help"], timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "usage" in (proc.stdout + proc.stderr).lower()


def test_metric_depth_smallest_setting():
    result = _json_line(
        _run(["benchmarks/metric_depth.py", "--trials", "3", "--noise", "0", "2", "--depths", "4"])
    )
    exact, noisy = result["rows"]
    assert exact["noise_px"] == 0 and exact["mean_depth_error_pct"] < 1e-6
    assert noisy["noise_px"] == 2 and 0 < noisy["mean_depth_error_pct"] < 5


@pytest.mark.slow
def test_infer_engines_smallest_setting():
    result = _json_line(
        _run(
            ["benchmarks/infer_engines.py", "--tiny", "--rounds", "1", "--calls", "1"],
            env={k: v for k, v in os.environ.items() if k != "POSE3D_JAX_BACKEND"},
        )
    )  # the default as `make bench` meets it: 'auto', made concrete
    assert result["default_backend"] in ("openvino bf16", "onnxruntime")
    default = result["default_engine"]
    assert f"{default}_vs_ov_torch_bf16_b1" in result
    for engine in ("xla", "ort_ours", "ort_torch", "ov_fp32", "ov_bf16", "ov_int8",
                   "ov_torch_bf16", "ov_torch_fp32"):  # fmt: skip
        assert result[f"{engine}_b8_images_per_s"] > 0, engine
    assert result["max_abs_diff_from_xla"]["ov_fp32"]["depth"] < 1e-3
    assert "ov_bf16_vs_ov_torch_bf16_b8" in result


@pytest.mark.slow
def test_model_throughput_smallest_setting():
    result = _json_line(_run(["benchmarks/model_throughput.py", "--tiny", "--repeats", "1"]))
    assert result["model"] == "tiny"
    for key in ("forward_b1_images_per_s", "forward_b8_images_per_s", "train_b6_images_per_s"):
        assert result[key] > 0, key


@pytest.mark.slow
def test_input_throughput_smallest_setting():
    args = ["--fake_examples", "8", "--host_batch", "4", "--host_batches", "2"]
    args += ["--device_batch", "4", "--device_steps", "2"]
    result = _json_line(_run(["benchmarks/input_throughput.py", *args]))
    assert result["data"] == "fake shards" and result["host_batch"] == 4
    assert result["host_images_per_s"] > 0 and result["device_images_per_s"] > 0


@pytest.mark.slow
def test_prepare_throughput_smallest_setting():
    args = ["--workers", "1", "--num_h36m", "8", "--num_mpii", "8", "--num_3dhp", "20"]
    result = _json_line(_run(["benchmarks/prepare_throughput.py", *args]))
    rates = result["workers"]["1"]["images_per_s"]
    assert set(rates) == {"h36m", "mpii", "mpi_inf_3dhp", "all"} and min(rates.values()) > 0


@pytest.mark.slow
def test_infer_latency_smallest_setting():
    args = ["--tiny", "--runs", "1", "--photo-runs", "1", "--backends", "onnxruntime"]
    result = _json_line(_run(["benchmarks/infer_latency.py", *args], timeout=600))
    assert result["model"] == "tiny" and result["onnxruntime_cold_s"] > 0
    assert result["onnxruntime_warm_s"] > 0 and result["photo_3_people_warm_s"] > 0


@pytest.mark.slow
def test_localisation_smallest_setting(tiny_checkpoint):
    args = ["--checkpoint", str(tiny_checkpoint), "--scenes", "2", "--real-scenes", "2"]
    result = _json_line(_run(["benchmarks/localisation.py", *args], timeout=600))
    assert result["scenes"] == 2 and result["real_scenes"] == 2
    for method in ("centred", "hog", "network", "detector", "gt_box"):
        assert 0 <= result[f"pck_{method}"] <= 100, method
        assert 0 <= result[f"real_single_recall_{method}"] <= 1, method


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "images").is_dir(), reason="../shared/data is absent")
def test_precision_guard_smallest_setting(tiny_checkpoint):
    args = ["--checkpoint", str(tiny_checkpoint), "--skip-demo"]
    result = _json_line(_run(["benchmarks/precision_guard.py", *args]))
    assert result["real_frames"] == 12 and set(result["verdicts"]) == {"bf16", "int8"}
    for verdict in result["verdicts"].values():
        frames = verdict["measured"]["frames"]
        assert 0 <= frames["moved_share_all_joints"] <= 1 and 0 <= frames["peaked_share"] <= 1
        assert verdict["passed"] in (None, not verdict["reasons"])
