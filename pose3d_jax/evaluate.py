"""The paper's evaluation protocols over whole datasets, and their tables (SPEC 6).

    python -m pose3d_jax.evaluate --config=configs/stage3.py --checkpoint=WORKDIR \
        [--datasets=h36m,mpi_inf_3dhp,mpii] [--out=results.json]

The model comes from the checkpoint's meta; the config only says where the
shards are (`config.data.data_dir`). Training reuses `make_eval_predict_fn`
and `evaluate_dataset` for its periodic validation. Nothing here imports
TensorFlow until the command line reads shards.
"""

import dataclasses
import functools
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np

from pose3d_jax import augment, fileio, geometry, metrics, network, skeleton
from pose3d_jax import baseline as baseline_lib
from pose3d_jax.network import to_original_pixels  # noqa: F401  (part of this module's API)

DATASETS = ("h36m", "mpi_inf_3dhp", "mpii")
DEFAULT_SPLITS = {"h36m": "test", "mpi_inf_3dhp": "test", "mpii": "validation"}
DEFAULT_BATCH_SIZE = 16
BASELINE_KEY = "h36m_mean_pose_baseline"
LOG_EVERY_BATCHES = 50
# Columns of the paper's Human3.6M table: action ids in its order, with its short names.
PAPER_H36M_COLUMNS = (
    (2, "Direct."),
    (3, "Discuss"),
    (4, "Eating"),
    (5, "Greet"),
    (6, "Phone"),
    (12, "Photo"),
    (7, "Pose"),
    (8, "Purch."),
    (9, "Sitting"),
    (10, "SittingD."),
    (11, "Smoke"),
    (13, "Wait"),
    (15, "WalkD."),
    (14, "Walk"),
    (16, "WalkT."),
)
PCKH_COLUMNS = (
    ("head", "Head"),
    ("shoulder", "Sho."),
    ("elbow", "Elb."),
    ("wrist", "Wri."),
    ("hip", "Hip"),
    ("knee", "Knee"),
    ("ankle", "Ank."),
    ("Mean", "Mean"),
)


# ---------------------------------------------------------------- prediction


def _as_flat_batch(batch):
    """NumPy arrays with a [devices, per_device] leading pair merged into one axis."""
    batch = {k: np.asarray(v) for k, v in batch.items()}
    image = batch["image"]
    if image.ndim == 5:
        lead = image.shape[:2]
        batch = {
            k: v.reshape((-1, *v.shape[2:])) if v.shape[:2] == lead else v for k, v in batch.items()
        }
    return batch


def _device_inputs(batch):
    """The keys prepare_eval_batch reads, with neutral values for absent targets."""
    size = batch["image"].shape[0]
    joints = skeleton.NUM_JOINTS
    defaults = {
        "joints_2d": np.zeros((size, joints, 2), np.float32),
        "visible": np.zeros((size, joints), bool),
        "depth": np.zeros((size, joints), np.float32),
        "has_depth": np.zeros((size,), bool),
    }
    return {k: batch[k] if k in batch else defaults[k] for k in augment.INPUT_KEYS}


@functools.partial(jax.jit, static_argnames=("net", "input_res", "channel_order", "divisor"))
def eval_predict(net, variables, inputs, *, input_res, channel_order, divisor):
    """Centred crops of stored images -> decoded outputs (jitted; see make_eval_predict_fn)."""
    heatmap_res = input_res // network.HEATMAP_STRIDE
    prepared = augment.prepare_eval_batch(inputs, input_res=input_res, heatmap_res=heatmap_res)
    convention = {"channel_order": channel_order, "divisor": divisor}
    images = network.to_network_input(prepared["inputs"], convention)
    outputs = net.apply(variables, images, train=False)
    points, maxvals = geometry.decode_heatmaps(outputs["heatmaps"][-1])
    return {
        "points": points,
        "confidence": maxvals,
        "joints_3d_hm": geometry.joints_3d_from_outputs(points, outputs["depth"], heatmap_res),
        "matrix": prepared["matrix"],
    }


def make_eval_predict_fn(net, variables, input_convention, *, input_res=256):
    """fn(batch) -> NumPy predictions for a batch of stored crops.

    The batch's centred crop (augment.prepare_eval_batch) is fed in the
    checkpoint's input convention. A [devices, per_device] leading pair is
    merged and run on one device. Compilations are shared between calls with
    an equal model, input_res and convention (training can call this at every
    validation).

    Args:
      net: the flax module.
      variables: its {'params', 'batch_stats'}, unreplicated (one copy, not pmap's).
      input_convention: meta['input'] of the checkpoint (channel order, divisor).
      input_res: network input side; heatmaps are input_res / 4.
    Returns:
      predict(batch) -> {'points' [B, J, 2] heatmap px, 'confidence' [B, J],
      'joints_3d_hm' [B, J, 3] heatmap units, 'matrix' [B, 2, 3] stored px -> input px}.
    """
    static = {
        "input_res": int(input_res),
        "channel_order": input_convention["channel_order"],
        "divisor": float(input_convention["divisor"]),
    }

    def predict_fn(batch):
        inputs = jax.tree.map(jnp.asarray, _device_inputs(_as_flat_batch(batch)))
        return jax.device_get(eval_predict(net, variables, inputs, **static))

    predict_fn.heatmap_res = static["input_res"] // network.HEATMAP_STRIDE
    predict_fn.input_res = static["input_res"]
    return predict_fn


def predict_fn_for(loaded: network.Network):
    """make_eval_predict_fn for a restored network.Network."""
    return make_eval_predict_fn(
        loaded.model, loaded.variables, loaded.input_convention, input_res=loaded.input_res
    )


# ---------------------------------------------------------------- protocols


@dataclasses.dataclass(frozen=True)
class Protocol:
    """How one dataset is scored: batch -> (sum, count) totals, totals -> results."""

    name: str
    totals: Callable[[dict, dict, int, int], dict]
    summarize: Callable[[dict], dict]
    tables: Callable[[dict], str]


def _h36m_totals(
    pred, batch, heatmap_res, input_res, bone_sum_mm=skeleton.MEAN_SKELETON_BONE_SUM_MM
):
    del heatmap_res, input_res
    return metrics.h36m_totals(
        pred["joints_3d_hm"], batch["joints_3d_mm"], batch["action"], batch.get("mask"), bone_sum_mm
    )


def _mpi_inf_3dhp_totals(pred, batch, heatmap_res, input_res):
    del heatmap_res, input_res
    return metrics.mpi_inf_3dhp_totals(
        pred["joints_3d_hm"],
        batch["joints_3d_mm"],
        batch["activity"],
        batch["sequence"],
        batch.get("mask"),
    )


def _mpii_totals(pred, batch, heatmap_res, input_res):
    original = network.to_original_pixels(
        pred["points"],
        pred["matrix"],
        batch["to_original"],
        heatmap_res=heatmap_res,
        input_res=input_res,
    )
    return metrics.mpii_totals(
        original, batch["joints_2d_orig"], batch["normalize"], batch["visible"], batch.get("mask")
    )


def _markdown(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(row, key):
    return f"{row[key]:.1f}" if key in row else "-"


def h36m_tables(result):
    """The paper's Human3.6M table: MPJPE and PA-MPJPE (mm) per action and Avg."""
    header = ["mm", *(short for _, short in PAPER_H36M_COLUMNS), "Avg"]
    rows = []
    for metric, label in (("mpjpe", "MPJPE"), ("pa_mpjpe", "PA-MPJPE")):
        row = result[metric]
        cells = [_cell(row, skeleton.H36M_ACTIONS[a]) for a, _ in PAPER_H36M_COLUMNS]
        rows.append([label, *cells, _cell(row, metrics.ALL)])
    note = (
        f"{result['num_samples']} samples; Avg is over samples "
        "(the original's), the mean of the action columns is in the JSON."
    )
    return "### Human3.6M\n\n" + _markdown(header, rows) + "\n\n" + note


def mpi_inf_3dhp_tables(result):
    """PCK@150mm and AUC (%) per activity, scene and sequence of MPI-INF-3DHP."""
    parts = [f"### MPI-INF-3DHP ({result['num_frames']} frames)"]
    for prefix, title in (("activity", "Activity"), ("scene", "Scene"), ("sequence", "Sequence")):
        columns = list(result[prefix]["pck"])
        rows = [
            [metric.upper(), *(_cell(result[prefix][metric], c) for c in columns)]
            for metric in ("pck", "auc")
        ]
        parts.append(_markdown([title, *columns], rows))
    return "\n\n".join(parts)


def mpii_tables(result):
    """MPII PCKh@0.5 (%) per joint group and mean."""
    header = ["PCKh@0.5", *(short for _, short in PCKH_COLUMNS)]
    row = ["MPII", *(_cell(result["pckh"], key) for key, _ in PCKH_COLUMNS)]
    return "### MPII\n\n" + _markdown(header, [row]) + f"\n\n{result['num_joints']} joints"


PROTOCOLS = {
    "h36m": Protocol("h36m", _h36m_totals, metrics.summarize_h36m, h36m_tables),
    "mpi_inf_3dhp": Protocol(
        "mpi_inf_3dhp", _mpi_inf_3dhp_totals, metrics.summarize_mpi_inf_3dhp, mpi_inf_3dhp_tables
    ),
    "mpii": Protocol("mpii", _mpii_totals, metrics.summarize_mpii, mpii_tables),
}


def protocol_for(name, config=None):
    """The protocol of dataset `name`, with the H36M bone sum of config.eval.bone_sum_mm.

    A model trained on another skeleton than H36M's (the synthetic data) is
    scaled to its own training set's mean bone sum, as SPEC 6 scales to H36M's.
    """
    protocol = PROTOCOLS[name]
    bone_sum = _config_value(config, "eval.bone_sum_mm", None)
    if name != "h36m" or bone_sum is None:
        return protocol
    if not bone_sum > 0:
        raise ValueError(
            f"config.eval.bone_sum_mm must be a positive length in mm, got {bone_sum}."
        )
    totals = functools.partial(_h36m_totals, bone_sum_mm=float(bone_sum))
    return dataclasses.replace(protocol, totals=totals)


def evaluate_dataset(predict_fn, dataset_iterable: Iterable[dict], protocol, *, log_every=None):
    """Scores every (unmasked) example of a dataset under one protocol.

    Args:
      predict_fn: batch -> predictions as make_eval_predict_fn returns (it
        must carry `heatmap_res` and `input_res` attributes, or 64 and 256 apply).
      dataset_iterable: batches of NumPy arrays (input_pipeline.numpy_iterator),
        with a bool `mask` for padding rows; [devices, per_device] leading axes allowed.
      protocol: a Protocol or its name ('h36m', 'mpi_inf_3dhp', 'mpii').
      log_every: log progress every this many batches (None: never).
    Returns:
      the protocol's summary dict (see metrics.summarize_*).
    """
    protocol = PROTOCOLS[protocol] if isinstance(protocol, str) else protocol
    heatmap_res = getattr(predict_fn, "heatmap_res", 64)
    input_res = getattr(predict_fn, "input_res", 256)
    totals, start, examples = {}, time.monotonic(), 0
    for step, batch in enumerate(dataset_iterable, 1):
        batch = _as_flat_batch(batch)
        pred = predict_fn(batch)
        totals = metrics.merge_totals(totals, protocol.totals(pred, batch, heatmap_res, input_res))
        examples += int(np.sum(batch.get("mask", np.ones(len(batch["image"]), bool))))
        if log_every and step % log_every == 0:
            rate = examples / max(time.monotonic() - start, 1e-9)
            logging.info(
                "%s: %d batches, %d examples, %.1f examples/s", protocol.name, step, examples, rate
            )
    if not totals:
        raise ValueError(f"the {protocol.name} dataset yielded no batch to evaluate.")
    return protocol.summarize(totals)


# ---------------------------------------------------------------- command line


def _config_value(config, path, default):
    node = config
    for part in path.split("."):
        if node is None or part not in node:
            return default
        node = node[part]
    return node


def _eval_batches(data_dir, name, split, batch_size):
    from pose3d_jax import input_pipeline  # TensorFlow only when shards are read

    ds = input_pipeline.create_eval_dataset(
        data_dir, name, split, batch_size=batch_size, num_local_devices=1
    )
    return input_pipeline.numpy_iterator(ds)


def run(config, checkpoint_path, datasets=DATASETS, out=None, splits=None, baseline=False):
    """Evaluates a checkpoint on `datasets`; prints the tables, writes JSON to `out`.

    Splits are DEFAULT_SPLITS, then config.eval.splits, then `splits` (a dict),
    e.g. {'h36m': 'test_sample'} for the released every-200th-frame subset.
    With `baseline`, the H36M split is also scored for the mean pose of the H36M
    training split (baseline.py), under 'h36m_mean_pose_baseline'.

    Returns:
      {'checkpoint': step dir, 'splits': ..., '<dataset>': summary, ...}.
    """
    loaded = network.load_network(checkpoint_path)
    predict_fn = predict_fn_for(loaded)
    data_dir = _config_value(config, "data.data_dir", None)
    if not data_dir:
        raise ValueError("the config sets no data.data_dir; set it to the folder of the shards.")
    batch_size = int(_config_value(config, "eval.batch_size", DEFAULT_BATCH_SIZE))
    from_config = dict(_config_value(config, "eval.splits", {}) or {})
    splits = {**DEFAULT_SPLITS, **from_config, **(splits or {})}
    results = {"checkpoint": str(loaded.step_dir), "splits": {n: splits[n] for n in datasets}}
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


def main(argv):
    """Flags -> run(); every user error ends in one sentence and exit code 1."""
    del argv
    from absl import flags
    from ml_collections import config_flags

    from pose3d_jax import checkpoint

    flag_values = flags.FLAGS
    try:
        config = flag_values.config
        _config_value(config, "data", None)  # the file is loaded on first access
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
            config, flag_values.checkpoint, names, flag_values.out, splits, flag_values.baseline
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
    flags.DEFINE_string("splits", "", "Split overrides, e.g. h36m=test_sample (default: test).")
    flags.mark_flags_as_required(["config", "checkpoint"])


if __name__ == "__main__":
    from absl import app

    from pose3d_jax import malloc_tuning

    malloc_tuning.reexec_with_tuned_malloc()

    _define_flags()
    app.run(main)
