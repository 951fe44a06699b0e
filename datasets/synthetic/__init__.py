"""Synthetic people written in the three public releases' raw formats (SPEC 7).

`python -m datasets.synthetic --out RAW` writes RAW/h36m, RAW/mpii and
RAW/mpi_inf_3dhp exactly as the real downloads are laid out, so the TFDS
builders, the demo and the tests run without the real data. The output is a
function of the seed alone.
"""

from pathlib import Path

from datasets.synthetic import h36m_raw, mpi_inf_3dhp_raw, mpii_raw

DEFAULT_NUM_H36M = 1600
DEFAULT_NUM_MPII = 1000
DEFAULT_NUM_3DHP = 400


def generate(
    out: Path,
    num_h36m: int = DEFAULT_NUM_H36M,
    num_mpii: int = DEFAULT_NUM_MPII,
    num_3dhp: int = DEFAULT_NUM_3DHP,
    seed: int = 0,
) -> dict[str, dict[str, int]]:
    """Writes the three raw datasets under `out`; a zero count skips that dataset.

    Returns per dataset what was written (rows per annotation file, persons,
    valid frames per sequence).
    """
    out = Path(out)
    written = {}
    if num_h36m:
        written["h36m"] = h36m_raw.generate(out / "h36m", num_h36m, seed)
    if num_mpii:
        written["mpii"] = mpii_raw.generate(out / "mpii", num_mpii, seed)
    if num_3dhp:
        written["mpi_inf_3dhp"] = mpi_inf_3dhp_raw.generate(out / "mpi_inf_3dhp", num_3dhp, seed)
    return written
