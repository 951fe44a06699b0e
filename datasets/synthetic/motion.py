"""Motion clips of the kinematic person (body.py): walking, a full turn, arms raised.

Each clip is a smooth sequence of joint angles through body.pose_from_angles, placed
in the camera frame (x right, y down, z away) at a given depth, in Human3.6M's
annotation style (our 3D joints' style). Limb lengths never change, so a clip is
what a rig with held bone lengths can reproduce exactly.
"""

import numpy as np

from datasets.synthetic import body

NEUTRAL = {
    "lean": 0.0, "twist": 0.0, "side_bend": 0.0, "pelvis_yaw": 0.0, "nod": 0.0,
    "head_tilt": 0.0,
} | {
    f"{side}_{name}": value
    for side in body.SIDES
    for name, value in (("hip_flex", 0.0), ("hip_abd", 5.0), ("knee", 5.0),
                        ("shoulder_flex", 0.0), ("shoulder_abd", 10.0), ("humeral", 0.0),
                        ("elbow", 10.0))
}  # fmt: skip


def _walking(phase: float) -> dict:
    s = np.sin(phase)
    return NEUTRAL | {
        "left_hip_flex": 25 * s, "right_hip_flex": -25 * s,
        "left_knee": 5 + 30 * max(0.0, -s), "right_knee": 5 + 30 * max(0.0, s),
        "left_shoulder_flex": -20 * s, "right_shoulder_flex": 20 * s,
        "left_elbow": 20 + 10 * max(0.0, -s), "right_elbow": 20 + 10 * max(0.0, s),
        "twist": 6 * s, "pelvis_yaw": -4 * s, "lean": 5.0, "nod": 5.0,
    }  # fmt: skip


def _arms_raised(share: float) -> dict:
    return NEUTRAL | {
        "left_shoulder_abd": 10 + 150 * share, "right_shoulder_abd": 10 + 150 * share,
        "left_shoulder_flex": 20 * share, "right_shoulder_flex": 20 * share,
        "left_elbow": 10 + 30 * share, "right_elbow": 10 + 30 * share, "nod": -10 * share,
    }  # fmt: skip


def camera_joints(angles: dict, yaw_deg: float, depth_mm: float, tilt_deg: float = 0.0):
    """Our 16 joints [16, 3] (H36M style) of one pose facing the camera turned by
    `yaw_deg` about the vertical, its pelvis `depth_mm` in front of the camera."""
    points = body.pose_from_angles(angles)
    rotation = np.diag([1.0, -1.0, -1.0]) @ body.rot_y(yaw_deg) @ body.rot_x(tilt_deg)
    placed = body.place(points, rotation, [0.0, 0.0, depth_mm])
    return body.our_joints(placed, body.H36M_STYLE)


def clip(name: str, frames: int = 60, depth_mm: float = 4000.0) -> np.ndarray:
    """[frames, 16, 3] camera-frame joints (mm) of 'walking', 'turning' or 'arms_raised'."""
    t = np.linspace(0.0, 1.0, frames)
    if name == "walking":
        return np.stack([camera_joints(_walking(4 * np.pi * s), 20 * s, depth_mm) for s in t])
    if name == "turning":
        return np.stack([camera_joints(_walking(2 * np.pi * s), 360 * s, depth_mm) for s in t])
    if name == "arms_raised":
        return np.stack([camera_joints(_arms_raised(s), -15.0, depth_mm) for s in t])
    raise ValueError(f"unknown clip '{name}': walking, turning or arms_raised")
