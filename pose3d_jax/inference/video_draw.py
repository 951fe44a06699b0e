"""One video frame of the output: the 2D skeleton over the frame beside a 3D view.

Drawn with OpenCV (a few ms per frame, where a matplotlib figure takes ~100):
the 3D view turns the pelvis-relative pose by VIEW_AZIMUTH_DEG about the
vertical axis, so depth shows as sideways motion, and fits 2.2 m in the panel.
"""

import cv2
import numpy as np

from pose3d_jax import skeleton
from pose3d_jax.inference.visualize import bone_side

MAX_HEIGHT = 540
VIEW_AZIMUTH_DEG = 45.0
VIEW_SPAN_MM = 2200.0
SIDE_RGB = {"right": (214, 39, 40), "left": (31, 119, 180), "centre": (44, 160, 44)}


def _bones(canvas, points, thickness):
    for bone in skeleton.BONES:
        a, b = (tuple(int(round(v)) for v in points[j]) for j in bone)
        cv2.line(canvas, a, b, SIDE_RGB[bone_side(bone)], thickness, cv2.LINE_AA)
    for point in points:
        cv2.circle(canvas, tuple(int(round(v)) for v in point), thickness + 1, (255, 255, 255), -1)


def view_3d(joints_3d_mm, side):
    """[side, side, 3] panel of the pose seen from VIEW_AZIMUTH_DEG."""
    panel = np.full((side, side, 3), 245, np.uint8)
    angle = np.deg2rad(VIEW_AZIMUTH_DEG)
    x, y, z = np.asarray(joints_3d_mm, np.float64).T
    u = x * np.cos(angle) - z * np.sin(angle)
    points = np.stack([u, y], axis=-1) * (side / VIEW_SPAN_MM) + side / 2.0
    cv2.line(panel, (0, side // 2), (side, side // 2), (210, 210, 210), 1)
    _bones(panel, points, max(1, side // 160))
    return panel


def frame_with_pose(image, joints_2d, joints_3d_mm, caption=""):
    """The frame (shrunk to MAX_HEIGHT) with its skeleton, and the 3D view beside it."""
    height, width = image.shape[:2]
    factor = min(1.0, MAX_HEIGHT / height)
    size = (max(2, round(width * factor) // 2 * 2), max(2, round(height * factor) // 2 * 2))
    same = size == (width, height)
    left = image.copy() if same else cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    left = np.ascontiguousarray(left)
    if joints_2d is not None:
        _bones(left, np.asarray(joints_2d) * np.array(size) / np.array([width, height]), 2)
    right = (
        view_3d(joints_3d_mm, size[1])
        if joints_3d_mm is not None
        else np.full((size[1], size[1], 3), 245, np.uint8)
    )
    out = np.concatenate([left, right], axis=1)
    if caption:
        cv2.putText(out, caption, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 0), 2)
    return out
