"""Rotations between a rest pose and observed joints, and their Euler angles over time.

A bone's rotation is fixed by its direction up to the twist about it; the twist comes
either from a reference line (the body's left-right joints: frame_rotation) or, for
the limbs, from the parent with no twist added (swing). Euler angles follow BVH's
channel order: for "Zrotation Xrotation Yrotation" the local rotation is
Rz(z) @ Rx(x) @ Ry(y) applied to column vectors (scipy's intrinsic "ZXY").
"""

import numpy as np

EPS = 1e-9


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, EPS)


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation [3, 3] taking direction a onto direction b."""
    a, b = unit(a), unit(b)
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(np.dot(a, b))
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        # opposite: a half turn about any axis perpendicular to a
        helper = np.eye(3)[np.argmin(np.abs(a))]
        k = unit(np.cross(a, helper))
        return 2.0 * np.outer(k, k) - np.eye(3)
    k = axis / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * kx + (1 - c) * (kx @ kx)


def basis(primary: np.ndarray, reference: np.ndarray) -> np.ndarray | None:
    """Columns (reference made perpendicular to primary, primary, their cross product),
    or None when the reference is (nearly) parallel to the primary direction."""
    p = unit(primary)
    r = np.asarray(reference, np.float64) - np.dot(reference, p) * p
    if np.linalg.norm(r) < 1e-6 * max(np.linalg.norm(reference), EPS):
        return None
    r = unit(r)
    return np.stack([r, p, np.cross(r, p)], axis=1)


def frame_rotation(rest_dir, rest_ref, dir_, ref) -> np.ndarray | None:
    """The rotation taking rest_dir exactly onto dir_ and rest_ref, about that
    direction, as close as it goes to ref (None when a reference is parallel)."""
    rest = basis(rest_dir, rest_ref)
    now = basis(dir_, ref)
    if rest is None or now is None:
        return None
    return now @ rest.T


def euler_zxy(rotations: np.ndarray) -> np.ndarray:
    """Angles [T, 3] in degrees (z, x, y) of local rotations [T, 3, 3], continuous in
    time: of the two angle sets of each rotation the one nearer the previous frame's,
    shifted by whole turns to it (no jump of 360 degrees; a full turn reads 0 -> 360)."""
    from scipy.spatial.transform import Rotation

    first = Rotation.from_matrix(np.asarray(rotations)).as_euler("ZXY", degrees=True)
    second = np.stack([first[:, 0] + 180.0, 180.0 - first[:, 1], first[:, 2] + 180.0], 1)
    out = np.empty_like(first)
    previous = None
    for t in range(len(first)):
        options = [first[t], second[t]]
        if previous is None:
            out[t] = first[t]
        else:
            near = [o + 360.0 * np.round((previous - o) / 360.0) for o in options]
            out[t] = min(near, key=lambda o: float(np.sum((o - previous) ** 2)))
        previous = out[t]
    return out


def matrix_zxy(angles_deg: np.ndarray) -> np.ndarray:
    """The local rotations [T, 3, 3] of (z, x, y) angles in degrees (euler_zxy's inverse)."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler("ZXY", np.asarray(angles_deg), degrees=True).as_matrix()
