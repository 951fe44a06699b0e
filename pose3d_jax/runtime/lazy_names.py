"""Package names resolved on first use, so importing a package stays light.

`from pose3d_jax import Predictor` must not import JAX before it is needed, and
`pose3d_jax.model.interface` must not import flax through its package.
"""

import importlib


def lazy_names(package: str, where: dict[str, str], namespace: dict):
    """(__getattr__, __dir__) for `package` whose names live in the modules of `where`
    (name -> module); each is imported on first access and kept in `namespace`."""

    def __getattr__(name):
        if name in where:
            value = getattr(importlib.import_module(where[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module '{package}' has no attribute {name!r}")

    def __dir__():
        return sorted([*namespace, *where])

    return __getattr__, __dir__
