"""MPII Human Pose as a TFDS builder: `from datasets.mpii import mpii`.

`tfds build datasets/mpii` imports this folder as the top-level package `mpii`
(datasets/ on sys.path) while it stands a mock in for HuggingFace's package,
also named `datasets`. So the repository root goes on sys.path and the builder
is imported under its real name first, with the mock set aside; the command's
own import of mpii.mpii then finds every `datasets.*` module loaded.
"""

if __name__ != "datasets.mpii":
    import importlib
    import sys
    from pathlib import Path

    _ROOT = str(Path(__file__).resolve().parents[2])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)
    _STAND_IN = sys.modules.pop("datasets", None)
    try:
        importlib.import_module("datasets.mpii.mpii")
    finally:
        if _STAND_IN is not None:
            sys.modules["datasets"] = _STAND_IN
