"""The runtimes that can execute the network for inference: XLA, ONNX Runtime, OpenVINO.

An engine maps crops [B, R, R, 3] (RGB in [0, 1], float32 NumPy) to the last
stack's NumPy {'heatmaps' [B, R/4, R/4, J], 'depth' [B, J]}, with or without
test-time flip, so Predictor decodes and maps back the same whichever one runs
(xla_engine.py, onnx_engine.py, openvino_engine.py: the one that runs bf16 and int8,
precision.py). The default is 'auto': on GPUs XLA; on CPUs the engine and precision
measured fastest within the accuracy guard on this machine (engine_choice.py:
OpenVINO bf16 on CPUs with bf16 units, else ONNX Runtime fp32, which ran the network
faster than XLA:CPU; benchmarks/README.md). Choosing imports JAX only when a JAX
accelerator plugin is installed (it must then ask JAX whether a device is there).
"""

import importlib.util
import os

from pose3d_jax.runtime import malloc_tuning

BACKENDS = ("xla", "onnxruntime", "openvino")
AUTO = "auto"
CHOICES = (*BACKENDS, AUTO)
INSTALL = {"onnxruntime": "pip install onnxruntime", "openvino": "pip install openvino"}
BACKEND_ENV = "POSE3D_JAX_BACKEND"


class BackendError(ValueError):
    """A backend that is unknown or cannot run here; the message says what to do."""


def default_backend() -> str:
    """$POSE3D_JAX_BACKEND, else 'xla' when JAX has an accelerator, else 'auto' (CPU)."""
    configured = os.environ.get(BACKEND_ENV)
    if configured:
        return configured
    return "xla" if _accelerator() else AUTO


def _accelerator() -> bool:
    if not malloc_tuning.accelerator_plugin_installed():
        return False  # JAX has only its CPU backend here
    import jax

    return jax.default_backend() != "cpu"


def resolve(backend=None, precision=None):
    """(backend, precision, how auto chose or None) with 'auto' (the default on CPUs)
    made concrete: on GPUs xla, on CPUs engine_choice.resolve's engine and precision."""
    backend = backend or default_backend()
    if backend != AUTO:
        return check_backend(backend), precision, None
    if _accelerator():
        return "xla", precision, {"requested": AUTO, "source": "gpu", "reason": "a GPU: XLA"}
    from pose3d_jax.inference import engine_choice

    choice = engine_choice.resolve(precision)
    return check_backend(choice["backend"]), choice["precision"], {"requested": AUTO, **choice}


def check_backend(backend) -> str:
    """`backend` (None: default_backend(), 'auto' resolved) when it can run here, else
    BackendError."""
    backend = backend or default_backend()
    if backend == AUTO:
        return resolve(backend)[0]
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend '{backend}'; choose one of {', '.join(CHOICES)}.")
    if backend in INSTALL and importlib.util.find_spec(backend) is None:
        raise BackendError(
            f"backend '{backend}' needs the {backend} package: {INSTALL[backend]} "
            "(or use --backend xla)."
        )
    return backend


def create(network, backend=None, precision=None, **options):
    """The engine named `backend` (None: default_backend()) for a model.network.Network;
    `precision` (openvino only, precision.py) and `calibration_crops` (int8) go with it."""
    backend, precision, _ = resolve(backend, precision)
    if backend == "xla":
        from pose3d_jax.inference.xla_engine import XlaEngine

        return XlaEngine(network, **options)
    if backend == "openvino":
        from pose3d_jax.inference.openvino_engine import OpenVinoEngine

        return OpenVinoEngine.for_network(network, precision=precision or "fp32", **options)
    from pose3d_jax.inference.onnx_engine import OnnxRuntimeEngine

    return OnnxRuntimeEngine.for_network(network, **options)
