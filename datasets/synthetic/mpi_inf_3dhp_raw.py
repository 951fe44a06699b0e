"""Synthetic MPI-INF-3DHP test set: TS1..TS6/annot_data.mat (MATLAB v7.3) and
TS*/imageSequence/img_NNNNNN.jpg.

Like the release, TS1-2 are green-screen studio, TS3-4 studio, TS5-6 outdoor
(wider frames). Images are smaller than the release's 2048 px to keep the
generator fast; univ_annot3 equals annot3 because the synthetic skeleton already
has the standard bone lengths.
"""

from pathlib import Path

import numpy as np

from datasets.mpi_inf_3dhp import layout
from datasets.synthetic import body, files, render, scene
from pose3d_jax import skeleton

# sequence: (background style, (width, height))
SEQUENCE_LOOK = {
    1: ("green", (800, 800)),
    2: ("green", (800, 800)),
    3: ("random", (800, 800)),
    4: ("random", (800, 800)),
    5: ("random", (1280, 720)),
    6: ("random", (1280, 720)),
}
FOCAL_PX = 1150.0
DISTANCE_MM = (3500.0, 6000.0)
INVALID_PROB = 0.08  # besides the first frame of each sequence, as in the release
NUM_ACTIVITIES = 7
STREAM = 3


def _frame(root: Path, seq: int, index: int, seed: int, room, palette, focal) -> dict:
    """Draws one frame; returns its annotations."""
    rng = np.random.default_rng([seed, STREAM, seq, index])
    height, width = room.shape[:2]
    principal = np.array([width, height]) / 2.0
    pixel = principal + rng.uniform(-0.1, 0.1, 2) * (width, height) + (0, 0.05 * height)
    where = scene.translation_for_pixel(pixel, rng.uniform(*DISTANCE_MM), focal, principal)
    person = scene.random_person(rng, where, focal, principal)
    image = render.draw(room.copy(), person.items(palette))
    path = root / layout.sequence_dir(seq) / layout.IMAGES_DIR / layout.image_name(index)
    files.write_jpeg(path, render.add_grain(image, rng))
    x1, y1, side = scene.square_box(person)
    joints_3d = body.seventeen_joints(person.camera, skeleton.MPI_INF_3DHP_TO_MPII)
    return {
        "annot2": body.seventeen_joints(person.uv, skeleton.MPI_INF_3DHP_TO_MPII)[None],
        "annot3": joints_3d[None],
        "univ_annot3": joints_3d[None],
        "bb_crop": np.array([x1, y1, x1 + side, y1 + side], float),
        "valid_frame": [float(rng.random() >= INVALID_PROB and index > 0)],
    }


def write_sequence(root: Path, seq: int, count: int, seed: int) -> int:
    """Writes TS<seq> with `count` frames; returns the number of valid frames."""
    rng = np.random.default_rng([seed, STREAM, seq])
    style, (width, height) = SEQUENCE_LOOK[seq]
    (root / layout.sequence_dir(seq) / layout.IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    room = render.background(rng, height, width, style)
    palette = render.person_palette(rng)
    focal = FOCAL_PX * rng.uniform(0.97, 1.03)
    frames = [_frame(root, seq, i, seed, room, palette, focal) for i in range(count)]
    table = {name: np.stack([f[name] for f in frames]) for name in frames[0]}
    chunk = max(1, count // NUM_ACTIVITIES)
    table["activity_annotation"] = (1 + (np.arange(count) // chunk) % NUM_ACTIVITIES)[:, None]
    files.write_mat73(root / layout.sequence_dir(seq) / layout.ANNOT_FILE, table)
    return int(table["valid_frame"].sum())


def generate(root: Path, num_frames: int, seed: int) -> dict[str, int]:
    """Writes num_frames frames spread over TS1..TS6 under root (= RAW/mpi_inf_3dhp)."""
    counts = {}
    for seq in layout.SEQUENCES:
        count = num_frames // layout.NUM_SEQUENCES + (seq <= num_frames % layout.NUM_SEQUENCES)
        if count:
            counts[layout.sequence_dir(seq)] = write_sequence(Path(root), seq, count, seed)
    return counts
