"""pose3d_jax: weakly-supervised 3D human pose (Zhou et al., ICCV 2017) in JAX/Flax.

`from pose3d_jax import Predictor` (and `write_bvh`) is resolved lazily, so `import pose3d_jax`
stays light (no JAX, OpenCV or matplotlib until something is used).
"""

from pose3d_jax.runtime.lazy_names import lazy_names

_LAZY = {
    "Predictor": "pose3d_jax.inference.predictor",
    "Prediction": "pose3d_jax.inference.predictor",
    "write_bvh": "pose3d_jax.motion.bvh",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_names("pose3d_jax", _LAZY, globals())
