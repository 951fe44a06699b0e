"""Which cached ONNX export belongs to a checkpoint folder, found without restoring it.

The export cache (export_cache.py) names each ONNX file by a hash of the
weights, which needs the checkpoint restored (orbax, JAX: ~4 s of a ~6 s
start). This index maps a step folder's *files* (each one's relative path,
size and modification time in ns, plus the graph writer's version) to that
file, so a later start of the ONNX Runtime backend opens the export directly
and never imports JAX. A checkpoint rewritten in place changes its files'
times, so it misses the index and is restored and exported again; a copy made
with its times kept finds the same export, which is the right one. Nothing
here imports JAX.
"""

import hashlib
import json
import os
from pathlib import Path

from pose3d_jax import fileio

CACHE_ENV = "POSE3D_JAX_EXPORT_CACHE"
# Bump when deploy/onnx_graph.py writes a different graph for the same weights
# (a new opset included): every cached export and index entry is then unused.
GRAPH_VERSION = 3
INDEX_DIR = "by_checkpoint_files"


def cache_dir() -> Path:
    """$POSE3D_JAX_EXPORT_CACHE, else ~/.cache/pose3d_jax/exports."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured or "~/.cache/pose3d_jax/exports").expanduser()


def files_fingerprint(step_dir) -> str:
    """sha256 over (relative path, size, mtime_ns) of every file under `step_dir`."""
    step_dir = Path(step_dir)
    digest = hashlib.sha256(f"graph {GRAPH_VERSION}\n".encode())
    for path in sorted(p for p in step_dir.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(step_dir)} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def _entry_path(step_dir, directory) -> Path:
    directory = Path(directory) if directory is not None else cache_dir()
    return directory / INDEX_DIR / f"{files_fingerprint(step_dir)}.json"


def lookup(step_dir, directory=None) -> Path | None:
    """The cached ONNX file of the checkpoint in `step_dir`, or None when unknown."""
    entry = _entry_path(step_dir, directory)
    try:
        name = json.loads(entry.read_text())["onnx"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    onnx_path = entry.parent.parent / name
    return onnx_path if onnx_path.is_file() else None


def remember(step_dir, onnx_path, directory=None) -> None:
    """Records that `onnx_path` (in the cache folder) is the export of `step_dir`."""
    entry = _entry_path(step_dir, directory)
    try:
        fileio.write_json_atomic(entry, {"onnx": Path(onnx_path).name, "step_dir": str(step_dir)})
    except OSError:
        pass  # a read-only cache: later starts restore the checkpoint, as this one did


def forget(step_dir, directory=None) -> None:
    """Drops the entry of `step_dir` (its export was unreadable)."""
    _entry_path(step_dir, directory).unlink(missing_ok=True)
