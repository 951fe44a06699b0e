"""Atomic file writes: a reader (or a crash) never sees a half-written result.

Data goes to a temporary file in the target's folder, then os.replace renames
it over the target, which is atomic on POSIX and Windows within one file system.
"""

import json
import os
import tempfile
from pathlib import Path


def write_bytes_atomic(path, data: bytes) -> Path:
    """Writes `data` to `path` (parents created) via a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json_atomic(path, obj, indent=2) -> Path:
    """Writes `obj` as JSON (NumPy values converted) to `path` atomically."""
    text = json.dumps(obj, indent=indent, default=_to_builtin) + "\n"
    return write_bytes_atomic(path, text.encode())


def _to_builtin(value):
    """JSON fallback for NumPy scalars and arrays and paths."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
