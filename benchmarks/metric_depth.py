"""Metric camera-frame 3D: depth error of the root translation against 2D noise.

Skeletons of the synthetic generator (the neutral pose turned 30 degrees, 0.3 m
off the optical axis) are placed at known depths, projected with a known camera
(1280x720, 60-degree field of view), the 2D jittered by Gaussian noise, and the
root translation solved by `pose3d_jax.motion.camera.camera_joints` with the
true body size. Prints one JSON line: mean and 95th-percentile relative depth
error and the mean joint error (mm) per depth and noise level.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets.synthetic import motion as clips  # noqa: E402
from pose3d_jax.motion import camera  # noqa: E402


def placed_skeleton(depth_mm: float):
    joints = clips.camera_joints(clips.NEUTRAL, 30.0, depth_mm)
    joints[:, 0] += 300.0
    return joints


def depth_errors(depth_mm, noise_px, intrinsics, trials, rng):
    truth = placed_skeleton(depth_mm)
    rel = truth - truth[6]
    uv = camera.project(truth, intrinsics)
    rel_depth, joint_mm = [], []
    for _ in range(trials):
        noisy = uv + rng.normal(0.0, noise_px, uv.shape) if noise_px else uv
        found = camera.camera_joints(rel, noisy, np.ones(len(rel)), intrinsics)
        rel_depth.append(abs(found[6, 2] - depth_mm) / depth_mm)
        joint_mm.append(np.linalg.norm(found - truth, axis=-1).mean())
    return {
        "depth_m": depth_mm / 1000.0,
        "noise_px": noise_px,
        "mean_depth_error_pct": round(100 * float(np.mean(rel_depth)), 3),
        "p95_depth_error_pct": round(100 * float(np.percentile(rel_depth, 95)), 3),
        "mean_joint_error_mm": round(float(np.mean(joint_mm)), 1),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=500, help="noisy draws per setting")
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0])
    parser.add_argument("--depths", type=float, nargs="+", default=[2.0, 4.0, 6.0, 8.0])
    args = parser.parse_args(argv)
    intrinsics = camera.from_fov(60.0, 1280, 720)
    rng = np.random.default_rng(0)
    rows = [
        depth_errors(1000.0 * depth, noise, intrinsics, 1 if noise == 0 else args.trials, rng)
        for noise in args.noise
        for depth in args.depths
    ]
    camera_facts = {"image": [1280, 720], "fov_deg": 60.0, "fx": round(intrinsics.fx, 1)}
    print(json.dumps({"benchmark": "metric_depth", "camera": camera_facts, "rows": rows}))


if __name__ == "__main__":
    main()
