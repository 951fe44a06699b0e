"""BVH animation of a sequence of 3D poses: a rig rooted at the pelvis, rotations per frame.

The hierarchy is the joint order's bone tree (skeletons.py) in a T-pose, BVH's axes:
Y up, X toward the person's left, Z forward (our camera axes x right, y down, z away
become (x, -y, -z): a person facing the camera faces +Z, as Blender's importer
expects). Each joint's OFFSET is the track's median length of its bone (the poses are
at the Human3.6M mean skeleton's size, so the armature is too) along its rest
direction: legs down, spine and head up, arms out to the sides. Where a joint has
several children whose directions move independently (the pelvis: hips and spine; the
neck: head and shoulders), each child but the spine's is reached through a link joint
at the parent's position (OFFSET 0, named PARENT_to_CHILD), so every joint lands where
the input has it whatever the pose. Leaves end in an End Site (a foot forward, a hand,
the top of the head) whose rotation is the parent's.

Rotations, per frame: a joint on the spine turns its bone exactly onto the observed
direction, its twist about the bone set by the body's left-right line (the hips for
the root, the shoulders above it), so a turning body gives a turning root; a limb or
link joint takes the smallest rotation from where its parent carries the bone (no
twist of its own). Channels "Zrotation Xrotation Yrotation": the local rotation is
Rz @ Rx @ Ry on column vectors, angles in degrees kept continuous between frames
(rotations.euler_zxy). The root's "Xposition Yposition Zposition" is the camera-frame
pelvis when metric 3D is known (the camera at the origin looking along -Z), else the
pelvis stands at its median height above the lower ankle (the floor is y = 0).
"""

import dataclasses
from pathlib import Path

import numpy as np

from pose3d_jax import fileio
from pose3d_jax.motion import rotations, skeletons

CAMERA_TO_BVH = np.diag([1.0, -1.0, -1.0])  # a half turn about x: y down -> Y up
UNITS_PER_MM = {"m": 1e-3, "cm": 0.1, "mm": 1.0}
END_FRACTION = {"ankle": 0.35, "wrist": 0.3, "head": 0.3}  # End Site length / own bone
ROTATION_CHANNELS = ("Zrotation", "Xrotation", "Yrotation")
POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")


class MotionError(ValueError):
    """Poses a BVH cannot be made of (one sentence naming what and the fix)."""


@dataclasses.dataclass(frozen=True)
class BvhJoint:
    """One JOINT of the file: where its head is (a joint of the order), whom it aims at."""

    name: str
    parent: int  # index into the hierarchy; -1 for the root
    at: int  # joint of the order at this joint's head
    aim: int | None  # joint of the order its bone points to (None: a leaf)
    offset_mm: np.ndarray  # from the parent's head, rest pose, BVH axes
    twist: tuple[str, str] | None = None  # (left, right) joints setting the twist
    end_mm: np.ndarray | None = None  # End Site offset of a leaf


def rest_direction(joint_name: str) -> np.ndarray:
    """Unit direction of a joint's bone from its parent in the T-pose (BVH axes)."""
    side = -1.0 if joint_name.startswith("right") else 1.0
    if any(part in joint_name for part in ("hip", "shoulder", "elbow", "wrist")):
        return np.array([side, 0.0, 0.0])
    if any(part in joint_name for part in ("knee", "ankle")):
        return np.array([0.0, -1.0, 0.0])
    return np.array([0.0, 1.0, 0.0])


def _end_offset(joint_name: str, own_length: float) -> np.ndarray:
    for part, share in END_FRACTION.items():
        if part in joint_name:
            direction = np.array([0.0, 0.0, 1.0]) if part == "ankle" else rest_direction(joint_name)
            return direction * share * own_length
    return rest_direction(joint_name) * 0.3 * own_length


def median_bone_lengths(positions_mm: np.ndarray, order: skeletons.JointOrder) -> np.ndarray:
    """[J] median length over frames of each joint's bone to its parent (0 for the root)."""
    lengths = np.zeros(len(order.parents))
    for j, p in enumerate(order.parents):
        if p >= 0:
            bone = positions_mm[:, j] - positions_mm[:, p]
            lengths[j] = float(np.median(np.linalg.norm(bone, axis=-1)))
    return lengths


def build_hierarchy(order: skeletons.JointOrder, lengths_mm: np.ndarray) -> list[BvhJoint]:
    """The file's joints depth first (a parent before its children), links included."""
    names, parents = order.joint_names, order.parents
    children = {j: [c for c, p in enumerate(parents) if p == j] for j in range(len(names))}
    joints: list[BvhJoint] = []

    def add(j, parent, offset):
        kids = children[j]
        up = [c for c in kids if rest_direction(names[c])[1] > 0]
        aim = (up or kids)[0] if kids else None
        twist = None
        if aim is not None and rest_direction(names[aim])[1] > 0 and len(up) == 1:
            pair = ("left_hip", "right_hip") if parent < 0 else ("left_shoulder", "right_shoulder")
            twist = pair if all(n in names for n in pair) else None
        end = None if kids else _end_offset(names[j], lengths_mm[j])
        joints.append(BvhJoint(names[j], parent, j, aim, np.asarray(offset, float), twist, end))
        k = len(joints) - 1
        if aim is not None:
            add(aim, k, rest_direction(names[aim]) * lengths_mm[aim])
        for c in kids:
            if c == aim:
                continue
            joints.append(BvhJoint(f"{names[j]}_to_{names[c]}", k, j, c, np.zeros(3)))
            add(c, len(joints) - 1, rest_direction(names[c]) * lengths_mm[c])

    roots = [j for j, p in enumerate(parents) if p < 0]
    add(roots[0], -1, np.zeros(3))
    return joints


def world_rotations(frame_mm: np.ndarray, joints: list[BvhJoint], names) -> list[np.ndarray]:
    """Each file joint's world rotation [3, 3] for one frame's positions [J, 3] (BVH axes)."""
    world = []
    for joint in joints:
        parent = np.eye(3) if joint.parent < 0 else world[joint.parent]
        if joint.aim is None:
            world.append(parent)
            continue
        rest = rest_direction(names[joint.aim])
        seen = frame_mm[joint.aim] - frame_mm[joint.at]
        rotation = None
        if joint.twist is not None:
            left, right = (names.index(n) for n in joint.twist)
            across = frame_mm[left] - frame_mm[right]
            rotation = rotations.frame_rotation(rest, np.array([1.0, 0.0, 0.0]), seen, across)
        if rotation is None:
            rotation = rotations.swing(parent @ rest, seen) @ parent
        world.append(rotation)
    return world


def local_angles(positions_mm: np.ndarray, joints: list[BvhJoint], names) -> np.ndarray:
    """[T, N, 3] Euler angles (z, x, y) in degrees of each file joint, continuous in time."""
    local = np.empty((len(positions_mm), len(joints), 3, 3))
    for t, frame in enumerate(positions_mm):
        world = world_rotations(frame, joints, names)
        for k, joint in enumerate(joints):
            parent = np.eye(3) if joint.parent < 0 else world[joint.parent]
            local[t, k] = parent.T @ world[k]
    return np.stack([rotations.euler_zxy(local[:, k]) for k in range(len(joints))], axis=1)


def standing_root(positions_mm: np.ndarray, order: skeletons.JointOrder) -> np.ndarray:
    """[T, 3] root positions with the pelvis at its median height above the lower ankle."""
    root = order.parents.index(-1)
    ankles = [order.index(n) for n in ("left_ankle", "right_ankle")]
    height = np.median(positions_mm[:, root, 1] - positions_mm[:, ankles, 1].min(axis=1))
    out = np.zeros((len(positions_mm), 3))
    out[:, 1] = height
    return out


def fill_gaps(frames, poses) -> tuple[np.ndarray, np.ndarray]:
    """(every frame index from the first to the last, poses [T, J, 3] there): a frame a
    track missed gets the linear interpolation of its neighbours."""
    frames = np.asarray(frames)
    poses = np.asarray(poses, np.float64)
    order = np.argsort(frames)
    frames, poses = frames[order], poses[order]
    every = np.arange(frames[0], frames[-1] + 1)
    flat = poses.reshape(len(frames), -1)
    filled = np.stack([np.interp(every, frames, flat[:, i]) for i in range(flat.shape[1])], 1)
    return every, filled.reshape((len(every),) + poses.shape[1:])


def _hierarchy_text(joints, scale) -> list[str]:
    lines = []

    def fmt(v):
        return " ".join(f"{x * scale:.6f}" for x in v)

    def emit(k, depth):
        joint, pad = joints[k], "  " * depth
        head = "ROOT" if joint.parent < 0 else "JOINT"
        channels = (POSITION_CHANNELS if joint.parent < 0 else ()) + ROTATION_CHANNELS
        lines.extend([f"{pad}{head} {joint.name}", f"{pad}{{",
                      f"{pad}  OFFSET {fmt(joint.offset_mm)}",
                      f"{pad}  CHANNELS {len(channels)} {' '.join(channels)}"])  # fmt: skip
        for c, child in enumerate(joints):
            if child.parent == k:
                emit(c, depth + 1)
        if joint.end_mm is not None:
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {fmt(joint.end_mm)}",
                          f"{pad}  }}"])  # fmt: skip
        lines.append(f"{pad}}}")

    emit(0, 0)
    return lines


def check_poses(joints_3d_mm, fps, order) -> np.ndarray:
    poses = np.asarray(joints_3d_mm, np.float64)
    expected = (16, len(order.joint_names))
    if poses.ndim != 3 or poses.shape[-1] != 3 or poses.shape[1] not in expected:
        raise MotionError(
            f"a BVH needs poses shaped [frames, joints, 3] with 16 or {expected[1]} joints, "
            f"got shape {poses.shape}."
        )
    if len(poses) == 0 or not np.all(np.isfinite(poses)):
        raise MotionError("a BVH needs at least one frame of finite joint positions.")
    if not (np.isfinite(fps) and fps > 0):
        raise MotionError(f"a BVH needs a positive frame rate, got {fps} frames/s.")
    return poses


def bvh_text(joints_3d_mm, fps, *, skeleton="mpii16", root_mm=None, units="m") -> str:
    """The BVH file's text of poses [T, J, 3] in our camera axes (mm; pelvis-relative
    or camera-frame); `root_mm` [T, 3]: the camera-frame pelvis, when metric."""
    order = skeletons.joint_order(skeleton)
    if units not in UNITS_PER_MM:
        raise MotionError(f"unknown BVH units '{units}': choose one of m, cm, mm.")
    poses = check_poses(joints_3d_mm, fps, order)
    if poses.shape[1] == 16 and order is not skeletons.MPII16:
        poses = skeletons.convert(poses, skeleton)
    root = order.parents.index(-1)
    positions = (poses - poses[:, root : root + 1]) @ CAMERA_TO_BVH.T
    joints = build_hierarchy(order, median_bone_lengths(positions, order))
    angles = local_angles(positions, joints, order.joint_names)
    if root_mm is None:
        root_track = standing_root(positions, order)
    else:
        root_track = np.asarray(root_mm, np.float64).reshape(len(poses), 3) @ CAMERA_TO_BVH.T
    scale = UNITS_PER_MM[units]
    lines = ["HIERARCHY", *_hierarchy_text(joints, scale), "MOTION", f"Frames: {len(poses)}",
             f"Frame Time: {1.0 / fps:.8f}"]  # fmt: skip
    for t in range(len(poses)):
        values = np.concatenate([root_track[t] * scale, angles[t].reshape(-1)])
        lines.append(" ".join(f"{v:.6f}" for v in values))
    return "\n".join(lines) + "\n"


def write_bvh(path, joints_3d_mm, fps, *, skeleton="mpii16", root_mm=None, units="m") -> Path:
    """Writes the BVH of poses [T, J, 3] (see bvh_text) whole or not at all; returns the path.

    from pose3d_jax.motion import bvh
    bvh.write_bvh("walk.bvh", poses_mm, fps=25)      # poses: [frames, 16, 3]
    """
    text = bvh_text(joints_3d_mm, fps, skeleton=skeleton, root_mm=root_mm, units=units)
    return fileio.write_bytes_atomic(Path(path), text.encode())
