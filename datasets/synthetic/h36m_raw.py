"""Synthetic Human3.6M in the authors' preprocessed release format (SPEC 7).

Videos `s_SS_act_AA_subact_BB_ca_CC/` hold 224 x 224 person crops of frames
1, 6, 11, ... and `matlab_meta.mat`; `annot/train.h5` and `annot/test.h5` are
what the authors' GetH36M.py makes of them. Each camera films its own room
(one background per camera), each subject keeps its colours.
"""

import math
from pathlib import Path

import cv2
import numpy as np

from datasets.h36m import layout
from datasets.synthetic import body, files, render, scene
from pose3d_jax import geometry, skeleton

FRAME_SIZE = 1000  # side of the (virtual) original video frame
FOCAL_PX = 1145.0
FRAMES_PER_VIDEO = 20
DISTANCE_MM = (3500.0, 6000.0)
TRAIN_SUBJECTS = tuple(skeleton.H36M_TRAIN_SUBJECTS)
TEST_SUBJECTS = tuple(skeleton.H36M_TEST_SUBJECTS)
SUBJECTS = TRAIN_SUBJECTS + TEST_SUBJECTS
TEST_VIDEO_FRAMES = 1000 // layout.FRAME_STEP  # released frames of a long test video
STREAM = 36  # seed-stream tag of this format


def video_list(rng, num_images: int) -> list[tuple[tuple[int, int, int, int], int]]:
    """[(subject, action, subaction, camera), number of released frames] covering
    num_images, the test subjects' share (2 of 7) in long videos.

    Training videos take the subjects in turn. Test videos are long, at least
    TEST_VIDEO_FRAMES released frames (1000 video frames) when the set is big
    enough, so that each gives several sample-test frames (1, 201, 401, ...).
    """
    test_count = round(num_images * len(TEST_SUBJECTS) / len(SUBJECTS))
    train_count = num_images - test_count
    longest = max(FRAMES_PER_VIDEO, math.ceil(num_images / (len(SUBJECTS) * 100)))
    per_video = min(longest, math.ceil(num_images / (2 * len(SUBJECTS))))  # small sets: short
    lengths = [(TRAIN_SUBJECTS[v % len(TRAIN_SUBJECTS)], min(per_video, train_count - start))
               for v, start in enumerate(range(0, train_count, per_video))]  # fmt: skip
    num_test = min(test_count, max(len(TEST_SUBJECTS), test_count // TEST_VIDEO_FRAMES))
    for v in range(num_test):  # even lengths, the test subjects in turn
        count = test_count // num_test + (v < test_count % num_test)
        lengths.append((TEST_SUBJECTS[v % len(TEST_SUBJECTS)], count))
    videos, used = [], {layout.MISSING_SEQUENCE}
    for subject, count in lengths:
        key = layout.MISSING_SEQUENCE
        while key in used:
            key = (
                subject,
                int(rng.choice(layout.ACTIONS)),
                int(rng.choice(layout.SUBACTIONS)),
                int(rng.choice(layout.CAMERAS)),
            )
        used.add(key)
        videos.append((key, count))
    return videos


def _crop(room: np.ndarray, x1: int, y1: int, side: int) -> np.ndarray:
    """The room behind the box (x1, y1, side), resized to the release crop."""
    k = layout.CROP_SIZE / side
    matrix = geometry.to_opencv_matrix(np.array([[k, 0, -k * x1], [0, k, -k * y1]]))
    size = (layout.CROP_SIZE, layout.CROP_SIZE)
    return cv2.warpAffine(
        room, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )


def write_video(
    root: Path, key, count: int, seed: int, room: np.ndarray, palette: dict, num_frames=None
) -> dict:
    """Writes one video's crops and matlab_meta.mat; returns its annotation rows.

    The video has num_frames frames (default: 5 (count - 1) + 1 + 0..4) of which
    frames 1, 6, 11, ... (count of them) are released.
    """
    rng = np.random.default_rng([seed, STREAM, *key])
    folder = layout.folder_name(*key)
    (root / layout.IMAGES_DIR / folder).mkdir(parents=True, exist_ok=True)
    extra = int(rng.integers(0, layout.FRAME_STEP))
    if num_frames is None:
        num_frames = layout.FRAME_STEP * (count - 1) + 1 + extra
    if not layout.FRAME_STEP * (count - 1) < num_frames:
        raise ValueError(f"{count} released frames do not fit a video of {num_frames} frames")
    meta = {
        "Y2d": np.zeros((skeleton.NUM_H36M_JOINTS * 2, num_frames)),
        "Y3d_mono": np.zeros((skeleton.NUM_H36M_JOINTS * 3, num_frames)),
        "bbox": np.zeros((4, num_frames)),
    }
    focal = FOCAL_PX + rng.uniform(-5, 5)
    principal = FRAME_SIZE / 2 + rng.uniform(-15, 15, 2)
    distance, lateral = rng.uniform(*DISTANCE_MM), rng.uniform(-400, 400)
    rows = []
    for k in range(count):
        frame = 1 + layout.FRAME_STEP * k
        offset = (lateral + rng.normal(0, 100), rng.uniform(0, 400), distance + rng.normal(0, 150))
        person = scene.random_person(rng, offset, focal, principal)
        x1, y1, side = scene.square_box(person)
        zoom = layout.CROP_SIZE / side
        crop = person.warped(zoom, -zoom * np.array([x1, y1], float))
        image = render.draw(_crop(room, x1, y1, side), crop.items(palette))
        files.write_jpeg(
            root / layout.IMAGES_DIR / folder / layout.image_name(folder, frame),
            render.add_grain(image, rng),
        )
        joints_2d = body.seventeen_joints(crop.uv, skeleton.H36M_TO_MPII)
        joints_3d = body.seventeen_joints(person.camera, skeleton.H36M_TO_MPII)
        meta["Y2d"][:, frame - 1] = joints_2d.ravel()
        meta["Y3d_mono"][:, frame - 1] = joints_3d.ravel()
        meta["bbox"][:, frame - 1] = (x1, y1, x1 + side, y1 + side)
        rows.append((frame, joints_2d, joints_3d, meta["bbox"][:, frame - 1].copy()))
    files.write_mat(
        root / layout.IMAGES_DIR / folder / layout.META_FILE,
        {"num_images": float(num_frames), **meta},
    )
    return _annotation_rows(key, rows)


def _annotation_rows(key, rows) -> dict:
    """GetH36M.py's view of a video: one row per released frame, our joint order."""
    order = list(skeleton.H36M_TO_MPII)
    n = len(rows)
    out = {
        "id": np.array([r[0] for r in rows], np.int64),
        "joint_2d": np.stack([r[1][order] for r in rows]),
        "joint_3d_mono": np.stack([r[2][order] for r in rows]),
        "bbox": np.stack([r[3] for r in rows]),
    }
    for name, value in zip(layout.SEQUENCE_KEYS, key, strict=True):
        out[name] = np.full(n, value, np.int64)
    out["istrain"] = np.full(n, int(key[0] in skeleton.H36M_TRAIN_SUBJECTS), np.int64)
    return out


def write_annotations(root: Path, parts: list[dict]) -> dict[str, int]:
    """annot/train.h5 (train subjects) and annot/test.h5; returns their row counts."""
    (root / layout.ANNOT_DIR).mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, istrain in (("train", 1), ("test", 0)):
        chosen = [p for p in parts if p["istrain"][0] == istrain]
        if not chosen:
            continue
        table = {name: np.concatenate([p[name] for p in chosen]) for name in chosen[0]}
        files.write_h5(root / layout.ANNOT_DIR / f"{split}.h5", table)
        counts[split] = len(table["id"])
    return counts


def generate(root: Path, num_images: int, seed: int) -> dict[str, int]:
    """Writes num_images released frames under root (= RAW/h36m)."""
    root = Path(root)
    rng = np.random.default_rng([seed, STREAM])
    rooms = {
        c: render.background(np.random.default_rng([seed, STREAM, 0, c]), FRAME_SIZE, FRAME_SIZE)
        for c in layout.CAMERAS
    }
    palettes = {
        s: render.person_palette(np.random.default_rng([seed, STREAM, 1, s])) for s in SUBJECTS
    }
    parts = [
        write_video(root, key, count, seed, rooms[key[3]], palettes[key[0]])
        for key, count in video_list(rng, num_images)
    ]
    return write_annotations(root, parts) if parts else {}
