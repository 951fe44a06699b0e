"""The paper's evaluation protocols (SPEC 6) as pure NumPy functions.

Each protocol has two halves so that batches, devices and hosts can be summed:
`*_totals(...)` turns one batch into a dict of (sum, count) pairs (scenic's
style; a sum may be a vector, e.g. hits per PCK threshold), `merge_totals`
adds two such dicts, and `summarize_*` divides at the end. Padding rows of a
batch are left out through an explicit bool `mask`.

Predictions come in as the network's 3D output in heatmap units, (x, y) decoded
and z = (depth + 1) * res / 2 (geometry.joints_3d_from_outputs), or as 2D
joints in original-image pixels for MPII.
"""

import numpy as np

from pose3d_jax import geometry, skeleton

PCK_THRESHOLD_MM = 150.0
# The 31 thresholds 0, 5, ..., 150 mm of MPI-INF-3DHP's AUC.
AUC_THRESHOLDS_MM = np.arange(0.0, PCK_THRESHOLD_MM + 1.0, 5.0)
PCKH_THRESHOLD = 0.5
# The 14 joints scored by 3D PCK: all but pelvis and thorax, whose definitions differ between
# datasets.
PCK_JOINTS = skeleton.PCKH_MEAN_JOINTS
# How far the network's pelvis and hips move toward the neck to meet MPI-INF-3DHP's skeleton.
MPI_INF_3DHP_HIP_SHIFT = 0.2

# activity_annotation 1..7 of the MPI-INF-3DHP test set, named as its evaluation script does.
MPI_INF_3DHP_ACTIVITIES = {
    1: "Stand/Walk",
    2: "Exercise",
    3: "Sit on Chair",
    4: "Crouch/Reach",
    5: "On the Floor",
    6: "Sports",
    7: "Misc.",
}
# Scenes of the test sequences TS1..TS6 (the dataset's own report).
MPI_INF_3DHP_SCENES = {"GS": (1, 2), "noGS": (3, 4), "Outdoor": (5, 6)}
ALL = "All"


# ---------------------------------------------------------------- accumulation


def merge_totals(a: dict, b: dict) -> dict:
    """Adds two dicts of (sum, count) pairs key by key (keys of either)."""
    out = dict(a)
    for key, (total, count) in b.items():
        if key in out:
            out[key] = (out[key][0] + total, out[key][1] + count)
        else:
            out[key] = (total, count)
    return out


def _group_totals(values, groups, mask, prefix):
    """(sum, count) of `values` [B, ...] per group id, plus the 'All' group."""
    values, groups, mask = np.asarray(values, np.float64), np.asarray(groups), np.asarray(mask)
    out = {f"{prefix}/{ALL}": (values[mask].sum(axis=0), int(mask.sum()))}
    for gid in np.unique(groups[mask]):
        rows = mask & (groups == gid)
        out[f"{prefix}/{gid}"] = (values[rows].sum(axis=0), int(rows.sum()))
    return out


def _mask(mask, batch_size):
    return np.ones(batch_size, bool) if mask is None else np.asarray(mask, bool)


def _ratio(pair):
    total, count = pair
    return np.asarray(total, np.float64) / max(count, 1)


# ---------------------------------------------------------------- 3D error measures


def mpjpe(pred, gt):
    """Mean per-joint Euclidean error [B] of poses [B, J, 3] (units of the input)."""
    return np.linalg.norm(np.asarray(pred) - np.asarray(gt), axis=-1).mean(axis=-1)


def procrustes_align(pred, gt):
    """`pred` [B, J, 3] moved onto `gt` by the best similarity transform.

    Scale, rotation and translation minimising the squared error (Umeyama),
    with the rotation kept proper (no reflection), one per sample.
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    mu_p, mu_g = pred.mean(axis=-2, keepdims=True), gt.mean(axis=-2, keepdims=True)
    p, g = pred - mu_p, gt - mu_g
    cov = np.einsum("bji,bjk->bik", p, g)  # sum_j p_j g_j^T
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(np.einsum("bij,bjk->bik", u, vt)))
    d = np.where(d == 0, 1.0, d)
    fix = np.ones_like(s)
    fix[:, -1] = d
    rotation = np.einsum("bij,bj,bjk->bik", u, fix, vt)  # p @ rotation ~ g
    norm_p = np.maximum(np.sum(p**2, axis=(-2, -1)), 1e-12)
    scale = np.sum(s * fix, axis=-1) / norm_p
    return scale[:, None, None] * np.einsum("bji,bik->bjk", p, rotation) + mu_g


def pa_mpjpe(pred, gt):
    """MPJPE [B] after Procrustes alignment of the prediction onto the ground truth."""
    return mpjpe(procrustes_align(pred, gt), gt)


# ---------------------------------------------------------------- Human3.6M


def h36m_prediction_mm(pred_hm, gt_mm, bone_sum_mm=skeleton.MEAN_SKELETON_BONE_SUM_MM):
    """The prediction in mm as the H36M protocol scores it (SPEC 6).

    Root-relative at the predicted pelvis, scaled so its 14 bones sum to the
    training set's mean skeleton (`bone_sum_mm`: H36M's by default; another
    training set, such as the synthetic one, has its own), placed at the
    ground-truth pelvis, and with
    the thorax (whose definition differs between MPII and H36M) set to the
    mean of pelvis and upper neck.

    Args:
      pred_hm: [B, 16, 3] predicted joints in heatmap units.
      gt_mm: [B, 16, 3] ground truth in camera coordinates (mm), our joint order.
    Returns:
      [B, 16, 3] prediction in mm.
    """
    root = skeleton.EVAL_ROOT
    gt_mm = np.asarray(gt_mm, np.float64)
    pred = geometry.scale_to_bone_sum(np.asarray(pred_hm, np.float64), bone_sum_mm, root=root)
    pred = pred + gt_mm[:, root : root + 1]
    pred[:, skeleton.THORAX] = 0.5 * (pred[:, root] + pred[:, skeleton.UPPER_NECK])
    return pred


def h36m_totals(pred_hm, gt_mm, action, mask=None, bone_sum_mm=skeleton.MEAN_SKELETON_BONE_SUM_MM):
    """(sum, count) of MPJPE and PA-MPJPE (mm) per action name and over all samples.

    PA-MPJPE aligns the protocol's prediction (h36m_prediction_mm) onto the
    ground truth by the best similarity transform before measuring.

    Args:
      pred_hm: [B, 16, 3] predicted joints in heatmap units.
      gt_mm: [B, 16, 3] ground truth (mm).
      action: [B] H36M action ids (2..16).
      mask: optional [B] bool, False for padding rows.
      bone_sum_mm: the training skeleton's bone sum (see h36m_prediction_mm).
    Returns:
      {'mpjpe/<Action>' | 'mpjpe/All' | 'pa_mpjpe/...': (sum_mm, num_samples)}.
    """
    # Padding rows are dropped before scoring: their outputs (of blank images) may
    # be non-finite, and the Procrustes SVD fails on a single non-finite row.
    keep = _mask(mask, len(gt_mm))
    pred_hm, gt_mm, action = (np.asarray(a)[keep] for a in (pred_hm, gt_mm, action))
    mask = np.ones(len(gt_mm), bool)
    pred = h36m_prediction_mm(pred_hm, gt_mm, bone_sum_mm)
    names = np.array([skeleton.H36M_ACTIONS.get(int(a), str(int(a))) for a in action])
    out = _group_totals(mpjpe(pred, gt_mm), names, mask, "mpjpe")
    out.update(_group_totals(pa_mpjpe(pred, gt_mm), names, mask, "pa_mpjpe"))
    return out


def summarize_h36m(totals):
    """MPJPE and PA-MPJPE in mm per action (in id order), 'All' (mean over samples)
    and 'Mean of actions'; plus the sample count."""
    result = {"num_samples": int(totals.get(f"mpjpe/{ALL}", (0, 0))[1])}
    for metric in ("mpjpe", "pa_mpjpe"):
        row = {}
        for name in skeleton.H36M_ACTIONS.values():
            if f"{metric}/{name}" in totals:
                row[name] = float(_ratio(totals[f"{metric}/{name}"]))
        if row:
            row["Mean of actions"] = float(np.mean(list(row.values())))
        if f"{metric}/{ALL}" in totals:
            row[ALL] = float(_ratio(totals[f"{metric}/{ALL}"]))
        result[metric] = row
    return result


# ---------------------------------------------------------------- MPI-INF-3DHP


def mpi_inf_3dhp_prediction_mm(pred_hm, gt_mm):
    """The prediction in mm as the MPI-INF-3DHP protocol scores it (SPEC 6).

    Reading of SPEC 6, confirmed by the original Torch7 evaluation code: the
    joint moves apply to the PREDICTION only (they adapt the network's MPII /
    H36M-style pelvis and hips to 3DHP's universal skeleton); the ground truth
    is used as given. Pelvis, right hip and left hip move by 0.2 of (upper
    neck - pelvis), measured before the move; the thorax is then set halfway
    between the moved pelvis and the upper neck; the prediction is scaled about
    its pelvis so its 14 bones sum to the ground truth's, and put on the
    ground-truth pelvis.

    Args:
      pred_hm: [B, 16, 3] predicted joints in heatmap units.
      gt_mm: [B, 16, 3] ground truth (univ_annot3 in our order, mm).
    Returns:
      [B, 16, 3] prediction in mm.
    """
    root, neck = skeleton.EVAL_ROOT, skeleton.UPPER_NECK
    pred = np.array(pred_hm, np.float64)
    gt_mm = np.asarray(gt_mm, np.float64)
    shift = MPI_INF_3DHP_HIP_SHIFT * (pred[:, neck] - pred[:, root])
    for joint in (root, skeleton.RIGHT_HIP, skeleton.LEFT_HIP):
        pred[:, joint] += shift
    pred[:, skeleton.THORAX] = 0.5 * (pred[:, root] + pred[:, neck])
    gt_sum = skeleton.bone_lengths(gt_mm).sum(axis=-1)
    pred = geometry.scale_to_bone_sum(pred, gt_sum, root=root)
    return pred + gt_mm[:, root : root + 1]


def pck_hits(pred_mm, gt_mm, thresholds=AUC_THRESHOLDS_MM):
    """Number of PCK joints [B, T] closer than each threshold.

    Strictly closer, as the dataset's mpii_compute_3d_pck.m counts; so nothing
    passes the 0 mm threshold and a perfect prediction has AUC 30/31 = 96.8 %.
    """
    dist = np.linalg.norm(np.asarray(pred_mm) - np.asarray(gt_mm), axis=-1)[:, PCK_JOINTS]
    return np.sum(dist[:, :, None] < np.asarray(thresholds)[None, None, :], axis=1)


def mpi_inf_3dhp_totals(pred_hm, gt_mm, activity, sequence, mask=None):
    """(hits per threshold, joint count) per activity, sequence, scene and overall.

    Groups pool their frames, so scenes and 'All' are weighted by valid frame
    counts as in the dataset's report.

    Args:
      pred_hm: [B, 16, 3] predicted joints in heatmap units.
      gt_mm: [B, 16, 3] ground truth (mm).
      activity: [B] activity ids 1..7.
      sequence: [B] test sequence 1..6 (TS1..TS6).
      mask: optional [B] bool, False for padding rows.
    Returns:
      {'activity/<name>' | 'sequence/TS<k>' | 'scene/<name>' | 'scene/All': (hits [31], joints)}.
    """
    mask = _mask(mask, len(gt_mm))
    hits = pck_hits(mpi_inf_3dhp_prediction_mm(pred_hm, gt_mm), gt_mm)
    joints = len(PCK_JOINTS)
    sequence = np.asarray(sequence).astype(int)
    activity_names = np.array(
        [MPI_INF_3DHP_ACTIVITIES.get(int(a), str(int(a))) for a in np.asarray(activity)]
    )
    scene_of = {ts: name for name, seqs in MPI_INF_3DHP_SCENES.items() for ts in seqs}
    scenes = np.array([scene_of.get(int(s), "other") for s in sequence])
    out = {}
    for prefix, groups in (
        ("activity", activity_names),
        ("sequence", np.array([f"TS{s}" for s in sequence])),
        ("scene", scenes),
    ):
        for key, (total, frames) in _group_totals(hits, groups, mask, prefix).items():
            if key.endswith(f"/{ALL}") and prefix != "scene":
                continue
            out[key] = (total, frames * joints)
    return out


def summarize_mpi_inf_3dhp(totals):
    """PCK@150mm and AUC (both %) per activity, sequence, scene and 'All'."""
    result = {"num_frames": int(totals.get(f"scene/{ALL}", (0, 0))[1]) // len(PCK_JOINTS)}
    order = {
        "activity": list(MPI_INF_3DHP_ACTIVITIES.values()),
        "sequence": [f"TS{k}" for k in range(1, 7)],
        "scene": [*MPI_INF_3DHP_SCENES, ALL],
    }
    for prefix, names in order.items():
        pck, auc = {}, {}
        for name in names:
            if f"{prefix}/{name}" in totals:
                curve = 100.0 * _ratio(totals[f"{prefix}/{name}"])
                pck[name] = float(curve[-1])
                auc[name] = float(curve.mean())
        result[prefix] = {"pck": pck, "auc": auc}
    return result


# ---------------------------------------------------------------- MPII


def pckh_hits(pred_px, gt_px, normalize, visible, threshold=PCKH_THRESHOLD):
    """Per-joint PCKh hits and counts [B, 16] in original image pixels.

    A joint counts when `visible` (the annotation's mask) is set; it is a hit
    when its distance divided by `normalize` (the head size) is <= threshold.
    """
    dist = np.linalg.norm(np.asarray(pred_px, np.float64) - np.asarray(gt_px), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):  # padding rows have normalize 0
        scaled = dist / np.asarray(normalize, np.float64)[:, None]
    counted = np.asarray(visible, bool)
    return (scaled <= threshold) & counted, counted


def mpii_totals(pred_px, gt_px, normalize, visible, mask=None, threshold=PCKH_THRESHOLD):
    """(hits [16], counts [16]) of PCKh over one batch (see pckh_hits)."""
    mask = _mask(mask, len(gt_px))
    hits, counted = pckh_hits(pred_px, gt_px, normalize, visible, threshold)
    return {"pckh": (hits[mask].sum(axis=0), counted[mask].sum(axis=0))}


def summarize_mpii(totals):
    """PCKh (%) per joint group and 'Mean', as the standard MPII script reports them.

    A group averages its joints' PCKh (left and right); 'Mean' pools every
    joint but pelvis and thorax, weighted by how often each is annotated.
    """
    hits, counts = (np.asarray(x, np.float64) for x in totals["pckh"])
    per_joint = 100.0 * hits / np.maximum(counts, 1)
    result = {
        name: float(per_joint[list(joints)].mean()) for name, joints in skeleton.PCKH_GROUPS.items()
    }
    mean = list(skeleton.PCKH_MEAN_JOINTS)
    result["Mean"] = float(100.0 * hits[mean].sum() / max(counts[mean].sum(), 1))
    return {"pckh": result, "num_joints": int(counts[mean].sum())}
