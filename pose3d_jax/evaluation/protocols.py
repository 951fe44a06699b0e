"""The paper's evaluation protocols over whole datasets, and their tables (SPEC 6).

A Protocol turns batches of predictions into (sum, count) totals
(metrics.py) and the summed totals into results and markdown tables;
`evaluate_dataset` runs one over a dataset.
"""

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Iterable

import numpy as np

from pose3d_jax import skeleton
from pose3d_jax.evaluation import metrics
from pose3d_jax.evaluation.predict import as_flat_batch
from pose3d_jax.model import interface

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
    original = interface.to_original_pixels(
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
    bone_sum = config_value(config, "eval.bone_sum_mm", None)
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
        batch = as_flat_batch(batch)
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


def config_value(config, path, default):
    """config[path] for a dotted path (None config or a missing key: default)."""
    node = config
    for part in path.split("."):
        if node is None or part not in node:
            return default
        node = node[part]
    return node
