"""Keep XLA:CPU's per-call scratch memory resident and on huge pages.

XLA:CPU mallocs an executable's temporary buffer at every call and frees it
afterwards (3.1 GB for the default train step at batch 6). glibc serves a block
that large from a fresh mmap each time (a worker thread's arena cannot hold it),
so every step faulted in 3.1 GB of zeroed 4 KiB pages: 770k page faults and
1.2 s of kernel time in a 3.3 s step on the README's 2-core machine. With the
glibc tunables below, all threads share the main heap, large blocks come from
it and are never handed back, and the heap is advised for transparent huge
pages: the block is reused from the second step on (about 1k faults per step)
and the step took 2.6-2.8 s. Peak RSS is no higher (4.4-4.5 GB against 4.5-4.9);
the memory stays with the process until it exits. The price is compile time:
XLA's compiler allocates heavily and one heap serves its threads (a
compile-bound test: 40 -> 54 s).

glibc reads tunables only when a process starts, so the long-running entry
points (launch.py, evaluate, the throughput benchmarks) re-execute themselves
once with them set; `infer`, mostly compiling for a few images, does not. In a
notebook that trains or evaluates, start Jupyter with `GLIBC_TUNABLES=` the
value of `tunables_value()`. Nothing changes when JAX will run on an
accelerator (a GPU or TPU plugin is installed and JAX_PLATFORMS does not ask for
the CPU), on a C library other than glibc 2.35+, when GLIBC_TUNABLES already
sets any of these tunables, or when POSE3D_JAX_NO_MALLOC_TUNING=1.
"""

import importlib.util
import os
import sys

TUNABLES = (
    ("glibc.malloc.hugetlb", "1"),  # madvise(MADV_HUGEPAGE) on the heap and large blocks
    ("glibc.malloc.arena_max", "1"),  # every thread allocates from the main heap ...
    ("glibc.malloc.mmap_max", "0"),  # ... which serves large blocks too (no per-call mmap)
    ("glibc.malloc.trim_threshold", str(2**36)),  # and keeps freed memory for the next call
)
OPT_OUT = "POSE3D_JAX_NO_MALLOC_TUNING"
MIN_GLIBC = (2, 35)  # the first glibc with glibc.malloc.hugetlb
ACCELERATOR_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm7_plugin", "libtpu")


def tunables_value() -> str:
    """The GLIBC_TUNABLES value these settings need."""
    return ":".join(f"{name}={value}" for name, value in TUNABLES)


def glibc_version() -> tuple[int, int] | None:
    """(major, minor) of the running glibc, or None for another C library."""
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()
        major, minor = version.split(".")[:2]
        return (int(major), int(minor)) if name == "glibc" else None
    except (AttributeError, OSError, ValueError):
        return None


def accelerator_plugin_installed() -> bool:
    """Whether a JAX GPU/TPU plugin is importable (found, not imported)."""
    return any(importlib.util.find_spec(name) is not None for name in ACCELERATOR_PLUGINS)


def tuned_environment(environ, glibc, accelerator) -> dict | None:
    """A copy of environ with the tunables added, or None when the process is to
    stay as it is (not glibc 2.35+, JAX on an accelerator, opted out, or any of
    the tunables already set)."""
    if environ.get(OPT_OUT, "") not in ("", "0"):
        return None
    if accelerator and not environ.get("JAX_PLATFORMS", "").startswith("cpu"):
        return None
    if glibc is None or glibc < MIN_GLIBC:
        return None
    current = environ.get("GLIBC_TUNABLES", "")
    if any(name in current for name, _ in TUNABLES):
        return None
    env = dict(environ)
    env["GLIBC_TUNABLES"] = ":".join(filter(None, [current, tunables_value()]))
    return env


def reexec_with_tuned_malloc() -> None:
    """Re-execute this Python process with the tunables when they are missing
    (see the module docstring); returns only when nothing is to change."""
    if sys.platform != "linux":
        return
    env = tuned_environment(os.environ, glibc_version(), accelerator_plugin_installed())
    if env is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
