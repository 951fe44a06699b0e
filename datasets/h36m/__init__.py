"""Human3.6M (the authors' preprocessed release) as a TFDS builder.

Import it as `from datasets.h36m import h36m`.

`tfds build datasets/h36m` imports this folder as the top-level package `h36m`
(datasets/ on sys.path) while it stands a mock in for HuggingFace's package,
also named `datasets`. So the repository root goes on sys.path and the builder
is imported under its real name first, with the mock set aside; the command's
own import of h36m.h36m then finds every `datasets.*` module loaded.
"""

if __name__ != "datasets.h36m":
    import importlib
    import sys
    from pathlib import Path

    _ROOT = str(Path(__file__).resolve().parents[2])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)
    _STAND_IN = sys.modules.pop("datasets", None)
    try:
        importlib.import_module("datasets.h36m.h36m")
    finally:
        if _STAND_IN is not None:
            sys.modules["datasets"] = _STAND_IN
