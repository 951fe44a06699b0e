"""The 16-joint MPII skeleton as named data: the single source of truth.

Every index, bone, flip partner, bone group, weight and dataset joint map in
the project comes from here (SPEC sections 1, 4 and 6), so that no other file
holds a magic index.
"""

import numpy as np

JOINT_NAMES = (
    "right_ankle",
    "right_knee",
    "right_hip",
    "left_hip",
    "left_knee",
    "left_ankle",
    "pelvis",
    "thorax",
    "upper_neck",
    "head_top",
    "right_wrist",
    "right_elbow",
    "right_shoulder",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
)
NUM_JOINTS = len(JOINT_NAMES)
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}


def _idx(*names: str) -> tuple[int, ...]:
    return tuple(JOINT_INDEX[n] for n in names)


PELVIS, THORAX, UPPER_NECK, HEAD_TOP = _idx("pelvis", "thorax", "upper_neck", "head_top")
RIGHT_HIP, LEFT_HIP = _idx("right_hip", "left_hip")
RIGHT_SHOULDER, LEFT_SHOULDER = _idx("right_shoulder", "left_shoulder")

# Root joint of evaluation (pelvis) and of the H36M depth target (thorax, SPEC 3).
EVAL_ROOT = PELVIS
TARGET_ROOT = THORAX

BONE_NAMES = (
    ("right_ankle", "right_knee"),
    ("right_knee", "right_hip"),
    ("right_hip", "pelvis"),
    ("pelvis", "left_hip"),
    ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"),
    ("right_wrist", "right_elbow"),
    ("right_elbow", "right_shoulder"),
    ("right_shoulder", "upper_neck"),
    ("upper_neck", "left_shoulder"),
    ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("pelvis", "upper_neck"),
    ("upper_neck", "head_top"),
)
BONES = tuple(_idx(a, b) for a, b in BONE_NAMES)

_FLIP_NAME_PAIRS = (
    ("right_ankle", "left_ankle"),
    ("right_knee", "left_knee"),
    ("right_hip", "left_hip"),
    ("right_wrist", "left_wrist"),
    ("right_elbow", "left_elbow"),
    ("right_shoulder", "left_shoulder"),
)
FLIP_PAIRS = tuple(_idx(a, b) for a, b in _FLIP_NAME_PAIRS)


def _flip_permutation() -> tuple[int, ...]:
    perm = list(range(NUM_JOINTS))
    for a, b in FLIP_PAIRS:
        perm[a], perm[b] = b, a
    return tuple(perm)


# joints_flipped = joints[FLIP_PERMUTATION]: each joint takes its partner's place.
FLIP_PERMUTATION = _flip_permutation()

# Joints counted by the training-time 2D accuracy (limbs only).
ACCURACY_JOINTS = _idx(
    "right_ankle",
    "right_knee",
    "right_hip",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_wrist",
    "right_elbow",
    "left_elbow",
    "left_wrist",
)

# Standard skeleton bone lengths (mm) that give the geometric loss its ratios.
STANDARD_BONE_LENGTH_MM = {
    "knee_ankle": 339.88,
    "hip_knee": 409.49,
    "elbow_wrist": 246.98,
    "shoulder_elbow": 280.90,
}
# Sum of the 14 bone lengths of the H36M training set's mean skeleton (SPEC 6).
MEAN_SKELETON_BONE_SUM_MM = 4296.99233013

_LEG_RATIO = 1.0085885098415446  # knee-ankle relative to hip-knee, as the original stored it
_ARM_RATIO = 1.1375361376887123  # elbow-wrist relative to shoulder-elbow

# Bone groups of the geometric loss: within a group, weighted lengths should be equal.
BONE_GROUPS = {
    "legs": (
        (_idx("right_ankle", "right_knee"), _LEG_RATIO),
        (_idx("right_knee", "right_hip"), 1.0),
        (_idx("left_hip", "left_knee"), 1.0),
        (_idx("left_knee", "left_ankle"), _LEG_RATIO),
    ),
    "arms": (
        (_idx("right_wrist", "right_elbow"), _ARM_RATIO),
        (_idx("right_elbow", "right_shoulder"), 1.0),
        (_idx("left_shoulder", "left_elbow"), 1.0),
        (_idx("left_elbow", "left_wrist"), _ARM_RATIO),
    ),
    "hips": (
        (_idx("right_hip", "pelvis"), 1.0),
        (_idx("left_hip", "pelvis"), 1.0),
    ),
    "shoulders": (
        (_idx("right_shoulder", "upper_neck"), 1.0),
        (_idx("left_shoulder", "upper_neck"), 1.0),
    ),
}

# PCKh joint groups as the common MPII evaluation scripts report them: "head" is the
# head top alone, the others average the left and right joints. The mean is over
# every joint but pelvis and thorax.
PCKH_GROUPS = {
    "head": _idx("head_top"),
    "shoulder": _idx("right_shoulder", "left_shoulder"),
    "elbow": _idx("right_elbow", "left_elbow"),
    "wrist": _idx("right_wrist", "left_wrist"),
    "hip": _idx("right_hip", "left_hip"),
    "knee": _idx("right_knee", "left_knee"),
    "ankle": _idx("right_ankle", "left_ankle"),
}

# Source joint index of each of our 16 joints in the other datasets' orders.
PCKH_MEAN_JOINTS = tuple(i for i in range(NUM_JOINTS) if i not in (PELVIS, THORAX))

H36M_TO_MPII = (3, 2, 1, 4, 5, 6, 0, 7, 8, 10, 16, 15, 14, 11, 12, 13)
MPI_INF_3DHP_TO_MPII = (10, 9, 8, 11, 12, 13, 14, 15, 1, 0, 4, 3, 2, 5, 6, 7)
NUM_H36M_JOINTS = 17
NUM_MPI_INF_3DHP_JOINTS = 17

H36M_ACTIONS = {
    2: "Directions",
    3: "Discussion",
    4: "Eating",
    5: "Greeting",
    6: "Phoning",
    7: "Posing",
    8: "Purchases",
    9: "Sitting",
    10: "SittingDown",
    11: "Smoking",
    12: "Photo",
    13: "Waiting",
    14: "Walking",
    15: "WalkDog",
    16: "WalkTogether",
}
H36M_TRAIN_SUBJECTS = (1, 5, 6, 7, 8)
H36M_TEST_SUBJECTS = (9, 11)


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """Lengths of the 14 bones of `joints` [..., 16, D] (NumPy), shape [..., 14]."""
    a = np.asarray(joints)[..., [b[0] for b in BONES], :]
    b = np.asarray(joints)[..., [b[1] for b in BONES], :]
    return np.linalg.norm(a - b, axis=-1)
