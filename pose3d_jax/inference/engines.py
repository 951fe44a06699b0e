"""The runtimes that can execute the network for inference: XLA or ONNX Runtime.

An engine maps crops [B, R, R, 3] (RGB in [0, 1], float32 NumPy) to the last
stack's NumPy {'heatmaps' [B, R/4, R/4, J], 'depth' [B, J]}, with or without
test-time flip, so Predictor decodes and maps back the same whichever one runs.
On CPUs ONNX Runtime is the default: it ran the network faster than XLA:CPU
(benchmarks/infer_engines.py, numbers in benchmarks/README.md); GPUs keep XLA.
"""

import importlib.util
import os

import jax
import numpy as np

from pose3d_jax.model import network as network_lib

BACKENDS = ("xla", "onnxruntime")
BACKEND_ENV = "POSE3D_JAX_BACKEND"


class BackendError(ValueError):
    """A backend that is unknown or cannot run here; the message says what to do."""


def default_backend() -> str:
    """$POSE3D_JAX_BACKEND, else onnxruntime on a CPU-only JAX (when installed), else xla."""
    configured = os.environ.get(BACKEND_ENV)
    if configured:
        return configured
    if jax.default_backend() == "cpu" and importlib.util.find_spec("onnxruntime"):
        return "onnxruntime"
    return "xla"


class XlaEngine:
    """The jitted flax network, one program per batch shape and flip setting.

    Each program is also kept as a jax.export serialization in the export cache
    (deploy/export_cache.py), keyed by the weights' hash: a later start
    deserializes it instead of tracing the flax model again (~2 s for the
    paper's network), and the persistent compilation cache then supplies the
    compiled executable, so a warm start neither traces nor compiles.
    """

    name = "xla"

    def __init__(self, network, *, cache_directory=None):
        self.network = network
        self._forward = network_lib.make_forward(network.model)
        self._cache_directory = cache_directory
        self._programs = {}

    def _program(self, inputs, flip):
        key = (inputs.shape, bool(flip))
        if key not in self._programs:
            from pose3d_jax.deploy import export_cache

            self._programs[key] = export_cache.cached_forward(
                self.network, self._forward, inputs.shape, flip, self._cache_directory
            )
        return self._programs[key]

    def __call__(self, crops_rgb01, *, flip=False):
        inputs = network_lib.to_network_input(crops_rgb01, self.network.input_convention, xp=np)
        outputs = self._program(inputs, flip)(self.network.variables, inputs)
        return {k: np.asarray(v) for k, v in outputs.items()}


class OnnxRuntimeEngine:
    """The network's ONNX export (cached per checkpoint) in an ONNX Runtime session."""

    name = "onnxruntime"

    def __init__(self, network, *, threads=None, cache_directory=None):
        import onnxruntime

        from pose3d_jax.deploy import export_cache

        self.network = network
        self.model_path = export_cache.cached_onnx(network, cache_directory)
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        self.session = onnxruntime.InferenceSession(
            str(self.model_path), options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, crops_rgb01, *, flip=False):
        crops = np.asarray(crops_rgb01, np.float32)
        batch = crops.shape[0]
        if flip:  # one run of 2B, as XlaEngine does
            crops = np.concatenate([crops, crops[:, :, ::-1, :]], axis=0)
        heatmaps, depth = self.session.run(
            ["heatmaps", "depth"], {"image": np.ascontiguousarray(crops)}
        )
        outputs = {"heatmaps": heatmaps[:batch], "depth": depth[:batch]}
        if not flip:
            return outputs
        mirrored = {"heatmaps": heatmaps[batch:], "depth": depth[batch:]}
        return network_lib.flip_average(outputs, mirrored, xp=np)


def create(network, backend=None, **options):
    """The engine named `backend` (None: default_backend()) for a model.network.Network."""
    backend = backend or default_backend()
    if backend == "xla":
        return XlaEngine(network, **options)
    if backend == "onnxruntime":
        if importlib.util.find_spec("onnxruntime") is None:
            raise BackendError(
                "backend 'onnxruntime' needs the onnxruntime package: pip install onnxruntime "
                "(or use --backend xla)."
            )
        return OnnxRuntimeEngine(network, **options)
    raise BackendError(f"unknown backend '{backend}'; choose one of {', '.join(BACKENDS)}.")
