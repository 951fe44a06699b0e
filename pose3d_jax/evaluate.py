"""Command line: the paper's evaluation tables for a checkpoint (SPEC 6).

    python -m pose3d_jax.evaluate --config=configs/stage3.py --checkpoint=WORKDIR \
        [--datasets=h36m,mpi_inf_3dhp,mpii] [--baseline] [--splits=h36m=test_sample] \
        [--flip] [--backend=openvino --precision=bf16|int8 [--calibration=DIR]]
        [--out=results.json]

Flags only; the work is pose3d_jax.evaluation.run. Every user error ends in one
sentence and exit code 1; the last line on stdout is the headline JSON.
"""

import json
import sys

from pose3d_jax.evaluation.protocols import config_value
from pose3d_jax.evaluation.run import DATASETS, headline, run


def main(argv):
    """Flags -> run(); every user error ends in one sentence and exit code 1."""
    del argv
    from absl import flags
    from ml_collections import config_flags

    from pose3d_jax import checkpoint
    from pose3d_jax.runtime import compile_cache

    compile_cache.enable()  # a second evaluation loads the compiled network from disk
    flag_values = flags.FLAGS
    try:
        config = flag_values.config
        config_value(config, "data", None)  # the file is loaded on first access
    except OSError:
        path = config_flags.get_config_filename(flag_values["config"])
        sys.exit(f"error: cannot load the config file '{path}'; check the --config path.")
    names = [n.strip() for n in flag_values.datasets.split(",") if n.strip()]
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        sys.exit(f"error: unknown dataset(s) {unknown}; choose from {', '.join(DATASETS)}.")
    try:
        splits = dict(item.split("=", 1) for item in flag_values.splits.split(",") if item)
    except ValueError:
        sys.exit(
            f"error: --splits must look like h36m=test_sample,mpii=validation, "
            f"got {flag_values.splits!r}."
        )
    try:
        results = run(
            config,
            flag_values.checkpoint,
            names,
            flag_values.out,
            splits,
            flag_values.baseline,
            flip=flag_values.flip,
            backend=flag_values.backend or None,
            precision=flag_values.precision or None,
            calibration=flag_values.calibration or None,
        )
    except (checkpoint.CheckpointError, FileNotFoundError, ValueError) as err:
        sys.exit(f"error: {err}")
    print(json.dumps(headline(results)), flush=True)


def _define_flags():
    from absl import flags
    from ml_collections import config_flags

    config_flags.DEFINE_config_file("config", None, "Config file (its data.data_dir is read).")
    flags.DEFINE_string("checkpoint", None, "Checkpoint: workdir, manager dir or step dir.")
    flags.DEFINE_string("datasets", ",".join(DATASETS), "Comma-separated datasets to evaluate.")
    flags.DEFINE_string("out", None, "Write the results as JSON here (atomically).")
    flags.DEFINE_bool("baseline", False, "Also score the H36M training set's mean pose.")
    flags.DEFINE_bool(
        "flip", False, "Average each crop's outputs with its mirror's (test-time flip)."
    )
    flags.DEFINE_string("splits", "", "Split overrides, e.g. h36m=test_sample (default: test).")
    flags.DEFINE_enum(
        "backend", "", ["", "onnxruntime", "openvino"],
        "Run the network in this inference engine (default: jitted JAX).",
    )  # fmt: skip
    flags.DEFINE_enum(
        "precision", "", ["", "fp32", "bf16", "int8"],
        "Precision on --backend=openvino (inference/precision.py).",
    )  # fmt: skip
    flags.DEFINE_string("calibration", "", "int8's calibration frames (a folder).")
    flags.mark_flags_as_required(["config", "checkpoint"])


if __name__ == "__main__":
    from absl import app

    from pose3d_jax.runtime import malloc_tuning

    malloc_tuning.reexec_with_tuned_malloc()

    _define_flags()
    app.run(main)
