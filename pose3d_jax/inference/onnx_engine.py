"""The network's ONNX export in an ONNX Runtime session, and the start that skips JAX.

OnnxRuntimeEngine.for_network exports a restored network (once per weights,
deploy/export_cache.py) and records the export against the checkpoint folder's
files (deploy/export_index.py); warm_start then opens that export for the same
folder without restoring the checkpoint or importing JAX.
"""

import numpy as np

from pose3d_jax import checkpoint
from pose3d_jax.deploy import export_index
from pose3d_jax.model import interface


class OnnxRuntimeEngine:
    """An ONNX export of the network (deploy/onnx_graph.py) run by ONNX Runtime on the CPU."""

    name = "onnxruntime"

    def __init__(self, model_path, *, threads=None):
        import onnxruntime

        self.model_path = model_path
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        self.session = onnxruntime.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )

    @classmethod
    def for_network(cls, network, *, threads=None, cache_directory=None):
        """The engine of a restored model.network.Network (exported on first use)."""
        from pose3d_jax.deploy import export_cache

        model_path = export_cache.cached_onnx(network, cache_directory)
        if network.step_dir is not None:
            export_index.remember(network.step_dir, model_path, cache_directory)
        return cls(model_path, threads=threads)

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
        return interface.flip_average(outputs, mirrored, xp=np)


def warm_start(path, *, threads=None, cache_directory=None):
    """(NetworkInfo, OnnxRuntimeEngine) of the checkpoint at `path` when an earlier
    start exported it, else None (the caller restores and exports).

    Reads only the step folder's file list and meta JSON; imports no JAX. An
    export ONNX Runtime cannot open is forgotten, so the caller exports it again.
    """
    if path is None:
        path = checkpoint.default_checkpoint_dir()
        if not path.exists():
            return None  # the restoring path gives the error that says what to do
    step_dir = checkpoint.resolve_step_dir(path)
    model_path = export_index.lookup(step_dir, cache_directory)
    if model_path is None:
        return None
    meta = checkpoint.read_meta(step_dir)
    try:
        engine = OnnxRuntimeEngine(model_path, threads=threads)
    except Exception:  # noqa: BLE001 - onnxruntime raises several types for a bad file
        export_index.forget(step_dir, cache_directory)
        model_path.unlink(missing_ok=True)
        return None
    return interface.NetworkInfo(meta, step_dir, interface.input_res_of(meta)), engine
