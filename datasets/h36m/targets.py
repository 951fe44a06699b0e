"""The H36M training targets exactly as the authors' Torch7 code builds them.

`fusion.lua` Dataset:getPartInfo (h36m branch, lines 196-222 of
xingyizhou/pose-hg-3d@00a4b48 src/util/dataset/fusion.lua) roots the 3D pose at
joint 7 AS RELEASED (H36M's spine), scales it by the ratio of the 14 bone
lengths in 2D to their x-y lengths in 3D, puts x, y at the 2D spine and the
depth around the crop centre. Only then does `generateSample`
(src/util/pose-hgreg-3d.lua line 24) overwrite joint 7 with the mean of the
transformed shoulders (12, 13). A heatmap is drawn for joint i only when the
released 2D x > 1 (pose-hgreg-3d.lua line 32). The bones (SPEC 1) do not touch
joint 7, so its value does not change the ratio.
"""

import numpy as np

from pose3d_jax import skeleton

ROOT = skeleton.THORAX  # joint 7: H36M's spine in the release (SPEC 1)
SHOULDERS = (skeleton.RIGHT_SHOULDER, skeleton.LEFT_SHOULDER)
MIN_X_WITH_HEATMAP = 1.0  # pose-hgreg-3d.lua:32 `if pts[i][1] > 1`


def h36m_targets(joints_2d, joints_3d_mm, crop_size: int):
    """(xy [16, 2] in crop pixels, depth target [16] about [-1, 1], visible [16]).

    Args:
      joints_2d: [16, 2] released 2D joints in crop pixels, our order.
      joints_3d_mm: [16, 3] camera-frame joints (mm), our order.
      crop_size: side of the released crop (224).
    """
    j2 = np.asarray(joints_2d, np.float64)
    j3 = np.asarray(joints_3d_mm, np.float64)
    rel = j3 - j3[ROOT]
    sum_2d = skeleton.bone_lengths(j2).sum()
    sum_3d = skeleton.bone_lengths(rel[:, :2]).sum()
    ratio = sum_2d / max(sum_3d, 1e-8)
    target = rel * ratio + np.array([j2[ROOT, 0], j2[ROOT, 1], crop_size / 2.0])
    target[ROOT] = target[list(SHOULDERS)].mean(axis=0)
    depth = target[:, 2] / crop_size * 2.0 - 1.0
    visible = j2[:, 0] > MIN_X_WITH_HEATMAP
    return target[:, :2].astype(np.float32), depth.astype(np.float32), visible
