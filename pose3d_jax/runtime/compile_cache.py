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

On GPUs the cache also keeps XLA's per-fusion autotuning results (the
`xla_gpu_per_fusion_autotune_cache_dir` subfolder, written by process 0 only), so
a changed program re-tunes only the fusions it has not seen. `apply_gpu_flags()`
adds XLA:GPU flags that shorten the first compile (GPU_FLAG_PROFILES; before the
backend starts, on a machine with a CUDA plugin only); `POSE3D_JAX_XLA_GPU_FLAGS`
picks a profile ("default", "fast", or "off": XLA's own settings). A flag the user
already put in XLA_FLAGS is left as the user set it. The cache key includes
XLA_FLAGS: executables compiled under another profile are not reused.
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

GPU_FLAGS_ENV = "POSE3D_JAX_XLA_GPU_FLAGS"
# Flags of jaxlib 0.10.2's XLA (debug_options_flags; each marked [Stable] there).
GPU_FLAG_PROFILES = {
    # Autotune level 2 of 4: XLA still times every GEMM and convolution candidate on
    # initialised buffers, but skips re-initialising the outputs between candidates
    # and comparing each candidate's result with the reference one (levels 3 and 4).
    "default": ("--xla_gpu_autotune_level=2",),
    # And no Triton GEMM fusions: dots go to cuBLAS, so the autotuner has no Triton
    # tilings to compile and time (the bfloat16 compile spent 42 of 84 s on an H100
    # choosing them, benchmarks/README.md). Can lose the fusions' speed: measure it.
    "fast": ("--xla_gpu_autotune_level=2", "--xla_gpu_enable_triton_gemm=false"),
    "off": (),
}
CUDA_PLUGINS = (  # the pip packages' modules; jax finds them as jax_plugins.xla_cuda*
    "jax_cuda12_plugin",
    "jax_cuda13_plugin",
    "jax_plugins.xla_cuda12",
    "jax_plugins.xla_cuda13",
)


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


def gpu_flags(environ=None) -> tuple[str, ...]:
    """The XLA:GPU flags of the profile `POSE3D_JAX_XLA_GPU_FLAGS` names (default: "default")."""
    environ = os.environ if environ is None else environ
    name = environ.get(GPU_FLAGS_ENV, "default").strip().lower() or "default"
    if name in OFF:
        name = "off"
    if name not in GPU_FLAG_PROFILES:
        raise ValueError(
            f"{GPU_FLAGS_ENV}={name!r}: expected one of {', '.join(GPU_FLAG_PROFILES)}"
        )
    return GPU_FLAG_PROFILES[name]


def merge_xla_flags(current: str, flags) -> str:
    """`current` XLA_FLAGS with each of `flags` appended unless its name is already set."""
    have = {item.split("=", 1)[0] for item in current.split()}
    added = [flag for flag in flags if flag.split("=", 1)[0] not in have]
    return " ".join([*current.split(), *added])


def gpu_backend_expected(environ=None) -> bool:
    """Whether JAX will start a CUDA backend: a CUDA plugin is installed and
    JAX_PLATFORMS (or jax_platforms) does not exclude it. Starts no backend."""
    import importlib.util

    import jax

    environ = os.environ if environ is None else environ
    platforms = jax.config.jax_platforms or environ.get("JAX_PLATFORMS", "")
    if platforms and not {"cuda", "gpu"} & {p.strip() for p in platforms.split(",")}:
        return False

    def installed(name):
        try:
            return importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # jax_plugins itself absent
            return False

    return any(installed(name) for name in CUDA_PLUGINS)


def apply_gpu_flags(environ=None) -> tuple[str, ...]:
    """Adds the profile's XLA:GPU flags to `environ`'s XLA_FLAGS (os.environ) when a GPU
    backend is expected; returns the flags added. Call it before JAX starts a backend
    (XLA reads XLA_FLAGS once, then): after that it changes nothing and returns ()."""
    environ = os.environ if environ is None else environ
    flags = gpu_flags(environ)
    if not flags or not gpu_backend_expected(environ) or _backend_started():
        return ()
    current = environ.get("XLA_FLAGS", "")
    merged = merge_xla_flags(current, flags)
    environ["XLA_FLAGS"] = merged
    return tuple(flag for flag in merged.split() if flag not in current.split())


def _backend_started() -> bool:
    try:
        from jax._src import xla_bridge

        return xla_bridge.backends_are_initialized()
    except (ImportError, AttributeError):  # a JAX without it: assume not yet
        return False
