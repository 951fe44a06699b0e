"""The joint orders other tools read, converted from ours, with their bone trees.

mpii16 is our own order (skeleton.JOINT_NAMES; MPII's, as the stacked hourglass
predicts it). h36m17 is Human3.6M's 17-joint order as its loaders use it:

- names and order: una-dinosauria/3d-pose-baseline, src/data_utils.py, lines 21-38
  (H36M_NAMES of the 32 recorded joints, the 17 that move) and lines 40-57 (SH_NAMES,
  the stacked hourglass's 16 = ours), whose load_stacked_hourglass asserts the
  permutation SH_TO_GT_PERM = [6,2,1,0,3,4,5,7,8,9,13,14,15,12,11,10]: H36M's 16
  joints other than Neck/Nose, each taken from our joint of that index;
- parents: facebookresearch/VideoPose3D, common/h36m_dataset.py (h36m_skeleton's
  parents, remove_joints to 17 and the shoulders rewired to the thorax), which gives
  [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15].

The same mapping is SPEC 1's (skeleton.H36M_TO_MPII): Human3.6M's spine is our
"thorax", its thorax our "upper neck", its head our "head top". Neck/Nose is not
predicted by the network: it is derived as the midpoint of the thorax and the head
(our upper neck and head top) and marked as derived.
"""

import dataclasses

import numpy as np

from pose3d_jax import skeleton

SKELETON_NAMES = ("mpii16", "h36m17")


@dataclasses.dataclass(frozen=True)
class JointOrder:
    """A joint order: names, each joint's parent (-1: the root), which are derived."""

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    derived: tuple[str, ...] = ()

    def index(self, joint_name: str) -> int:
        return self.joint_names.index(joint_name)


def _mpii16_parents() -> tuple[int, ...]:
    """Our bone tree rooted at the pelvis: the 14 bones of skeleton.BONES, with the
    spine through the thorax (pelvis -> thorax -> upper neck) as Human3.6M's is."""
    j = skeleton.JOINT_INDEX
    parent_of = {
        "right_ankle": "right_knee",
        "right_knee": "right_hip",
        "right_hip": "pelvis",
        "left_hip": "pelvis",
        "left_knee": "left_hip",
        "left_ankle": "left_knee",
        "thorax": "pelvis",
        "upper_neck": "thorax",
        "head_top": "upper_neck",
        "right_wrist": "right_elbow",
        "right_elbow": "right_shoulder",
        "right_shoulder": "upper_neck",
        "left_shoulder": "upper_neck",
        "left_elbow": "left_shoulder",
        "left_wrist": "left_elbow",
    }
    return tuple(j[parent_of[n]] if n in parent_of else -1 for n in skeleton.JOINT_NAMES)


MPII16 = JointOrder("mpii16", skeleton.JOINT_NAMES, _mpii16_parents())

H36M17 = JointOrder(
    "h36m17",
    (
        "pelvis",  # Hip
        "right_hip",  # RHip
        "right_knee",  # RKnee
        "right_ankle",  # RFoot
        "left_hip",  # LHip
        "left_knee",  # LKnee
        "left_ankle",  # LFoot
        "spine",  # Spine
        "thorax",  # Thorax
        "neck_nose",  # Neck/Nose
        "head",  # Head
        "left_shoulder",  # LShoulder
        "left_elbow",  # LElbow
        "left_wrist",  # LWrist
        "right_shoulder",  # RShoulder
        "right_elbow",  # RElbow
        "right_wrist",  # RWrist
    ),
    (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    derived=("neck_nose",),
)

# 3d-pose-baseline's SH_TO_GT_PERM: H36M's joints but Neck/Nose, from our indices.
H36M17_FROM_MPII16 = (6, 2, 1, 0, 3, 4, 5, 7, 8, 9, 13, 14, 15, 12, 11, 10)
_H36M17_PREDICTED = tuple(i for i in range(17) if i != 9)
NECK_NOSE, H36M_THORAX, H36M_HEAD = 9, 8, 10

ORDERS = {"mpii16": MPII16, "h36m17": H36M17}


def joint_order(name: str) -> JointOrder:
    """The JointOrder called `name` (one of SKELETON_NAMES)."""
    if name not in ORDERS:
        raise ValueError(f"unknown skeleton '{name}': choose one of {', '.join(SKELETON_NAMES)}.")
    return ORDERS[name]


def convert(joints: np.ndarray, name: str) -> np.ndarray:
    """Our joints [..., 16, D] (2D, 3D or confidences [..., 16, 1]) in the order `name`.

    h36m17's Neck/Nose is the midpoint of its thorax and head (for confidences: the
    smaller of the two), as the module docstring says.
    """
    joints = np.asarray(joints)
    if joints.shape[-2] != skeleton.NUM_JOINTS:
        raise ValueError(
            f"expected {skeleton.NUM_JOINTS} joints on axis -2, got shape {joints.shape}."
        )
    if joint_order(name) is MPII16:
        return joints.copy()
    out = np.empty(joints.shape[:-2] + (17,) + joints.shape[-1:], joints.dtype)
    out[..., _H36M17_PREDICTED, :] = joints[..., H36M17_FROM_MPII16, :]
    out[..., NECK_NOSE, :] = 0.5 * (out[..., H36M_THORAX, :] + out[..., H36M_HEAD, :])
    return out


def convert_confidence(confidence: np.ndarray, name: str) -> np.ndarray:
    """Per-joint confidences [..., 16] in the order `name` (a derived joint: the lower
    confidence of the joints it comes from)."""
    confidence = np.asarray(confidence)
    if joint_order(name) is MPII16:
        return confidence.copy()
    out = np.empty(confidence.shape[:-1] + (17,), confidence.dtype)
    out[..., _H36M17_PREDICTED] = confidence[..., H36M17_FROM_MPII16]
    out[..., NECK_NOSE] = np.minimum(out[..., H36M_THORAX], out[..., H36M_HEAD])
    return out
