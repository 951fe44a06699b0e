"""Metric 3D in the camera's frame: where the skeleton stands, from the camera's intrinsics.

The network gives the pose relative to the pelvis at the size of the Human3.6M mean
skeleton (its 14 bones sum to skeleton.MEAN_SKELETON_BONE_SUM_MM); the true size is
unknown. Assuming that size, the root's translation T is the one that makes the 3D
joints X_i + T project onto the 2D joints (u_i, v_i) through the pinhole camera.
With x_i = (u_i - cx) / fx and y_i = (v_i - cy) / fy, the projection equations
    X_i + Tx = x_i (Z_i + Tz),    Y_i + Ty = y_i (Z_i + Tz)
are linear in T: their least squares over the confident joints (confidence at least
CONFIDENT_SHARE of the person's median, weighted by confidence) starts the solve, its
depth raised if it put a confident joint behind the camera. Those equations weigh each
joint's error by its depth, so T is then refined by Gauss-Newton on the reprojection
errors themselves, in pixels, (fx (X_i + Tx) / (Z_i + Tz) - fx x_i, likewise y), the
same weights, each step halved until the error falls with every confident joint in
front of the camera (at most GAUSS_NEWTON_STEPS). A person of another size lands at a
depth scaled by the same factor (a child of 2/3 the size appears 2/3 as far).

Pixels follow our convention (pixel i spans [i, i + 1), the image's centre is
(width / 2, height / 2)); intrinsics given in OpenCV's convention (pixel centres at
integers) are shifted by half a pixel when parsed.
"""

import dataclasses
import math

import numpy as np

from pose3d_jax import skeleton

CONFIDENT_SHARE = 0.5
MIN_JOINTS = 3
GAUSS_NEWTON_STEPS = 30
MIN_DEPTH_MM = 100.0  # the nearest a confident joint may be to the camera
OPENCV_TO_OURS_PX = 0.5  # OpenCV's pixel centre i is our i + 0.5


class CameraError(ValueError):
    """Bad intrinsics or field of view (one sentence naming the flag and the fix)."""


@dataclasses.dataclass(frozen=True)
class Intrinsics:
    """A pinhole camera in our pixel convention (pixel i spans [i, i + 1))."""

    fx: float
    fy: float
    cx: float
    cy: float
    source: str = "intrinsics"  # or "fov"

    def to_dict(self) -> dict:
        return {
            "fx": round(self.fx, 4),
            "fy": round(self.fy, 4),
            "cx": round(self.cx, 4),
            "cy": round(self.cy, 4),
            "pixel_convention": "pixel i spans [i, i + 1)",
            "from": self.source,
        }


@dataclasses.dataclass(frozen=True)
class CameraModel:
    """What the user said of the camera: a field of view (resolved per image size) or
    intrinsics (the same for every image)."""

    fov_deg: float | None = None
    intrinsics: Intrinsics | None = None

    def for_image(self, width: int, height: int) -> Intrinsics:
        if self.intrinsics is not None:
            return self.intrinsics
        return from_fov(self.fov_deg, width, height)

    def assumption(self) -> dict:
        """The JSON's note of what metric depth rests on."""
        return {
            "body_size": (
                "the 14 bones sum to the Human3.6M mean skeleton "
                f"({skeleton.MEAN_SKELETON_BONE_SUM_MM:.0f} mm); depth scales with the true size"
            ),
            "fov_deg": self.fov_deg,
            "fov_across": None if self.fov_deg is None else "the image's longer side",
            "solve": (
                "root translation minimising the confident joints' reprojection errors "
                "(weighted least squares in pixels)"
            ),
        }


def from_fov(fov_deg: float, width: int, height: int) -> Intrinsics:
    """Square pixels, principal point at the image's centre, `fov_deg` across the longer
    side: f = (longer side / 2) / tan(fov / 2)."""
    check_fov(fov_deg)
    focal = 0.5 * max(width, height) / math.tan(math.radians(fov_deg) / 2)
    return Intrinsics(focal, focal, width / 2, height / 2, source="fov")


def check_fov(fov_deg) -> float:
    value = float(fov_deg)
    if not 0.0 < value < 180.0 or not math.isfinite(value):
        raise CameraError(
            f"--fov must be a field of view in degrees strictly between 0 and 180 "
            f"(across the image's longer side, e.g. 60), got {fov_deg}."
        )
    return value


def parse_intrinsics(text: str) -> Intrinsics:
    """'fx,fy,cx,cy' in pixels, OpenCV's convention (the camera matrix's entries)."""
    try:
        values = [float(v) for v in str(text).split(",")]
    except ValueError:
        values = []
    finite = len(values) == 4 and all(math.isfinite(v) for v in values)
    if not finite or values[0] <= 0 or values[1] <= 0:
        raise CameraError(
            "--intrinsics must be fx,fy,cx,cy in pixels (OpenCV's camera matrix entries) "
            f"with positive fx and fy, e.g. 1145.0,1143.8,512.5,515.5; got '{text}'."
        )
    fx, fy, cx, cy = values
    return Intrinsics(fx, fy, cx + OPENCV_TO_OURS_PX, cy + OPENCV_TO_OURS_PX)


def joint_weights(confidence) -> np.ndarray:
    """Least-squares weights: confidence where it is at least CONFIDENT_SHARE of the
    median (all joints equally when that leaves fewer than MIN_JOINTS)."""
    confidence = np.clip(np.asarray(confidence, np.float64), 0.0, None)
    keep = confidence >= CONFIDENT_SHARE * np.median(confidence)
    if keep.sum() < MIN_JOINTS or confidence.max() <= 0:
        return np.ones_like(confidence)
    return np.where(keep, confidence, 0.0)


def _linear_translation(rel, x, y, w) -> np.ndarray:
    """T of the projection equations' weighted least squares (errors scaled by depth)."""
    zeros, ones = np.zeros_like(x), np.ones_like(x)
    a = np.concatenate([np.stack([ones, zeros, -x], 1), np.stack([zeros, ones, -y], 1)])
    b = np.concatenate([x * rel[:, 2] - rel[:, 0], y * rel[:, 2] - rel[:, 1]])
    row_w = np.sqrt(np.tile(w, 2))
    return np.linalg.lstsq(a * row_w[:, None], b * row_w, rcond=None)[0]


def _pixel_residuals(translation, rel, uv, intrinsics, w):
    """Weighted reprojection errors [2J] (px) and their Jacobian [2J, 3] in T."""
    p = rel + translation
    z = p[:, 2]
    root_w = np.sqrt(w)
    r = np.concatenate([
        root_w * (intrinsics.fx * p[:, 0] / z + intrinsics.cx - uv[:, 0]),
        root_w * (intrinsics.fy * p[:, 1] / z + intrinsics.cy - uv[:, 1]),
    ])  # fmt: skip
    zeros = np.zeros_like(z)
    jac = np.concatenate([
        np.stack([root_w * intrinsics.fx / z, zeros, -root_w * intrinsics.fx * p[:, 0] / z**2], 1),
        np.stack([zeros, root_w * intrinsics.fy / z, -root_w * intrinsics.fy * p[:, 1] / z**2], 1),
    ])  # fmt: skip
    return r, jac


def root_translation(joints_3d, joints_2d, intrinsics: Intrinsics, weights=None) -> np.ndarray:
    """T [3] (mm) such that joints_3d [J, 3] + T project onto joints_2d [J, 2]."""
    rel = np.asarray(joints_3d, np.float64)
    uv = np.asarray(joints_2d, np.float64)
    w = np.ones(len(rel)) if weights is None else np.asarray(weights, np.float64)
    x = (uv[:, 0] - intrinsics.cx) / intrinsics.fx
    y = (uv[:, 1] - intrinsics.cy) / intrinsics.fy
    translation = _linear_translation(rel, x, y, w)
    nearest = rel[w > 0, 2].min() + translation[2]
    translation[2] += max(0.0, MIN_DEPTH_MM - nearest)
    residuals, jac = _pixel_residuals(translation, rel, uv, intrinsics, w)
    cost = residuals @ residuals
    for _ in range(GAUSS_NEWTON_STEPS):
        step = np.linalg.lstsq(jac, -residuals, rcond=None)[0]
        for _ in range(20):
            trial = translation + step
            if (rel[w > 0, 2] + trial[2]).min() > 0:
                trial_residuals, trial_jac = _pixel_residuals(trial, rel, uv, intrinsics, w)
                if trial_residuals @ trial_residuals < cost:
                    break
            step = step / 2
        else:
            break  # no step lowers the error: at the minimum
        translation, residuals, jac = trial, trial_residuals, trial_jac
        previous, cost = cost, residuals @ residuals
        if previous - cost <= 1e-12 * max(previous, 1.0):
            break
    return translation


def camera_joints(joints_3d, joints_2d, confidence, intrinsics: Intrinsics) -> np.ndarray:
    """The joints [J, 3] in the camera's frame (mm): the relative pose moved by the root
    translation that fits the confident joints' 2D."""
    rel = np.asarray(joints_3d, np.float64)
    translation = root_translation(rel, joints_2d, intrinsics, joint_weights(confidence))
    return rel + translation


def project(joints_camera, intrinsics: Intrinsics) -> np.ndarray:
    """Pinhole projection [J, 2] of camera-frame joints [J, 3] into our pixels."""
    p = np.asarray(joints_camera, np.float64)
    return np.stack(
        [intrinsics.fx * p[:, 0] / p[:, 2] + intrinsics.cx,
         intrinsics.fy * p[:, 1] / p[:, 2] + intrinsics.cy], axis=1,
    )  # fmt: skip
