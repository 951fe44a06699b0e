"""ONNX exports kept per checkpoint, so a second run does not export again.

The key is a hash of the weights, the meta and the graph writer's version:
a retrained or re-converted checkpoint gets a new export, a copied one the same.
export_index.py finds a checkpoint folder's export without that hash.
"""

import hashlib
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from pose3d_jax import fileio
from pose3d_jax.deploy import exporters, onnx_graph
from pose3d_jax.deploy.export_index import GRAPH_VERSION, cache_dir


def network_key(network) -> str:
    """sha256 over every variable (path, shape, bytes), the meta and the graph version."""
    digest = hashlib.sha256()
    digest.update(f"graph {GRAPH_VERSION} opset {onnx_graph.OPSET}\n".encode())
    digest.update(json.dumps(network.meta, sort_keys=True, default=str).encode())
    leaves = jax.tree_util.tree_flatten_with_path(jax.device_get(network.variables))[0]
    for path, leaf in leaves:
        array = np.ascontiguousarray(leaf)
        digest.update(f"{jax.tree_util.keystr(path)} {array.dtype} {array.shape}\n".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:32]


def cached_onnx(network, directory=None) -> Path:
    """Path of the network's ONNX export (dynamic batch), exported on first use."""
    directory = Path(directory) if directory is not None else cache_dir()
    path = directory / f"{network_key(network)}.onnx"
    if not path.exists():
        fileio.write_bytes_atomic(path, exporters.onnx_bytes(network, batch=None))
    return path


def cached_forward(network, forward, input_shape, flip, directory=None):
    """fn(variables, inputs) running `forward` (model.network.make_forward) for one input
    shape, through a jax.export serialization kept in the cache (made on first use).

    The weights are arguments, not constants, so the file is small (the program
    only); its name holds the weights' hash, the shape, flip, the JAX version and
    the backend, so a changed checkpoint or JAX never reuses a stale program.
    """
    directory = Path(directory) if directory is not None else cache_dir()
    shape = "x".join(str(d) for d in input_shape)
    tag = f"{network_key(network)}_{shape}_flip{int(bool(flip))}_{jax.__version__}"
    path = directory / f"{tag}_{jax.default_backend()}.jaxexport"
    if path.exists():
        try:
            return jax.export.deserialize(bytearray(path.read_bytes())).call
        except Exception:  # noqa: BLE001 - a damaged or foreign entry: export again
            path.unlink(missing_ok=True)
    inputs = jax.ShapeDtypeStruct(tuple(input_shape), jnp.float32)
    variables = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), network.variables)
    exported = jax.export.export(jax.jit(lambda v, x: forward(v, x, flip=flip)))(variables, inputs)
    try:
        fileio.write_bytes_atomic(path, exported.serialize())
    except OSError:
        pass  # a read-only cache: run without keeping it
    return exported.call
