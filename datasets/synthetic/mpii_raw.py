"""Synthetic MPII in pose-hg-train's format: images/<imgname>, annot.h5, valid.h5.

Photos of varied sizes with one or two people; joints outside the picture or
randomly dropped are missing (part = 0, visible = 0), some annotated joints are
marked occluded (visible = 0), the persons of every 16th photo belong to the
unannotated test set (istrain = 0, part = -1 as convert_annot.py writes them),
and a share of the training persons form valid.h5. annot.h5 stores imgname as
16 character codes (convert_annot.py's form), valid.h5 as 13-byte strings (the
real file's form).
"""

from pathlib import Path

import numpy as np

from datasets.mpii import layout
from datasets.synthetic import body, files, render, scene
from pose3d_jax import geometry, skeleton

WIDTH_RANGE = (480, 1280)
ASPECT_RANGE = (0.6, 1.0)  # height / width
FOCAL_PER_WIDTH = (0.8, 1.3)
DISTANCE_MM = (3500.0, 6000.0)
TWO_PEOPLE_PROB = 0.35
DROP_JOINT_PROB = 0.04
OCCLUDED_PROB = 0.1
TEST_IMAGE_EVERY = 16  # every 16th photo (from the 6th) is an unannotated test image
VALID_PROB = 0.2
HEAD_SIZE_FACTOR = 0.6  # MPII: 0.6 x the diagonal of the head box
IMGNAME_CODES = 16  # convert_annot.py:32 `imgname = np.zeros(16)`
STREAM = 1


def person_annotation(person: scene.Person, rng, width: int, height: int) -> dict:
    """One person's annot.h5 row (without index, person, imgname)."""
    joints = body.our_joints(person.uv, body.MPII_STYLE)
    inside = np.all((joints >= 0) & (joints < (width, height)), axis=-1)
    annotated = inside & (rng.random(skeleton.NUM_JOINTS) >= DROP_JOINT_PROB)
    lo, hi = joints.min(axis=0), joints.max(axis=0)
    scale = (hi - lo).max() / geometry.BOX_PIXELS_PER_SCALE
    # Stored so that the SPEC-3 adjustment (c_y += 15 s) lands on the joints' centre.
    center = (lo + hi) / 2.0 - np.array([0.0, layout.CENTER_SHIFT_Y * scale])
    head = joints[skeleton.HEAD_TOP] - joints[skeleton.UPPER_NECK]
    torso = joints[skeleton.UPPER_NECK] - joints[skeleton.PELVIS]
    return {
        "center": center,
        "normalize": HEAD_SIZE_FACTOR * np.sqrt(2.0) * np.linalg.norm(head),
        "part": np.where(annotated[:, None], joints, 0.0),
        "scale": scale,
        "torsoangle": np.degrees(np.arctan2(abs(torso[0]), -torso[1])),
        "visible": (annotated & (rng.random(skeleton.NUM_JOINTS) >= OCCLUDED_PROB)).astype(float),
    }


def _as_test_person(row: dict) -> dict:
    """MPII's test persons have a box but no joints (pose-hg-train convert_annot.py:52-55)."""
    return row | {
        "part": -np.ones_like(row["part"]),
        "visible": np.zeros_like(row["visible"]),
        "normalize": 1.0,
        "torsoangle": 0.0,
    }


def write_image(root: Path, index: int, num_people: int, seed: int) -> list[dict]:
    """Draws and writes one photo; returns its persons' rows."""
    rng = np.random.default_rng([seed, STREAM, index])
    width = int(rng.integers(WIDTH_RANGE[0], WIDTH_RANGE[1] + 1))
    height = int(round(width * rng.uniform(*ASPECT_RANGE)))
    focal = width * rng.uniform(*FOCAL_PER_WIDTH)
    principal = np.array([width, height]) / 2.0
    items, rows = [], []
    imgname = f"{index:09d}.jpg"
    for p in range(num_people):
        pixel = (
            width * (p + 0.5 + rng.uniform(-0.15, 0.15)) / num_people,
            height * rng.uniform(0.45, 0.6),
        )
        where = scene.translation_for_pixel(pixel, rng.uniform(*DISTANCE_MM), focal, principal)
        person = scene.random_person(rng, where, focal, principal)
        items += person.items(render.person_palette(rng))
        row = person_annotation(person, rng, width, height)
        istrain = index % TEST_IMAGE_EVERY != TEST_IMAGE_EVERY // 3
        row = row if istrain else _as_test_person(row)
        rows.append(
            row | {"index": index, "person": p, "imgname": imgname, "istrain": float(istrain)}
        )
    image = render.draw(render.background(rng, height, width), items)
    files.write_jpeg(root / layout.IMAGES_DIR / imgname, render.add_grain(image, rng))
    multi = float(num_people > 1)
    return [row | {"multi": multi} for row in rows]


def char_codes(name: str) -> np.ndarray:
    """imgname as convert_annot.py stores it: 16 float64 character codes, 0-padded."""
    codes = np.zeros(IMGNAME_CODES)
    codes[: len(name)] = [ord(c) for c in name]
    return codes


def _table(rows: list[dict], fields, codes: bool = False) -> dict:
    """Column arrays in the real files' dtypes (float64; names as 13-byte strings
    or, with `codes`, as character codes)."""
    table = {}
    for name in fields:
        values = [r[name] for r in rows]
        if name == "imgname" and codes:
            table[name] = np.stack([char_codes(v) for v in values])
        elif name == "imgname":
            table[name] = np.array([v.encode() for v in values], dtype=layout.IMGNAME_DTYPE)
        else:
            table[name] = np.asarray(values, np.float64)
    return table


def generate(root: Path, num_persons: int, seed: int) -> dict[str, int]:
    """Writes about num_persons annotated persons under root (= RAW/mpii)."""
    root = Path(root)
    (root / layout.IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, STREAM])
    rows, index = [], 0
    while len(rows) < num_persons:
        two = num_persons - len(rows) >= 2 and rng.random() < TWO_PEOPLE_PROB
        rows += write_image(root, index, 2 if two else 1, seed)
        index += 1
    if not rows:
        return {}
    is_valid = (rng.random(len(rows)) < VALID_PROB) & np.array([r["istrain"] > 0 for r in rows])
    trainable = [i for i, r in enumerate(rows) if r["istrain"] > 0]
    if trainable and not is_valid.any():  # tiny sets still get a validation person
        is_valid[trainable[-1]] = True
    annot = _table(rows, layout.ANNOT_FIELDS, codes=True)
    files.write_h5(root / layout.ANNOT_FILE, annot, layout.FILE_ATTRS)
    valid_rows = [r for r, v in zip(rows, is_valid, strict=True) if v]
    if valid_rows:
        table = _table(valid_rows, layout.VALID_FIELDS)
        files.write_h5(root / layout.VALID_FILE, table, layout.FILE_ATTRS)
    return {"images": index, "persons": len(rows), "validation": len(valid_rows)}
