"""Evaluating a checkpoint on the datasets' shards: `python -m pose3d_jax.evaluate`.

The model comes from the checkpoint's meta; the config only says where the
shards are (`config.data.data_dir`). Nothing here imports TensorFlow until
shards are read.
"""

from pose3d_jax import fileio
from pose3d_jax.evaluation import baseline as baseline_lib
from pose3d_jax.evaluation import metrics
from pose3d_jax.evaluation.predict import engine_predict_fn, predict_fn_for
from pose3d_jax.evaluation.protocols import config_value, evaluate_dataset, protocol_for
from pose3d_jax.model import network

DATASETS = ("h36m", "mpi_inf_3dhp", "mpii")
DEFAULT_SPLITS = {"h36m": "test", "mpi_inf_3dhp": "test", "mpii": "validation"}
DEFAULT_BATCH_SIZE = 16
BASELINE_KEY = "h36m_mean_pose_baseline"
LOG_EVERY_BATCHES = 50


def _eval_batches(data_dir, name, split, batch_size):
    from pose3d_jax.data import input_pipeline  # TensorFlow only when shards are read

    ds = input_pipeline.create_eval_dataset(
        data_dir, name, split, batch_size=batch_size, num_local_devices=1
    )
    return input_pipeline.numpy_iterator(ds)


def engine_predict_fn_for(loaded, backend, precision=None, calibration=None, flip=False):
    """(predict_fn, {'backend', 'precision'}) running `loaded` in an inference engine at a
    precision (inference/precision.py), for scoring a precision by the protocols."""
    from pose3d_jax.inference import engines
    from pose3d_jax.inference import precision as precision_lib
    from pose3d_jax.inference.predictor import engine_precision

    backend, precision, _ = engines.resolve(backend, precision)
    choice = precision_lib.choose(precision, backend, calibration=calibration)
    options = engine_precision(choice, calibration, loaded)
    engine = engines.create(loaded, backend, **options)
    about = {"backend": backend, "precision": choice.to_dict()}
    return engine_predict_fn(engine, loaded.input_res, flip=flip), about


def run(
    config,
    checkpoint_path,
    datasets=DATASETS,
    out=None,
    splits=None,
    baseline=False,
    flip=False,
    *,
    backend=None,
    precision=None,
    calibration=None,
):
    """Evaluates a checkpoint on `datasets`; prints the tables, writes JSON to `out`.

    Splits are DEFAULT_SPLITS, then config.eval.splits, then `splits` (a dict),
    e.g. {'h36m': 'test_sample'} for the released every-200th-frame subset.
    With `baseline`, the H36M split is also scored for the mean pose of the H36M
    training split (baseline.py), under 'h36m_mean_pose_baseline'. With `flip`,
    each crop's outputs are averaged with its mirror's (test-time flip). With `backend`
    ('onnxruntime', 'openvino'), the network runs in that inference engine at
    `precision` (int8: `calibration` images), as infer runs it; else jitted in JAX.

    Returns:
      {'checkpoint': step dir, 'splits': ..., '<dataset>': summary, ...}.
    """
    loaded = network.load_network(checkpoint_path)
    about = {"backend": "xla", "precision": {"precision": "fp32", "requested": "fp32"}}
    if backend is None:
        predict_fn = predict_fn_for(loaded, flip=flip)
    else:
        predict_fn, about = engine_predict_fn_for(loaded, backend, precision, calibration, flip)
    data_dir = config_value(config, "data.data_dir", None)
    if not data_dir:
        raise ValueError("the config sets no data.data_dir; set it to the folder of the shards.")
    batch_size = int(config_value(config, "eval.batch_size", DEFAULT_BATCH_SIZE))
    from_config = dict(config_value(config, "eval.splits", {}) or {})
    splits = {**DEFAULT_SPLITS, **from_config, **(splits or {})}
    results = {
        "checkpoint": str(loaded.step_dir),
        "splits": {n: splits[n] for n in datasets},
        "flip": bool(flip),
        **about,
    }
    for name in datasets:
        protocol = protocol_for(name, config)
        batches = _eval_batches(data_dir, name, splits[name], batch_size)
        results[name] = evaluate_dataset(predict_fn, batches, protocol, log_every=LOG_EVERY_BATCHES)
        print(protocol.tables(results[name]) + "\n", flush=True)
    if baseline and "h36m" in datasets:
        mean_pose = baseline_lib.training_mean_pose(data_dir, "h36m")
        batches = _eval_batches(data_dir, "h36m", splits["h36m"], batch_size)
        results[BASELINE_KEY] = evaluate_dataset(
            baseline_lib.mean_pose_predict_fn(mean_pose), batches, protocol_for("h36m", config)
        )
        model_mm = results["h36m"]["mpjpe"][metrics.ALL]
        baseline_mm = results[BASELINE_KEY]["mpjpe"][metrics.ALL]
        print(
            f"H36M MPJPE {model_mm:.1f} mm; mean-pose baseline {baseline_mm:.1f} mm "
            f"(ratio {model_mm / baseline_mm:.2f})\n",
            flush=True,
        )
    if out:
        fileio.write_json_atomic(out, results)
    return results


def headline(results):
    """The one-line summary of run()'s results: the numbers people quote.

    Keys (where evaluated): checkpoint, mpjpe_mm and pa_mpjpe_mm (H36M, all
    actions), baseline_mpjpe_mm (the mean-pose baseline's MPJPE), pck (MPII
    PCKh@0.5, %, the 2D number), mpi_inf_3dhp_pck and mpi_inf_3dhp_auc.
    """
    line = {"checkpoint": results["checkpoint"]}
    if "h36m" in results:
        line["mpjpe_mm"] = results["h36m"]["mpjpe"][metrics.ALL]
        line["pa_mpjpe_mm"] = results["h36m"]["pa_mpjpe"][metrics.ALL]
    if BASELINE_KEY in results:
        line["baseline_mpjpe_mm"] = results[BASELINE_KEY]["mpjpe"][metrics.ALL]
    if "mpii" in results:
        line["pck"] = results["mpii"]["pckh"]["Mean"]
    if "mpi_inf_3dhp" in results:
        scene = results["mpi_inf_3dhp"]["scene"]
        line["mpi_inf_3dhp_pck"] = scene["pck"][metrics.ALL]
        line["mpi_inf_3dhp_auc"] = scene["auc"][metrics.ALL]
    return line
