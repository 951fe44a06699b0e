"""The MPI-INF-3DHP test set as a TFDS builder: `from datasets.mpi_inf_3dhp import mpi_inf_3dhp`.

`tfds build datasets/mpi_inf_3dhp` imports this folder as the top-level package `mpi_inf_3dhp`
(datasets/ on sys.path) while it stands a mock in for HuggingFace's package,
also named `datasets`. So the repository root goes on sys.path and the builder
is imported under its real name first, with the mock set aside; the command's
own import of mpi_inf_3dhp.mpi_inf_3dhp then finds every `datasets.*` module loaded.
"""

if __name__ != "datasets.mpi_inf_3dhp":
    import importlib
    import sys
    from pathlib import Path

    _ROOT = str(Path(__file__).resolve().parents[2])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)
    _STAND_IN = sys.modules.pop("datasets", None)
    try:
        importlib.import_module("datasets.mpi_inf_3dhp.mpi_inf_3dhp")
    finally:
        if _STAND_IN is not None:
            sys.modules["datasets"] = _STAND_IN
