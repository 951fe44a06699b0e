"""Square person boxes: (centre x, centre y, side) in image pixels, and their overlaps."""

import numpy as np


def from_xywh(box) -> np.ndarray:
    """(cx, cy, side) of an [x, y, w, h] box: its centre, its longer side."""
    x, y, w, h = (float(v) for v in box)
    return np.array([x + w / 2.0, y + h / 2.0, max(w, h)])


def to_xywh(square) -> list[float]:
    cx, cy, side = (float(v) for v in square)
    return [cx - side / 2.0, cy - side / 2.0, side, side]


def iou_matrix(a, b) -> np.ndarray:
    """[N, M] intersection over union of [N, 4] and [M, 4] (x, y, w, h) boxes."""
    a = np.asarray(a, np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(b, np.float64).reshape(-1, 4)[None, :, :]
    lo = np.maximum(a[..., :2], b[..., :2])
    hi = np.minimum(a[..., :2] + a[..., 2:], b[..., :2] + b[..., 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=-1)
    union = np.prod(a[..., 2:], axis=-1) + np.prod(b[..., 2:], axis=-1) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def iou(a, b) -> float:
    """IoU of two [x, y, w, h] boxes."""
    return float(iou_matrix(a, b)[0, 0])


def from_joints(joints_2d, confidence, relative_threshold=0.3, margin=1.3) -> np.ndarray:
    """(cx, cy, side): the square around the confident joints, `margin` x their extent.

    Joints with confidence >= relative_threshold x the best count (all of them when
    fewer than 4 do). The margin 1.3 matches the training crops: Human3.6M's are the
    joints' extent enlarged by 15% per side (SPEC 3).
    """
    confidence = np.asarray(confidence, np.float64)
    chosen = confidence >= relative_threshold * confidence.max()
    if chosen.sum() < 4:
        chosen[:] = True
    points = np.asarray(joints_2d, np.float64)[chosen]
    lo, hi = points.min(axis=0), points.max(axis=0)
    side = max(float((hi - lo).max()) * margin, 8.0)
    centre = (lo + hi) / 2.0
    return np.array([centre[0], centre[1], side])
