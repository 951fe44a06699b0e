"""Images/s of the whole training loop (input pipeline + augmentation + step); one JSON line.

    .venv/bin/python benchmarks/train_loop_throughput.py [--config=configs/default.py]
        [--config.train.batch_size=12 ...] [--data_dir SHARDS] [--steps 20] [--warmup 3]

Builds the loop as pose3d_jax/trainer.py does (trainer.device_batches: tf.data read +
JPEG decode -> NumPy -> prefetch_to_device; train.make_p_train_step on a replicated
fresh TrainState, augmentation inside the step) and reports, after compiling and
`--warmup` loop steps:
  loop_images_per_s  the loop fed by the input pipeline, blocked on the last state
  step_images_per_s  the same compiled step fed one fixed device batch again and again
  host_images_per_s  the host input pipeline alone (trainer.host_batches, no device)
  input_bound        loop_images_per_s < 0.9 * step_images_per_s: the step starves
  compile_s          lowering and compiling the pmapped train step
Without --data_dir it writes fake shards of the config's train_sources to a temporary
directory (`--fake_examples` per source, stored crops 1.5x input_res as the real ones).
Progress goes to stderr.
"""

import contextlib
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # configs/*.py import `configs`

import jax
import tensorflow_datasets as tfds
from absl import flags
from ml_collections import config_flags

from datasets import fake_shards
from pose3d_jax import model as model_lib
from pose3d_jax.training import train, trainer

STORED_PER_INPUT = 1.5  # the real shards store 384 px crops for 256 px inputs
INPUT_BOUND_RATIO = 0.9
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


def parse_flags(argv):
    """Flags of this script in their own FlagValues (main() can run inside other programs)."""
    values = flags.FlagValues()
    config_flags.DEFINE_config_file(
        "config", str(REPO_ROOT / "configs" / "default.py"), "Training configuration file.",
        flag_values=values, lock_config=True, sys_argv=argv,
    )  # fmt: skip
    flags.DEFINE_string("data_dir", "", "Shard root; default: fake shards.", flag_values=values)
    for name, default, help_string in [
        ("fake_examples", 192, "Fake train examples per source."),
        ("steps", 20, "Timed steps of the loop and of the step alone."),
        ("warmup", 3, "Untimed loop steps after compiling."),
        ("host_steps", 100, "Timed batches of the host pipeline alone."),
    ]:
        flags.DEFINE_integer(name, default, help_string, lower_bound=1, flag_values=values)
    if any(arg in ("-h", "--help") for arg in argv[1:]):
        print(f"usage: {Path(argv[0]).name} [--flag=value ...]\n{values.get_help()}")
        raise SystemExit(0)
    values(argv)
    return values


def _log(message):
    print(f"[train_loop_throughput] {message}", file=sys.stderr, flush=True)


def write_fake_data(root, config, examples):
    """Fake train shards of every source of `config` under root."""
    stored = round(STORED_PER_INPUT * config.data.input_res)
    with contextlib.redirect_stdout(sys.stderr):  # TFDS prints; stdout carries the JSON only
        for seed, name in enumerate(config.data.train_sources):
            fake_shards.write_fake_shards(
                root, name, {"train": examples}, image_size=stored, seed=seed
            )
    return root


@contextlib.contextmanager
def count_compiles():
    """Yields a list that collects the seconds of every XLA compilation inside the block."""
    seconds = []

    def listen(event, duration, **kwargs):
        if event == COMPILE_EVENT:
            seconds.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield seconds
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


def run_steps(p_train_step, state, batches, steps):
    """(state, seconds) of `steps` steps dispatched back to back, blocked at the end."""
    start = time.perf_counter()
    for _ in range(steps):
        state, metrics = p_train_step(state, next(batches))
    jax.block_until_ready((state, metrics))
    return state, time.perf_counter() - start


def time_host(config, batches):
    """Seconds for `batches` host batches after three untimed ones (buffers filled)."""
    stream = trainer.host_batches(config)
    for _ in range(3):
        next(stream)
    start = time.perf_counter()
    for _ in range(batches):
        next(stream)
    return time.perf_counter() - start


def measure(config, steps, warmup, host_steps):
    """The numbers of the JSON line (without the run's description)."""
    batch_size = config.train.batch_size
    model = model_lib.create_model(config.model, bn_axis_name=train.AXIS)
    tx, schedule = train.create_optimizer(config.train)
    state = train.create_train_state(
        jax.random.PRNGKey(config.seed), model, tx, config.data.input_res
    )
    state = train.replicate(state)
    p_train_step = train.make_p_train_step(config, model, tx, schedule)
    batches = trainer.device_batches(config)
    first = next(batches)
    _log("compiling the train step")
    start = time.perf_counter()
    p_train_step.lower(state, first).compile()  # fills the cache of p_train_step's calls
    compile_s = time.perf_counter() - start
    _log(f"compiled in {compile_s:.1f} s; {warmup} warm-up steps")
    with count_compiles() as recompiles:  # none expected: every step reuses the executable
        state, _ = run_steps(p_train_step, state, itertools.chain([first], batches), warmup)
        _log(f"timing {steps} loop steps")
        state, loop_s = run_steps(p_train_step, state, batches, steps)
        del batches  # stops feeding the loop's pipeline before the other timings
        _log(f"timing {steps} steps on one fixed batch")
        state, step_s = run_steps(p_train_step, state, itertools.repeat(first), steps)
    _log(f"timing {host_steps} host batches")
    host_s = time_host(config, host_steps)
    loop_rate = steps * batch_size / loop_s
    step_rate = steps * batch_size / step_s
    return {
        "compile_s": round(compile_s, 1),
        "loop_images_per_s": round(loop_rate, 3),
        "step_images_per_s": round(step_rate, 3),
        "host_images_per_s": round(host_steps * batch_size / host_s, 1),
        "loop_over_step": round(loop_rate / step_rate, 3),
        "input_bound": bool(loop_rate < INPUT_BOUND_RATIO * step_rate),
        "recompiles": len(recompiles),
        "recompile_s": round(sum(recompiles), 1),
    }


def main(argv):
    """Parses argv (argv[0] is the program name), measures and prints one JSON line."""
    values = parse_flags(argv)
    tfds.disable_progress_bar()
    config = values.config
    config_path = config_flags.get_config_filename(values["config"])
    with tempfile.TemporaryDirectory() as tmp:
        if values.data_dir:
            config.data.data_dir = values.data_dir
        else:
            _log(f"writing {values.fake_examples} fake examples per source to {tmp}")
            config.data.data_dir = str(write_fake_data(Path(tmp), config, values.fake_examples))
        numbers = measure(config, values.steps, values.warmup, values.host_steps)
    result = {
        "benchmark": "train_loop_throughput",
        "config": Path(config_path).name,
        "data": "given" if values.data_dir else "fake shards",
        "input_res": config.data.input_res,
        "num_stacks": config.model.num_stacks,
        "num_features": config.model.num_features,
        "batch_size": config.train.batch_size,
        "steps": values.steps,
        "warmup": values.warmup,
        **numbers,
        "device_count": jax.device_count(),
        "device": jax.devices()[0].device_kind,
        "cpu_count": os.cpu_count(),
        "jax_version": jax.__version__,
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    from pose3d_jax.runtime import malloc_tuning

    malloc_tuning.reexec_with_tuned_malloc()
    main(sys.argv)
