"""The training loop: start-up, steps, logging, evaluation, checkpoints.

Start-up order (big_vision's): the workdir's own checkpoint (resume) > the
previous stage's weights (`train.init_from`) > a fresh initialisation.
Only process 0 writes summaries; every process saves its share through orbax.
"""

import itertools
import json
import logging
import signal
from pathlib import Path

import jax
import orbax.checkpoint as ocp
from clu import metric_writers

from pose3d_jax import checkpoint as ckpt
from pose3d_jax import fileio
from pose3d_jax import model as model_lib
from pose3d_jax.evaluation import metrics, predict, protocols
from pose3d_jax.training import train
from pose3d_jax.training.progress import Progress


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss."""


def _total_steps(config):
    return int(config.train.num_epochs * config.train.steps_per_epoch)


def _check_batch_size(config):
    devices = jax.device_count()
    if config.train.batch_size % devices:
        raise ValueError(
            f"config.train.batch_size={config.train.batch_size} is not divisible by the "
            f"{devices} devices; pick a multiple of {devices}."
        )


def _meta(config):
    return {
        "model": model_lib.model_meta(config.model),
        "input": dict(ckpt.INPUT_RGB_255, res=config.data.input_res),
        "source": {"kind": "pose3d_jax training", "config": json.loads(config.to_json())},
        "provenance": ckpt.provenance(
            _trained_on(config),
            datasets=list(config.data.train_sources),
            data_dir=str(config.data.data_dir),
        ),
    }


def _trained_on(config):
    """checkpoint.TRAINED_ON_SYNTHETIC or TRAINED_ON_RELEASE, from config.data.provenance."""
    kinds = {"synthetic": ckpt.TRAINED_ON_SYNTHETIC, "release": ckpt.TRAINED_ON_RELEASE}
    value = config.data.get("provenance", "release")
    if value not in kinds:
        raise ValueError(f"config.data.provenance must be 'release' or 'synthetic', got {value!r}")
    return kinds[value]


def _abstract_state(config, model, tx):
    rng = jax.random.PRNGKey(config.seed)
    return jax.eval_shape(lambda: train.create_train_state(rng, model, tx, config.data.input_res))


def _restore_own(latest, abstract):
    """The state of the workdir's newest checkpoint."""
    step = latest.latest_step()
    restored = latest.restore(
        step,
        args=ocp.args.Composite(
            model=ocp.args.StandardRestore(abstract.model_variables()),
            train=ocp.args.StandardRestore(
                {"opt_state": abstract.opt_state, "step": abstract.step, "rng": abstract.rng}
            ),
        ),
    )
    model_vars, train_vars = restored["model"], restored["train"]
    return train.TrainState(
        step=train_vars["step"],
        params=model_vars["params"],
        batch_stats=model_vars["batch_stats"],
        opt_state=train_vars["opt_state"],
        rng=train_vars["rng"],
    )


def initial_state(config, model, tx, latest):
    """(state on the host, how it started) following the start-up order."""
    abstract = _abstract_state(config, model, tx)
    if latest.latest_step() is not None:
        return _restore_own(latest, abstract), f"resumed from step {latest.latest_step()}"
    rng = jax.random.PRNGKey(config.seed)
    if config.train.init_from:
        variables, _, step_dir = ckpt.load_variables(config.train.init_from)
        variables = {k: variables[k] for k in ("params", "batch_stats")}
        ckpt.check_compatible(variables, abstract.model_variables(), step_dir)
        state = train.create_train_state(rng, model, tx, config.data.input_res, variables=variables)
        return state, f"initialised from {step_dir}"
    return train.create_train_state(rng, model, tx, config.data.input_res), "fresh start"


def _save(latest, state, meta):
    host = train.unreplicate(state)
    latest.save(
        int(host.step),
        args=ckpt.save_args(
            host.model_variables(),
            meta,
            {"opt_state": host.opt_state, "step": host.step, "rng": host.rng},
        ),
        force=True,
    )


def headline_metrics(name, summary):
    """The few numbers of an evaluation worth a scalar summary."""
    if name == "h36m":
        return {
            "h36m_mpjpe_mm": summary["mpjpe"][metrics.ALL],
            "h36m_pa_mpjpe_mm": summary["pa_mpjpe"][metrics.ALL],
        }
    if name == "mpii":
        return {"mpii_pckh": summary["pckh"]["Mean"]}
    if name == "mpi_inf_3dhp":
        scene = summary["scene"]
        return {
            "mpi_inf_3dhp_pck": scene["pck"][metrics.ALL],
            "mpi_inf_3dhp_auc": scene["auc"][metrics.ALL],
        }
    return {}


def run_evaluation(config, state, eval_model):
    """Evaluates the current weights on every configured eval set that exists."""
    from pose3d_jax.data import input_pipeline

    variables = jax.device_get(train.unreplicate(state).model_variables())
    predict_fn = predict.make_eval_predict_fn(
        eval_model, variables, ckpt.INPUT_RGB_255, input_res=config.data.input_res
    )
    results = {}
    for name in config.eval.datasets:
        split = config.eval.splits[name]
        try:
            ds = input_pipeline.create_eval_dataset(
                config.data.data_dir, name, split, batch_size=config.eval.batch_size,
                num_local_devices=1, process_index=0, process_count=1,
            )  # fmt: skip
        except FileNotFoundError as err:
            logging.warning("skipping evaluation on %s: %s", name, err)
            continue
        batches = input_pipeline.numpy_iterator(ds)
        if config.eval.max_batches > 0:
            batches = itertools.islice(batches, config.eval.max_batches)
        summary = protocols.evaluate_dataset(
            predict_fn, batches, protocols.protocol_for(name, config)
        )
        results.update(headline_metrics(name, summary))
    return results


class _StopRequest:
    """Turns SIGTERM/SIGINT into a flag the loop checks after each step."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: signals stay as they are
                pass
        return self

    def _handle(self, signum, frame):
        del frame
        logging.warning("signal %d: saving a checkpoint and stopping", signum)
        self.requested = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def host_batches(config, start_step=0):
    """The training stream of `config` from `start_step` as NumPy batches on the host.

    Each batch is a dict of arrays [local devices, per-device batch, ...]
    (input_pipeline.create_train_dataset with the config's data and seed).
    """
    from pose3d_jax.data import input_pipeline

    ds = input_pipeline.create_train_dataset(
        config.data.data_dir,
        sources=tuple(config.data.train_sources),
        ratio_3d=config.data.ratio_3d,
        batch_size=config.train.batch_size,
        seed=config.seed,
        shuffle_buffer=config.data.shuffle_buffer,
        start_step=start_step,
    )
    return input_pipeline.numpy_iterator(ds)


def device_batches(config, start_step=0):
    """host_batches put on the local devices two steps ahead: what the loop steps on."""
    from pose3d_jax.data import input_pipeline

    return input_pipeline.prefetch_to_device(host_batches(config, start_step), size=2)


def train_and_evaluate(config, workdir, *, batches=None):
    """Trains `config` in `workdir` until its last step (or a stop signal).

    Args:
      config: the ConfigDict of configs/*.py.
      workdir: checkpoints, config.json and TensorBoard events go here.
      batches: optional iterator of device batches replacing the shards (tests).
    Returns:
      dict with the final step, the last training metrics and the last evaluation.
    """
    workdir = Path(workdir)
    _check_batch_size(config)
    is_main = jax.process_index() == 0
    if is_main:
        fileio.write_json_atomic(workdir / "config.json", json.loads(config.to_json()))
    model = model_lib.create_model(config.model, bn_axis_name=train.AXIS)
    eval_model = model_lib.create_model(config.model)
    tx, schedule = train.create_optimizer(config.train)
    meta = _meta(config)
    latest = ckpt.manager(workdir / ckpt.LATEST_DIR, max_to_keep=config.train.keep_checkpoints)
    best = ckpt.manager(
        workdir / ckpt.BEST_DIR, max_to_keep=1, best_metric=config.eval.best_metric,
        best_mode=config.eval.best_mode, with_train=False,
    )  # fmt: skip
    state, how = initial_state(config, model, tx, latest)
    start_step, total_steps = int(state.step), _total_steps(config)
    logging.info("%s; training steps %d..%d on %d devices", how, start_step, total_steps,
                 jax.device_count())  # fmt: skip
    state = train.replicate(state)
    p_train_step = train.make_p_train_step(config, model, tx, schedule)
    writer = metric_writers.create_default_writer(str(workdir), just_logging=not is_main)
    if batches is None:
        batches = device_batches(config, start_step)
    progress = Progress(total_steps, start_step, enabled=is_main)
    history, last_train, last_eval, first_unlogged = [], {}, {}, start_step
    step = start_step
    try:
        with _StopRequest() as stop:
            while step < total_steps:
                state, metrics = p_train_step(state, next(batches))
                history.append(metrics)
                step += 1
                at_end = step == total_steps or stop.requested
                if step % config.train.log_every_steps == 0 or at_end:
                    last_train = train.summarize_metrics(jax.device_get(history))
                    history = []
                    if last_train["nonfinite"] > 0:
                        raise NonFiniteLossError(
                            f"non-finite loss between steps {first_unlogged} and {step}; the last "
                            f"good checkpoint (step {latest.latest_step()}) is kept. Lower "
                            "train.learning_rate or check the data, then run again to resume."
                        )
                    first_unlogged = step
                    writer.write_scalars(step, {f"train_{k}": v for k, v in last_train.items()})
                    progress.update(step, last_train)
                if step % config.eval.every_steps == 0 or at_end:
                    last_eval = run_evaluation(config, state, eval_model)
                    if last_eval:
                        writer.write_scalars(step, {f"eval_{k}": v for k, v in last_eval.items()})
                        logging.info("step %d evaluation: %s", step, last_eval)
                        if config.eval.best_metric in last_eval:
                            host = train.unreplicate(state)
                            best.save(step, args=ckpt.save_args(host.model_variables(), meta),
                                      metrics=last_eval, force=True)  # fmt: skip
                if step % config.train.checkpoint_every_steps == 0 or at_end:
                    _save(latest, state, meta)
                if stop.requested:
                    break
    finally:  # a pending save finishes even when a non-finite loss stops the run
        for mgr in (latest, best):
            mgr.wait_until_finished()
            mgr.close()
    writer.flush()
    progress.close()
    return {"step": step, "train": last_train, "eval": last_eval,
            "checkpoint": str(workdir)}  # fmt: skip


def wait_for_everyone():
    """A barrier so no process exits while another still writes."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("pose3d_jax end of training")
