"""Facts of the MPII annotation files (pose-hg-train's annot.h5 and valid.h5),
shared by the builder and the synthetic generator.

The dtypes and shapes are those of the real validation file
(../shared/data/mpii_valid.h5, byte-identical to pose-hg-train's
data/mpii/annot/valid.h5): every number is float64, names are 13-byte strings
('%09d.jpg'), and part is [N, 16, 2] with 0 for a joint not annotated.
pose-hg-train's converter (src/misc/convert_annot.py:32-34) stores imgname as
16 float64 character codes instead, and gives persons without joints
part = -1 (line 52); both are accepted.
"""

import numpy as np

ANNOT_FILE = "annot.h5"
VALID_FILE = "valid.h5"
IMAGES_DIR = "images"
IMGNAME_DTYPE = "S13"
FILE_ATTRS = {"name": "mpii"}
# Datasets of valid.h5, in file order; annot.h5 adds `multi` and `istrain`.
VALID_FIELDS = (
    "center",
    "imgname",
    "index",
    "normalize",
    "part",
    "person",
    "scale",
    "torsoangle",
    "visible",
)
ANNOT_FIELDS = VALID_FIELDS + ("multi", "istrain")
# What the builder needs of each file.
REQUIRED_VALID = ("center", "imgname", "index", "normalize", "part", "person", "scale")
REQUIRED_ANNOT = REQUIRED_VALID + ("istrain",)
# SPEC 3: the crop box of an MPII person is moved down and enlarged.
CENTER_SHIFT_Y = 15.0  # c_y += 15 s
SCALE_FACTOR = 1.25  # s *= 1.25


def adjusted_box(center, scale):
    """The person box the network sees (SPEC 3): centre moved down, box enlarged."""
    center = np.array(center, np.float64)
    center[..., 1] += CENTER_SHIFT_Y * np.asarray(scale)
    return center, np.asarray(scale, np.float64) * SCALE_FACTOR


def annotated(part):
    """A joint is annotated when its x is > 0, as the authors test it: their Lua
    adds 1 to part (fusion.lua:80, pose-hg-train mpii.lua:24) and draws a heatmap
    only if part x > 1 (pose-hgreg-3d.lua:53). Missing joints are 0, test persons -1."""
    return np.asarray(part)[..., 0] > 0


def imgnames(values, path, fix: str) -> list[str]:
    """imgname as strings, from bytes ('S13') or rows of character codes."""
    from datasets import errors

    values = np.asarray(values)
    if values.dtype.kind in "SUO" and values.ndim == 1:
        return [v.decode() if isinstance(v, bytes) else str(v) for v in values]
    if values.dtype.kind in "fiu" and values.ndim == 2:
        return ["".join(chr(int(c)) for c in row if c > 0) for row in values]
    raise errors.DatasetError(
        f"{path}: field 'imgname' has dtype {values.dtype} and shape {values.shape}, expected "
        f"byte strings or rows of character codes; {fix}"
    )
