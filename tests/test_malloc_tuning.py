"""malloc_tuning: which environment a process re-executes with, and that the
re-executed process stops faulting in XLA:CPU's scratch buffer at every call."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from pose3d_jax.runtime import malloc_tuning

TUNED = (
    "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:"
    "glibc.malloc.trim_threshold=68719476736"
)
GLIBC = (2, 36)


def test_the_tunables_value_is_the_four_settings():
    assert malloc_tuning.tunables_value() == TUNED


def test_adds_the_tunables_to_an_environment_without_them():
    env = malloc_tuning.tuned_environment({"HOME": "/root"}, GLIBC, accelerator=False)
    assert env == {"HOME": "/root", "GLIBC_TUNABLES": TUNED}


def test_keeps_other_tunables_already_set():
    environ = {"GLIBC_TUNABLES": "glibc.pthread.rseq=0"}
    env = malloc_tuning.tuned_environment(environ, GLIBC, accelerator=False)
    assert env["GLIBC_TUNABLES"] == f"glibc.pthread.rseq=0:{TUNED}"
    assert environ == {"GLIBC_TUNABLES": "glibc.pthread.rseq=0"}  # the input is not changed


@pytest.mark.parametrize(
    "environ, glibc, accelerator",
    [
        ({"GLIBC_TUNABLES": TUNED}, GLIBC, False),  # already re-executed: no loop
        ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=4"}, GLIBC, False),  # the user's choice
        ({"POSE3D_JAX_NO_MALLOC_TUNING": "1"}, GLIBC, False),
        ({}, (2, 34), False),  # no glibc.malloc.hugetlb before 2.35
        ({}, None, False),  # musl and others
        ({}, GLIBC, True),  # a GPU plugin: XLA:GPU has no per-call host scratch
        ({"JAX_PLATFORMS": "cuda"}, GLIBC, True),
    ],
)
def test_leaves_the_process_alone(environ, glibc, accelerator):
    assert malloc_tuning.tuned_environment(environ, glibc, accelerator) is None


def test_tunes_a_cpu_run_even_with_a_gpu_plugin_installed():
    env = malloc_tuning.tuned_environment({"JAX_PLATFORMS": "cpu"}, GLIBC, accelerator=True)
    assert env["GLIBC_TUNABLES"] == TUNED


def test_an_explicit_zero_does_not_opt_out():
    env = malloc_tuning.tuned_environment(
        {"POSE3D_JAX_NO_MALLOC_TUNING": "0"}, GLIBC, accelerator=False
    )
    assert env is not None


# A jitted function whose 256 MiB intermediate lives in XLA:CPU's per-call
# temporary buffer; prints its environment's tunables and page faults per call.
PROBE = textwrap.dedent(
    """
    import json, os, resource
    from pose3d_jax.runtime import malloc_tuning
    malloc_tuning.reexec_with_tuned_malloc()
    import jax, jax.numpy as jnp
    x = jnp.ones((8192, 4096), jnp.float32)
    w = jnp.ones((4096, 8), jnp.float32)
    def f(x):
        y = jnp.sin(x)
        return jnp.dot(y, w).sum() + jnp.dot(jnp.cos(y), w).sum()
    compiled = jax.jit(f).lower(x).compile()
    temp_mib = compiled.memory_analysis().temp_size_in_bytes / 2**20
    for _ in range(2):
        jax.block_until_ready(compiled(x))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        jax.block_until_ready(compiled(x))
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3
    print(json.dumps({"tunables": os.environ.get("GLIBC_TUNABLES", ""),
                      "temp_mib": temp_mib, "faults_per_call": faults}))
    """
)


THP_MODE_FILE = "/sys/kernel/mm/transparent_hugepage/enabled"


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _run_probe(**extra_env):
    env = {
        k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", malloc_tuning.OPT_OUT)
    }
    env.update(extra_env, JAX_PLATFORMS="cpu")
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(
    sys.platform != "linux" or (malloc_tuning.glibc_version() or (0, 0)) < malloc_tuning.MIN_GLIBC,
    reason="needs Linux with glibc 2.35+",
)
def test_the_reexecuted_process_reuses_its_scratch_memory():
    tuned = _run_probe()
    untuned = _run_probe(POSE3D_JAX_NO_MALLOC_TUNING="1")
    assert tuned["tunables"] == TUNED
    assert untuned["tunables"] == ""
    assert tuned["temp_mib"] >= 128
    scratch_pages = tuned["temp_mib"] * 2**20 / 4096
    # Untuned, every call maps a fresh block (on 4 KiB pages unless THP is "always").
    if "[always]" not in _read(THP_MODE_FILE):
        assert untuned["faults_per_call"] > 0.5 * scratch_pages
    assert tuned["faults_per_call"] < 0.02 * scratch_pages
