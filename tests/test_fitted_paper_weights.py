"""benchmarks/fitted_paper_weights.py: BlazePose's landmarks to MPII joints, the
augmentation keeping joints on the pixels they label, the targets, and a tiny fit that
`pose3d_jax.convert` reads like the authors' file."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO_ROOT, SHARED_DATA

from benchmarks import fitted_paper_weights as fitted
from pose3d_jax import skeleton

J = skeleton.JOINT_INDEX


def _landmarks():
    """33 distinct BlazePose landmarks (x = 10 i, y = 3 i + 1)."""
    index = np.arange(33, dtype=np.float64)
    return np.stack([10 * index, 3 * index + 1], axis=-1)


def test_landmarks_map_to_mpii_joints_by_hand():
    joints = fitted.mpii_joints(_landmarks())
    assert joints[J["right_ankle"]].tolist() == [280, 85]  # landmark 28
    assert joints[J["left_wrist"]].tolist() == [150, 46]  # landmark 15
    assert joints[J["pelvis"]].tolist() == [235, 71.5]  # hips 23 and 24
    assert joints[J["thorax"]].tolist() == [115, 35.5]  # shoulders 11 and 12
    upper_neck = (np.array([115, 35.5]) + np.array([95, 29.5])) / 2  # thorax, mouth 9-10
    assert np.allclose(joints[J["upper_neck"]], upper_neck)
    ears = np.array([75, 23.5])  # ears 7 and 8
    assert np.allclose(joints[J["head_top"]], 2 * ears - upper_neck)


def _dot_centre(image, channel):
    """(x, y) centre of a drawn dot, in pixel-centre coordinates (i + 0.5)."""
    ys, xs = np.nonzero(image[..., channel] > 0.2)
    weights = image[ys, xs, channel]
    return np.array([np.average(xs, weights=weights), np.average(ys, weights=weights)]) + 0.5


@pytest.mark.parametrize("angle, scale", [(0.0, 1.0), (25.0, 1.2), (-30.0, 0.8)])
@pytest.mark.parametrize("mirror", [False, True])
def test_augmentation_keeps_each_joint_on_its_pixel(angle, scale, mirror):
    """The person's left hip (dot in channel 0) and right hip (channel 1): after the
    warp each joint name sits on its dot; mirrored, the left hip's name moves to the
    dot that was the right hip (the person seen in a mirror)."""
    res = 128
    joints = np.full((skeleton.NUM_JOINTS, 2), 64.5)
    joints[J["left_hip"]] = [50.5, 70.5]
    joints[J["right_hip"]] = [80.5, 40.5]
    crop = np.zeros((res, res, 3), np.float32)
    crop[69:72, 49:52, 0] = 1.0  # 3x3 around pixel (50, 70)
    crop[39:42, 79:82, 1] = 1.0
    image, points = fitted.augmented(crop, joints, angle, scale, mirror)
    left_dot, right_dot = (1, 0) if mirror else (0, 1)
    assert np.linalg.norm(points[J["left_hip"]] - _dot_centre(image, left_dot)) < 0.25
    assert np.linalg.norm(points[J["right_hip"]] - _dot_centre(image, right_dot)) < 0.25


def test_random_augmentation_draws_within_the_recipe():
    rng = np.random.default_rng(0)
    draws = [fitted.random_augmentation(rng) for _ in range(200)]
    angles, scales, mirrors = (np.array(v) for v in zip(*draws, strict=True))
    assert np.abs(angles).max() <= 30 and 0.3 < np.mean(angles == 0) < 0.5
    assert scales.min() >= 0.75 and scales.max() <= 1.25
    assert 0.4 < mirrors.mean() < 0.6


def test_targets_peak_at_a_quarter_of_the_crop_pixels():
    joints = np.full((1, skeleton.NUM_JOINTS, 2), 100.0)
    joints[0, 0] = [41.0, 90.0]  # heatmap pixel (10, 22)
    joints[0, 1] = [300.0, 10.0]  # outside a 256 px crop: no target
    maps = fitted.targets(joints, 256)
    assert maps.shape == (1, skeleton.NUM_JOINTS, 64, 64)
    assert maps[0, 0, 22, 10] == 1.0
    assert np.unravel_index(maps[0, 0].argmax(), (64, 64)) == (22, 10)
    assert np.isclose(maps[0, 0, 22, 11], np.exp(-0.5))  # sigma 1 heatmap pixel
    assert maps[0, 1].max() == 0.0


@pytest.mark.slow  # labels the 12 real frames and fits the tiny network for 2 steps
@pytest.mark.skipif(not (SHARED_DATA / "images").is_dir(), reason="../shared/data absent")
def test_tiny_fit_writes_a_state_dict_convert_reads(tmp_path):
    out = tmp_path / "fitted.pth"
    args = ["--tiny", "--steps", "2", "--batch", "2", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "benchmarks/fitted_paper_weights.py", *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["frames"] == 12 and result["steps"] == 2 and result["model"] == "tiny"
    assert 0.0 <= result["peaked_share"] <= 1.0 and np.isfinite(result["final_loss"])
    converted = subprocess.run(
        [sys.executable, "-m", "pose3d_jax.convert", str(out), "--out", str(tmp_path / "ck")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert converted.returncode == 0, converted.stderr[-3000:]
    assert "input 128 px" in converted.stdout


def test_network_input_is_the_authors_bgr_over_256_in_nchw():
    crops = np.zeros((1, 4, 4, 3), np.float32)
    crops[0, 1, 2] = [1.0, 0.5, 0.0]  # RGB at row 1, column 2
    tensor = fitted.network_input(crops).numpy()
    assert tensor.shape == (1, 3, 4, 4)
    assert np.allclose(tensor[0, :, 1, 2], [0.0, 0.5 * 255 / 256, 255 / 256])  # B, G, R
