"""Dataset evaluation: mapping outputs back, the protocol wiring, the tables, the CLI."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import REPO_ROOT

from pose3d_jax import geometry, skeleton
from pose3d_jax.evaluation import metrics, protocols
from pose3d_jax.evaluation import predict as eval_predict
from pose3d_jax.evaluation import run as evaluation_run
from pose3d_jax.model import interface, network

HEATMAP_RES, INPUT_RES = 64, 256


def _matrix(batch):
    return geometry.crop_matrix(batch["center"], batch["scale"], INPUT_RES)


def _gt_batch(name, size, rng):
    """A batch in the shards' schema with [devices=2, size/2] leading axes."""
    stored = rng.uniform(60, 190, (size, 16, 2)).astype(np.float32)
    batch = {
        "image": np.zeros((size, 8, 8, 3), np.uint8),
        "joints_2d": stored,
        "visible": np.ones((size, 16), bool),
        "center": np.full((size, 2), 128.0, np.float32),
        "scale": np.full((size,), 1.1, np.float32),
        "to_original": np.tile(np.array([[2.0, 0, 100], [0, 2.0, 50]], np.float32), (size, 1, 1)),
        "mask": np.arange(size) < size - 1,
    }
    gt = rng.normal(0, 250, (size, 16, 3)) + [0, 0, 4000]
    gt[:, 7] = 0.5 * (gt[:, 6] + gt[:, 8])
    gt = (gt - gt[:, 6:7]) * (
        skeleton.MEAN_SKELETON_BONE_SUM_MM / skeleton.bone_lengths(gt).sum(-1)
    )[:, None, None] + gt[:, 6:7]
    if name == "h36m":
        batch |= {"joints_3d_mm": gt, "action": np.arange(size) % 15 + 2}
    if name == "mpii":
        batch |= {
            "joints_2d_orig": geometry.apply_affine(batch["to_original"], stored),
            "normalize": np.full((size,), 20.0),
        }
    return {k: v.reshape(2, size // 2, *v.shape[1:]) for k, v in batch.items()}


def _oracle_predict_fn(batch):
    """Predictions equal to the labels (2D through the crop, 3D as a similarity)."""
    matrix = _matrix(batch)
    points = geometry.apply_affine(matrix, batch["joints_2d"]) * (HEATMAP_RES / INPUT_RES)
    out = {"points": points, "matrix": matrix}
    if "joints_3d_mm" in batch:
        out["joints_3d_hm"] = batch["joints_3d_mm"] * 0.01 + 30.0
    return out


def test_to_original_pixels_undoes_the_crop_and_applies_to_original():
    rng = np.random.default_rng(0)
    stored = rng.uniform(0, 300, (3, 16, 2))
    matrix = geometry.crop_matrix(rng.uniform(100, 200, (3, 2)), rng.uniform(0.5, 2, 3), 256, 20)
    heat = geometry.apply_affine(matrix, stored) / 4
    to_original = np.tile(np.array([[1.5, 0.1, 7.0], [-0.2, 1.4, 3.0]]), (3, 1, 1))
    back = interface.to_original_pixels(heat, matrix, to_original, heatmap_res=64, input_res=256)
    np.testing.assert_allclose(back, geometry.apply_affine(to_original, stored), atol=1e-3)


@pytest.mark.parametrize("name", ["h36m", "mpii"])
def test_evaluate_dataset_with_perfect_predictions(name):
    rng = np.random.default_rng(1)
    batches = [_gt_batch(name, 8, rng) for _ in range(2)]
    result = protocols.evaluate_dataset(_oracle_predict_fn, batches, name)
    if name == "h36m":
        assert result["num_samples"] == 14  # one padding row per batch left out
        assert result["mpjpe"]["All"] == pytest.approx(0.0, abs=1e-6)
        assert "| MPJPE | 0.0 |" in protocols.h36m_tables(result)
    else:
        assert result["pckh"]["Mean"] == 100.0
        assert "| MPII | 100.0 |" in protocols.mpii_tables(result)


def test_tables_have_the_papers_columns():
    totals = metrics.h36m_totals(
        np.ones((15, 16, 3)) + np.arange(16)[:, None], np.zeros((15, 16, 3)), np.arange(2, 17)
    )
    table = protocols.h36m_tables(metrics.summarize_h36m(totals))
    header = table.splitlines()[2]
    assert header.startswith("| mm | Direct. | Discuss | Eating | Greet | Phone | Photo | Pose")
    assert header.endswith("WalkD. | Walk | WalkT. | Avg |")
    rng = np.random.default_rng(2)
    gt = rng.normal(0, 200, (12, 16, 3))
    totals = metrics.mpi_inf_3dhp_totals(
        gt * 0.01, gt, np.arange(12) % 7 + 1, np.arange(12) % 6 + 1
    )
    table = protocols.mpi_inf_3dhp_tables(metrics.summarize_mpi_inf_3dhp(totals))
    assert "| Scene | GS | noGS | Outdoor | All |" in table
    assert "| Activity | Stand/Walk |" in table


def test_eval_predict_fn_runs_the_network_on_device_batches(tiny_checkpoint):
    loaded = network.load_network(tiny_checkpoint)
    predict = eval_predict.predict_fn_for(loaded)
    rng = np.random.default_rng(3)
    batch = {
        "image": rng.integers(0, 255, (2, 2, 96, 96, 3), dtype=np.uint8),
        "center": np.full((2, 2, 2), 48.0, np.float32),
        "scale": np.full((2, 2), 0.48, np.float32),
    }
    out = predict(batch)
    assert out["points"].shape == (4, 16, 2)
    assert out["joints_3d_hm"].shape == (4, 16, 3)
    assert np.all(np.isfinite(out["joints_3d_hm"]))
    assert np.all((out["points"] >= 0) & (out["points"] <= 64))


@pytest.mark.parametrize("backend, precision", [("onnxruntime", None), ("openvino", "fp32"),
                                                ("openvino", "bf16")])  # fmt: skip
def test_engine_predict_fn_scores_what_the_jitted_one_does(tiny_checkpoint, backend, precision,
                                                           tmp_path, monkeypatch):  # fmt: skip
    monkeypatch.setenv("POSE3D_JAX_EXPORT_CACHE", str(tmp_path))
    loaded = network.load_network(tiny_checkpoint)
    rng = np.random.default_rng(3)
    batch = {
        "image": rng.integers(0, 255, (2, 2, 96, 96, 3), dtype=np.uint8),
        "center": np.full((2, 2, 2), 48.0, np.float32),
        "scale": np.full((2, 2), 0.48, np.float32),
    }
    jitted = eval_predict.predict_fn_for(loaded)(batch)
    predict, about = evaluation_run.engine_predict_fn_for(loaded, backend, precision)
    got = predict(batch)
    assert about["backend"] == backend and predict.heatmap_res == 64
    np.testing.assert_allclose(got["matrix"], jitted["matrix"], atol=1e-5)
    if about["precision"]["precision"] != "bf16":
        np.testing.assert_allclose(got["joints_3d_hm"], jitted["joints_3d_hm"], atol=1e-3)
    else:  # an untrained network's flat heatmaps: bf16 may move some maxima a pixel
        assert np.median(np.abs(got["joints_3d_hm"] - jitted["joints_3d_hm"])) < 0.5


def test_bgr_256_convention_reverses_channels_and_rescales():
    rgb = np.array([[[1.0, 0.5, 0.0]]])
    bgr = interface.to_network_input(rgb, {"channel_order": "bgr", "divisor": 256.0}, xp=np)
    np.testing.assert_allclose(bgr, [[[0.0, 0.5 * 255 / 256, 255 / 256]]])
    same = interface.to_network_input(rgb, {"channel_order": "rgb", "divisor": 255.0}, xp=np)
    np.testing.assert_allclose(same, rgb)


@pytest.mark.slow
def test_command_line_on_fake_shards(tiny_checkpoint, tmp_path):
    """python -m pose3d_jax.evaluate over the real input pipeline (fake shards)."""
    from datasets import fake_shards

    data_dir = tmp_path / "data"
    splits = {
        "h36m": {"train": 6, "test": 5},
        "mpii": {"validation": 5},
        "mpi_inf_3dhp": {"test": 5},
    }
    for name, split_sizes in splits.items():
        fake_shards.write_fake_shards(data_dir, name, split_sizes, image_size=96)
    config = tmp_path / "config.py"
    config.write_text(
        textwrap.dedent(f"""
        import ml_collections

        def get_config():
            config = ml_collections.ConfigDict()
            config.data = ml_collections.ConfigDict({{"data_dir": "{data_dir}"}})
            config.eval = ml_collections.ConfigDict({{"batch_size": 4}})
            return config
        """)
    )
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [
            sys.executable, "-m", "pose3d_jax.evaluate", f"--config={config}",
            f"--checkpoint={tiny_checkpoint}", f"--out={out}", "--splits=mpii=validation",
            "--baseline",
        ],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "### Human3.6M" in proc.stdout and "### MPII" in proc.stdout
    results = json.loads(out.read_text())
    assert results["h36m"]["num_samples"] == 5
    assert results["splits"] == {"h36m": "test", "mpi_inf_3dhp": "test", "mpii": "validation"}
    assert results["mpi_inf_3dhp"]["num_frames"] == 5
    assert results["mpii"]["num_joints"] > 0
    assert "mean-pose baseline" in proc.stdout
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    assert line == evaluation_run.headline(results)
    assert set(line) >= {"checkpoint", "mpjpe_mm", "baseline_mpjpe_mm", "pck"}
    assert line["baseline_mpjpe_mm"] == results[evaluation_run.BASELINE_KEY]["mpjpe"]["All"] > 0
    bad = subprocess.run(
        [
            sys.executable, "-m", "pose3d_jax.evaluate", f"--config={config}",
            f"--checkpoint={tmp_path / 'nowhere'}",
        ],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert bad.returncode != 0
    assert "does not exist" in bad.stderr and "Traceback" not in bad.stderr


def _numpy_h36m_mpjpe(pred, gt, bone_sum):
    """SPEC 6 written out: pelvis-relative, 14 bones scaled to bone_sum, at the true
    pelvis, thorax = mean(pelvis, upper neck), mean joint distance."""
    pelvis, thorax, upper_neck = 6, 7, 8
    rel = pred - pred[:, pelvis : pelvis + 1]
    lengths = np.stack(
        [np.linalg.norm(rel[:, a] - rel[:, b], axis=-1) for a, b in skeleton.BONES], -1
    )
    out = rel * (bone_sum / lengths.sum(-1))[:, None, None] + gt[:, pelvis : pelvis + 1]
    out[:, thorax] = 0.5 * (out[:, pelvis] + out[:, upper_neck])
    return np.linalg.norm(out - gt, axis=-1).mean(-1)


def test_mean_pose_baseline_matches_numpy():
    from pose3d_jax.evaluation import baseline

    rng = np.random.default_rng(3)
    train_poses = rng.normal(0, 300, (50, 16, 3)) + [100, 0, 4000]
    mean = baseline.mean_pose_mm(train_poses)
    np.testing.assert_allclose(mean, (train_poses - train_poses[:, 6:7]).mean(0))
    assert np.all(mean[6] == 0)
    batch = _gt_batch("h36m", 8, rng)
    result = protocols.evaluate_dataset(baseline.mean_pose_predict_fn(mean), [batch], "h36m")
    gt = batch["joints_3d_mm"].reshape(8, 16, 3)[:7]  # the eighth row is padding
    expected = _numpy_h36m_mpjpe(np.broadcast_to(mean, gt.shape).copy(), gt, 4296.99233013)
    assert result["num_samples"] == 7
    assert result["mpjpe"]["All"] == pytest.approx(expected.mean(), rel=1e-9)
    assert result["mpjpe"]["All"] > 100  # a constant pose is far from random poses
    with pytest.raises(ValueError, match="shape"):
        baseline.mean_pose_mm(np.zeros((0, 16, 3)))


def test_protocol_scales_to_the_configured_bone_sum():
    import ml_collections

    rng = np.random.default_rng(4)
    batch = _gt_batch("h36m", 8, rng)  # ground truth with H36M's mean bone sum
    pred_fn = _oracle_predict_fn
    default = protocols.evaluate_dataset(pred_fn, [batch], protocols.protocol_for("h36m"))
    assert default["mpjpe"]["All"] == pytest.approx(0.0, abs=1e-6)
    config = ml_collections.ConfigDict({"eval": {"bone_sum_mm": 3894.5}})
    scaled = protocols.evaluate_dataset(pred_fn, [batch], protocols.protocol_for("h36m", config))
    gt = batch["joints_3d_mm"].reshape(8, 16, 3)[:7]
    expected = _numpy_h36m_mpjpe(gt * 0.01 + 30.0, gt, 3894.5).mean()
    assert scaled["mpjpe"]["All"] == pytest.approx(expected, rel=1e-9)
    assert scaled["mpjpe"]["All"] > 10
    assert protocols.protocol_for("mpii", config) is protocols.PROTOCOLS["mpii"]
    with pytest.raises(ValueError, match="bone_sum_mm"):
        protocols.protocol_for("h36m", ml_collections.ConfigDict({"eval": {"bone_sum_mm": 0.0}}))


def test_headline_takes_the_quoted_numbers():
    results = {
        "checkpoint": "/w/checkpoints/600",
        "h36m": {"mpjpe": {"All": 80.0}, "pa_mpjpe": {"All": 60.0}},
        evaluation_run.BASELINE_KEY: {"mpjpe": {"All": 200.0}},
        "mpii": {"pckh": {"Mean": 90.5}},
        "mpi_inf_3dhp": {"scene": {"pck": {"All": 70.0}, "auc": {"All": 35.0}}},
    }
    assert evaluation_run.headline(results) == {
        "checkpoint": "/w/checkpoints/600",
        "mpjpe_mm": 80.0,
        "pa_mpjpe_mm": 60.0,
        "baseline_mpjpe_mm": 200.0,
        "pck": 90.5,
        "mpi_inf_3dhp_pck": 70.0,
        "mpi_inf_3dhp_auc": 35.0,
    }
