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


def test_pytorch_train_runs_print_one_json_line_per_run(capsys):
    pytest.importorskip("torch")
    from benchmarks import pytorch_throughput

    argv = ["--train-runs", "--tiny", "--batches", "2", "--steps", "1"]
    pytorch_throughput.main([*argv, "--dtypes", "float32", "bfloat16"])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [(r["dtype"], r["per_device_batch"]) for r in lines] == [
        ("float32", 2),
        ("bfloat16", 2),
    ]
    for run in lines:
        assert run["framework"] == "pytorch" and run["loss_finite"], run
        assert run["train_images_per_s"] > 0 and run["warmup_s"] > 0
        assert run["device"] == "cpu" and run["peak_gb"] is None  # measured on CUDA only


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


def _write_gpu_check_runs(run_dir):
    """A GPU check's run folder as gpu_check.sh leaves it (numbers made up)."""
    run_dir.mkdir()
    schedule = [
        ("torch_b6", "first", 0, 21.0, 90),
        ("jax_f32_b6", "first", 0, 80.5, 150),
        ("jax_bf16_b128", "first", 124, 240.0, 240),
        ("jax_bf16_b128_again", "second", 0, 15.0, 60),
        ("jax_f32_b6_again", "second", 0, 12.0, 45),
        ("jax_f32_b32", "first", -1, 0, 0),
    ]
    (run_dir / "runs.tsv").write_text("".join("\t".join(map(str, row)) + "\n" for row in schedule))
    torch_line = {"framework": "pytorch", "benchmark": "pytorch_throughput", "device": "H200"}
    (run_dir / "torch_b6.json").write_text(
        json.dumps({**torch_line, "dtype": "float32", "per_device_batch": 6,
                    "train_images_per_s": 100.0, "warmup_s": 2.5, "peak_gb": 3.0}) + "\n"
        + "not json\n"
        + json.dumps({**torch_line, "dtype": "bfloat16", "per_device_batch": 6,
                      "train_images_per_s": 120.0, "warmup_s": 3.0, "peak_gb": 2.0}) + "\n"
    )  # fmt: skip

    def jax_line(dtype, batch, rate, compile_s, hits, misses):
        run = {"framework": "jax", "dtype": dtype, "per_device_batch": batch,
               "train_images_per_s": rate, "compile_s": compile_s, "peak_gb": None}  # fmt: skip
        return json.dumps({
            "benchmark": "device_step_throughput", "runs": [run], "peak_device_gb": 4.5,
            "device": "NVIDIA H200", "backend": "gpu", "cache_hits": hits,
            "cache_misses": misses, "gpu_flags_added": ["--xla_gpu_autotune_level=2"],
        })  # fmt: skip

    (run_dir / "jax_f32_b6.json").write_text(jax_line("float32", 6, 137.0, 60.0, 0, 3) + "\n")
    (run_dir / "jax_bf16_b128.json").write_text("")
    (run_dir / "jax_bf16_b128_again.json").write_text("")
    (run_dir / "jax_f32_b6_again.json").write_text(jax_line("float32", 6, 138.0, 1.5, 3, 0))


def test_gpu_results_merges_the_runs_into_one_file_and_a_table(tmp_path):
    from benchmarks import gpu_results

    _write_gpu_check_runs(tmp_path / "runs")
    (tmp_path / "facts.json").write_text(json.dumps({"versions": {"jax": "0.11.2"}}))
    out = gpu_results.main([
        "merge", str(tmp_path / "runs"), str(tmp_path / "results"), "--gpu", "NVIDIA H200",
        "--date", "2026-12-02", "--extra", str(tmp_path / "facts.json"),
    ])  # fmt: skip
    assert out == tmp_path / "results" / "gpu_check_2026-12-02_NVIDIA-H200.json"
    result = json.loads(out.read_text())
    assert result["gpu"] == "NVIDIA H200" and result["versions"] == {"jax": "0.11.2"}
    by_name = {}
    for run in result["runs"]:
        by_name.setdefault(run["name"], []).append(run)
    assert [r["dtype"] for r in by_name["torch_b6"]] == ["float32", "bfloat16"]
    assert by_name["jax_bf16_b128"] == [{**by_name["jax_bf16_b128"][0], "status": "timeout"}]
    assert "train_images_per_s" not in by_name["jax_bf16_b128"][0]
    assert by_name["jax_f32_b32"][0]["status"] == "skipped"
    again = by_name["jax_f32_b6_again"][0]
    assert again["status"] == "ok" and again["start"] == "second" and again["cache_hits"] == 3
    assert by_name["jax_f32_b6"][0]["peak_gb"] == 4.5  # the process's peak: one run in it

    text = gpu_results.table(result)
    rows = [line for line in text.splitlines() if line.startswith("| 6 |")]
    assert rows == [
        "| 6 | bfloat16 | - | 120.0 | - | - | 3.00 | - | 2.00 |",
        "| 6 | float32 | 137.0 | 100.0 | 1.37 | 60.0 | 2.50 | 4.50 | 3.00 |",
    ]
    assert "Second start (jax_f32_b6_again): compile 1.5 s, 3 cache hits, 0 misses." in text
    assert "Second start (jax_bf16_b128_again): ok but no result line." in text
    assert "jax_bf16_b128: timeout after 240 s." in text


def test_gpu_check_script_parses_and_times_out_every_run():
    import subprocess

    from benchmarks import gpu_results

    script = gpu_results.Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    runs = [line for line in script.read_text().splitlines() if line.startswith("run ")]
    assert len(runs) >= 10
    for line in runs:  # run NAME START TIMEOUT CMD...
        name, start, limit = line.split()[1:4]
        assert start in ("first", "second", "profile") and 0 < int(limit) <= 240, line
