"""Facts of the Human3.6M release format (SPEC 7), shared by the builder and the
synthetic generator so that the two cannot drift apart."""

from pose3d_jax import skeleton

CROP_SIZE = 224  # released images are square person crops resized to 224 x 224
# The release keeps frames 1, 6, 11, ... (h36mPreprocessing.m:128 `for fr = 1:5:num_frames`).
FRAME_STEP = 5
# The "sample test" (GetH36M.py:48-52) keeps 0-based video frame i when i % 200 == 0:
# 1-based frames 1, 201, 401, ... = every 40th released frame (SPEC 6).
SAMPLE_TEST_STEP = 200
SUBACTIONS = (1, 2)
CAMERAS = (1, 2, 3, 4)
ACTIONS = tuple(skeleton.H36M_ACTIONS)
MISSING_SEQUENCE = (11, 2, 2, 1)  # subject, action, subaction, camera absent from the release

IMAGES_DIR = "images"
ANNOT_DIR = "annot"
META_FILE = "matlab_meta.mat"
META_FIELDS = ("num_images", "Y2d", "Y3d_mono", "bbox")
# Fields of the annotation h5 (GetH36M.py) that the builder reads; the file also has istrain.
ANNOT_FIELDS = (
    "id",
    "joint_2d",
    "joint_3d_mono",
    "bbox",
    "subject",
    "action",
    "subaction",
    "camera",
)
SEQUENCE_KEYS = ("subject", "action", "subaction", "camera")


def folder_name(subject: int, action: int, subaction: int, camera: int) -> str:
    """The image folder of one video, e.g. s_09_act_02_subact_01_ca_03."""
    return f"s_{subject:02d}_act_{action:02d}_subact_{subaction:02d}_ca_{camera:02d}"


def image_name(folder: str, frame: int) -> str:
    """The JPEG of 1-based `frame` inside `folder`."""
    return f"{folder}_{frame:06d}.jpg"


def parse_folder(name: str) -> tuple[int, int, int, int] | None:
    """(subject, action, subaction, camera) of a folder name, or None if it is not one."""
    parts = name.split("_")
    if len(parts) != 8 or parts[0::2] != ["s", "act", "subact", "ca"]:
        return None
    try:
        return tuple(int(p) for p in parts[1::2])
    except ValueError:
        return None


def is_sample_test_frame(frame):
    """True for the 1-based video frames of the authors' sample test: 1, 201, 401, ..."""
    return (frame - 1) % SAMPLE_TEST_STEP == 0
