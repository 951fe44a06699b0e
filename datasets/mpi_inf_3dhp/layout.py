"""Facts of the MPI-INF-3DHP test-set release, shared by the builder and the
synthetic generator (SPEC 7; datasets/README.md cites the loaders they come from).

TS1..TS6/annot_data.mat is MATLAB v7.3 (HDF5 after a 512-byte header). As h5py
reads it: annot2 [N, 1, 17, 2] (full-frame pixels), annot3 and univ_annot3
[N, 1, 17, 3] (mm), valid_frame [N, 1], activity_annotation [N, 1]. The file
also holds bb_crop, which is NOT a person box (N x 34 numbers, or MATLAB cell
references into the `#refs#` group): it is never read. The builder also
accepts the arrays in MATLAB's own axis order (frames last, joints and
coordinates swapped).
"""

NUM_SEQUENCES = 6
SEQUENCES = tuple(range(1, NUM_SEQUENCES + 1))
# The revised annotation that circulates for TS6 (annot_data-corr.mat) wins over
# annot_data.mat when a folder holds both: it replaces it, so reading it is the point.
CORRECTED_ANNOT_FILE = "annot_data-corr.mat"
ANNOT_FILE = "annot_data.mat"
ANNOT_FILES = (CORRECTED_ANNOT_FILE, ANNOT_FILE)  # in order of preference
IMAGES_DIR = "imageSequence"
REQUIRED = ("valid_frame", "annot2", "univ_annot3", "activity_annotation")
NOT_A_BOX = "bb_crop"  # present in the release, ignored
REFS_GROUP = "#refs#"  # MATLAB's store of cell contents, ignored
# Frame sizes of the release (mmpose preprocess_mpi_inf_3dhp.py:289-292).
FRAME_SIZE = {1: (2048, 2048), 2: (2048, 2048), 3: (2048, 2048), 4: (2048, 2048),
              5: (1920, 1080), 6: (1920, 1080)}  # fmt: skip
# The person box: the 17 joints' extent, square (its longer side), times 1.2
# (mmpose preprocess_mpi_inf_3dhp.py:59,84-94 scale_factor=1.2; SPIN's
# datasets/preprocess/mpi_inf_3dhp.py:195-198 with scaleFactor = 1.2 at line 235).
BOX_FACTOR = 1.2


def sequence_dir(sequence: int) -> str:
    return f"TS{sequence}"


def image_name(index: int) -> str:
    """The JPEG of 0-based frame row `index` (files are numbered from 1)."""
    return f"img_{index + 1:06d}.jpg"
