"""JAX's persistent compilation cache for the entry points and the Predictor.

Compiling the default network takes 20-60 s on a CPU and about a minute on a
GPU; with the cache a second start loads the executables from disk. The cache
lives in `~/.cache/pose3d_jax/compilation_cache/<machine>` (one folder per CPU
model and instruction set, because XLA:CPU executables use the host's
instructions); `POSE3D_JAX_COMPILATION_CACHE=DIR` moves it and
`POSE3D_JAX_COMPILATION_CACHE=off` turns it off. A `JAX_COMPILATION_CACHE_DIR`
the user set is kept as it is.

Two processes may share the folder: a size limit makes JAX's cache take a file
lock around every read and write (jax/_src/lru_cache.py; without a limit it
writes entries unlocked), and a damaged entry is a warning and a recompile, not
an error. The cache is trusted code: do not point it at a folder others can write.
"""

import hashlib
import os
import platform
from pathlib import Path

ENV = "POSE3D_JAX_COMPILATION_CACHE"
OFF = ("off", "0", "false", "no", "none")
DEFAULT_ROOT = "~/.cache/pose3d_jax/compilation_cache"
MAX_BYTES = 4 << 30  # least recently used entries go first beyond this
MIN_COMPILE_SECONDS = 0.5  # quicker compiles are not worth a disk entry
XLA_CACHES = "xla_gpu_per_fusion_autotune_cache_dir"  # GPU autotuning results too


def machine_tag() -> str:
    """A short name of this machine's architecture and CPU features."""
    features = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            lines = [line for line in cpuinfo if line.startswith(("model name", "flags"))]
        features = "".join(sorted(set(lines)))
    except OSError:
        pass
    digest = hashlib.sha1(features.encode()).hexdigest()[:10]
    return f"{platform.machine() or 'unknown'}-{digest}"


def cache_dir(environ=None) -> Path | None:
    """The folder the cache uses under `environ` (os.environ), or None when off."""
    environ = os.environ if environ is None else environ
    value = environ.get(ENV)
    if value is not None and value.strip().lower() in OFF:
        return None
    if value:
        return Path(value).expanduser()
    return Path(DEFAULT_ROOT).expanduser() / machine_tag()


def enable(environ=None) -> Path | None:
    """Turns the cache on for this process (before or after the first compile).

    Returns the folder in use, or None when the environment turns it off.
    """
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    if jax.config.jax_compilation_cache_dir:  # the user's JAX_COMPILATION_CACHE_DIR
        return Path(jax.config.jax_compilation_cache_dir)
    directory = cache_dir(environ)
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    jax.config.update("jax_persistent_cache_enable_xla_caches", XLA_CACHES)
    compilation_cache.reset_cache()  # a compile before this call initialised it without a folder
    return directory
