"""Trains one stage of the paper's recipe (or any config) in a workdir.

    python launch.py --config=configs/stage1.py --workdir=workdirs/stage1 \
        [--config.train.batch_size=32 ...]

Run it again with the same workdir to resume after an interruption. For
several hosts, set JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and
JAX_PROCESS_ID on each (see README).

Compiled steps are kept in the persistent compilation cache
(~/.cache/pose3d_jax/compilation_cache/<machine>; POSE3D_JAX_COMPILATION_CACHE=DIR
or =off), so a restart loads them instead of compiling; on GPUs the XLA flags of
POSE3D_JAX_XLA_GPU_FLAGS (default "default", see pose3d_jax/runtime/compile_cache.py)
shorten the first compile's autotuning.
"""

from absl import app, flags, logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "Training configuration file (configs/*.py).", lock_config=True
)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, config.json and TensorBoard.")
flags.mark_flags_as_required(["config", "workdir"])


def prepare_runtime(environ=None):
    """Before JAX starts a backend: the XLA:GPU flags (on GPUs only) and the persistent
    compilation cache (pose3d_jax/runtime/compile_cache.py). Returns (flags added,
    cache folder or None)."""
    from pose3d_jax.runtime import compile_cache

    added = compile_cache.apply_gpu_flags(environ)
    return added, compile_cache.enable(environ)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    gpu_flags, cache = prepare_runtime()
    from pose3d_jax.training import distributed

    distributed.initialize_from_environment()

    import jax

    from pose3d_jax.training import trainer

    logging.info(
        "JAX process %d/%d, local devices %s",
        jax.process_index(),
        jax.process_count(),
        jax.local_devices(),
    )
    logging.info("compilation cache %s; XLA:GPU flags added %s", cache, list(gpu_flags))
    try:
        trainer.train_and_evaluate(FLAGS.config, FLAGS.workdir)
    finally:
        trainer.wait_for_everyone()


if __name__ == "__main__":
    from pose3d_jax.runtime import malloc_tuning

    malloc_tuning.reexec_with_tuned_malloc()
    app.run(main)
