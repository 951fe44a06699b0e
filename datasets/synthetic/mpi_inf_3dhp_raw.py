"""Synthetic MPI-INF-3DHP test set: TS1..TS6/annot_data.mat (MATLAB v7.3) and
TS*/imageSequence/img_NNNNNN.jpg, in the official release's layout.

Like the release, TS1-2 are green-screen studio, TS3-4 studio, TS5-6 outdoor.
TS4 and TS5-6 have the release's frame sizes (2048 x 2048 and 1920 x 1080);
TS1-3 are 800 x 800 (the release's square, smaller) to keep the generator fast.
As in the release, `bb_crop` is not a person box: N x 34 numbers in odd
sequences, a MATLAB cell of references into `#refs#` in even ones. univ_annot3
equals annot3 because the synthetic skeleton already has the standard bone lengths.
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
    4: ("random", layout.FRAME_SIZE[4]),
    5: ("random", layout.FRAME_SIZE[5]),
    6: ("random", layout.FRAME_SIZE[6]),
}
FOCAL_PX = 1150.0  # for an 800 px frame height; scaled with the frame's shorter side
REFERENCE_SIDE = 800
DISTANCE_MM = (3500.0, 6000.0)
INVALID_PROB = 0.08  # besides the first frame of each sequence, as in the release
NUM_ACTIVITIES = 7
STREAM = 3


def focal_px(width: int, height: int) -> float:
    """The nominal focal length of a sequence's camera (people fill a similar share)."""
    return FOCAL_PX * min(width, height) / REFERENCE_SIDE


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
    joints_2d = body.seventeen_joints(person.uv, skeleton.MPI_INF_3DHP_TO_MPII)
    joints_3d = body.seventeen_joints(person.camera, skeleton.MPI_INF_3DHP_TO_MPII)
    return {
        "annot2": joints_2d[None],
        "annot3": joints_3d[None],
        "univ_annot3": joints_3d[None],
        # Not a box: 34 numbers per frame, a stand-in of the release's unexplained ones.
        "bb_crop": joints_2d.T.ravel(),
        "valid_frame": [float(rng.random() >= INVALID_PROB and index > 0)],
    }


def write_sequence(root: Path, seq: int, count: int, seed: int) -> int:
    """Writes TS<seq> with `count` frames; returns the number of valid frames."""
    rng = np.random.default_rng([seed, STREAM, seq])
    style, (width, height) = SEQUENCE_LOOK[seq]
    (root / layout.sequence_dir(seq) / layout.IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    room = render.background(rng, height, width, style)
    palette = render.person_palette(rng)
    focal = focal_px(width, height) * rng.uniform(0.97, 1.03)
    frames = [_frame(root, seq, i, seed, room, palette, focal) for i in range(count)]
    table = {name: np.stack([f[name] for f in frames]) for name in frames[0]}
    chunk = max(1, count // NUM_ACTIVITIES)
    table["activity_annotation"] = (1 + (np.arange(count) // chunk) % NUM_ACTIVITIES)[:, None]
    cells = None
    if seq % 2 == 0:  # bb_crop as a MATLAB cell: references into #refs#
        cells = {layout.NOT_A_BOX: list(table.pop(layout.NOT_A_BOX).reshape(count, 2, -1))}
    files.write_mat73(root / layout.sequence_dir(seq) / layout.ANNOT_FILE, table, cells)
    return int(table["valid_frame"].sum())


def generate(root: Path, num_frames: int, seed: int) -> dict[str, int]:
    """Writes num_frames frames spread over TS1..TS6 under root (= RAW/mpi_inf_3dhp)."""
    counts = {}
    for seq in layout.SEQUENCES:
        count = num_frames // layout.NUM_SEQUENCES + (seq <= num_frames % layout.NUM_SEQUENCES)
        if count:
            counts[layout.sequence_dir(seq)] = write_sequence(Path(root), seq, count, seed)
    return counts
