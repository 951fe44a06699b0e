"""ONNX exports kept per checkpoint, so a second run does not export again.

The key is a hash of the weights, the meta and the graph writer's version:
a retrained or re-converted checkpoint gets a new export, a copied one the same.
"""

import hashlib
import json
import os
from pathlib import Path

import jax
import numpy as np

from pose3d_jax import fileio
from pose3d_jax.deploy import exporters, onnx_graph

CACHE_ENV = "POSE3D_JAX_EXPORT_CACHE"
GRAPH_VERSION = 3  # bump when onnx_graph writes a different graph for the same weights


def cache_dir() -> Path:
    """$POSE3D_JAX_EXPORT_CACHE, else ~/.cache/pose3d_jax/exports."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured or "~/.cache/pose3d_jax/exports").expanduser()


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
