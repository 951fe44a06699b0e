"""Per-backend XLA compiler options for the training step.

XLA:CPU's default scheduler runs independent convolutions concurrently on the
two cores, where they evict each other's data from the caches; its
memory-optimised scheduler runs them one after another. Measured on the 2-core
machine of the README (default model, batch 6, five interleaved pairs of runs):
train step 3.36-3.41 s against 3.57-3.66 s with the default scheduler. GPUs get
no options: XLA:GPU keeps its own defaults.
"""

import jax

CPU_OPTIONS = {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"}


def compiler_options(backend=None):
    """The options to compile the train step with on `backend` (default: JAX's), or None."""
    backend = backend or jax.default_backend()
    return dict(CPU_OPTIONS) if backend == "cpu" else None
