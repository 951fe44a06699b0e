"""Facts of the MPI-INF-3DHP test-set release, shared by the builder and the
synthetic generator.

Assumed layout of TS*/annot_data.mat (MATLAB v7.3) as h5py reads it: annot2
[N, 1, 17, 2], annot3 and univ_annot3 [N, 1, 17, 3] (mm), valid_frame [N, 1],
activity_annotation [N, 1], bb_crop [N, 4] = x1, y1, x2, y2 in image pixels.
The builder also accepts the same arrays with MATLAB's axis order (joints and
coordinates swapped, frames first or last).
"""

NUM_SEQUENCES = 6
SEQUENCES = tuple(range(1, NUM_SEQUENCES + 1))
ANNOT_FILE = "annot_data.mat"
IMAGES_DIR = "imageSequence"
FIELDS = ("valid_frame", "annot2", "annot3", "univ_annot3", "activity_annotation", "bb_crop")
REQUIRED = ("valid_frame", "annot2", "univ_annot3", "activity_annotation", "bb_crop")


def sequence_dir(sequence: int) -> str:
    return f"TS{sequence}"


def image_name(index: int) -> str:
    """The JPEG of 0-based frame row `index` (files are numbered from 1)."""
    return f"img_{index + 1:06d}.jpg"
