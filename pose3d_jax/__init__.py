"""pose3d_jax: weakly-supervised 3D human pose (Zhou et al., ICCV 2017) in JAX/Flax.

`from pose3d_jax import Predictor` is resolved lazily, so `import pose3d_jax`
stays light (no JAX, OpenCV or matplotlib until something is used).
"""

_LAZY = {
    "Predictor": "pose3d_jax.inference.predictor",
    "Prediction": "pose3d_jax.inference.predictor",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pose3d_jax' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
