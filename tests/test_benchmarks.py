"""The benchmark scripts run and print one well-formed JSON line (no timing asserted)."""

import json
import math

import pytest

from benchmarks import train_loop_throughput

TINY_LOOP = [
    f"--config={train_loop_throughput.REPO_ROOT / 'configs' / 'synthetic.py'}",
    "--config.data.input_res=64",
    "--config.data.heatmap_res=16",
    "--config.data.shuffle_buffer=16",
    "--config.model.num_features=16",
    "--config.model.hourglass_depth=1",
    "--config.train.batch_size=4",
    "--steps=2",
    "--warmup=1",
    "--host_steps=2",
    "--fake_examples=8",
]


def _one_json_line(capsys):
    """The one line a benchmark printed, parsed."""
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


@pytest.mark.slow  # compiles a (tiny) train step: about 30-60 s on 2 CPU cores
def test_train_loop_throughput_prints_one_json_line(capsys):
    train_loop_throughput.main(["train_loop_throughput.py", *TINY_LOOP])
    result = _one_json_line(capsys)
    rates = ("loop_images_per_s", "step_images_per_s", "host_images_per_s")
    for key in (*rates, "compile_s", "loop_over_step"):
        assert math.isfinite(result[key]) and result[key] > 0, key
    assert isinstance(result["input_bound"], bool)
    assert result["recompiles"] == 0  # step 2 reuses step 1's executable (train.replicate)
    assert result["config"] == "synthetic.py" and result["input_res"] == 64
    assert result["batch_size"] == 4 and result["device_count"] >= 1
    assert {"jax_version", "device", "num_stacks", "steps", "warmup"} <= result.keys()


def test_pytorch_throughput_prints_one_json_line(capsys):
    pytest.importorskip("torch")
    from benchmarks import pytorch_throughput

    pytorch_throughput.main(["--tiny", "--repeats=1"])
    result = _one_json_line(capsys)
    assert result["framework"] == "pytorch" and result["model"] == "tiny"
    assert result["threads"] == 2
    for key in ("forward_b1_images_per_s", "forward_b8_images_per_s", "train_b6_images_per_s"):
        assert math.isfinite(result[key]) and result[key] > 0, key


@pytest.mark.slow  # one tiny bfloat16 train step, two forward passes: 23 s on 2 CPU cores
def test_device_step_throughput_checks_donation_guard_and_bf16(capsys):
    from benchmarks import device_step_throughput

    # One dtype, one batch, one step, no remat compile (test_model checks remat's gradients):
    # every compile of the tiny step costs 20-35 s on 2 CPU cores.
    device_step_throughput.main(
        ["--tiny", "--dtypes", "bfloat16", "--batches", "1", "--steps", "1", "--no-remat"]
    )
    result = _one_json_line(capsys)
    assert result["model"] == "tiny" and result["device_count"] >= 1
    assert [run["dtype"] for run in result["runs"]] == ["bfloat16"]
    for run in result["runs"]:
        # The timed steps ran under transfer_guard("disallow"): no host round trip inside.
        assert run["donated"] and run["loss_finite"], run
        assert run["train_images_per_s"] > 0 and run["forward_images_per_s"] > 0
        assert run["temp_gb"] > 0 and "temp_gb_remat" not in run, run
        assert run["framework"] == "jax" and run["first_step_s"] > 0 and run["compile_s"] > 0
    # bf16 compute moves the heatmaps by well under a percent-level of their norm, never by 0
    # (against a float32 forward pass on the same weights and images).
    assert 0 < result["bfloat16_heatmaps_rel_diff"] < 0.05
    assert result["gpu_flags_added"] == [] or result["backend"] == "gpu"


@pytest.mark.slow  # compiles seven tiny parts, forward and backward: about 30-60 s on 2 CPU cores
def test_part_throughput_times_every_part_in_both_frameworks(capsys):
    pytest.importorskip("torch")
    from benchmarks import part_throughput

    part_throughput.main(["--tiny", "--repeats=1"])
    result = _one_json_line(capsys)
    assert result["model"] == "tiny" and result["batch"] == 6 and result["threads"] == 2
    expected = {"bn_relu", "conv1x1_reduce", "conv1x1_expand", "conv3x3", "residual"}
    assert set(result["parts"]) == expected | {"hourglass", "network"}
    for name, timing in result["parts"].items():
        for key in ("jax_forward_ms", "jax_train_ms", "torch_forward_ms", "torch_train_ms"):
            assert math.isfinite(timing[key]) and timing[key] > 0, (name, key)
        ratio = timing["torch_train_ms"] / timing["jax_train_ms"]
        assert timing["train_torch_over_jax"] == pytest.approx(ratio, abs=1e-3), name
