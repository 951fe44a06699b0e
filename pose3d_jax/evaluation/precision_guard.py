"""The accuracy guard of a reduced CPU precision (bf16, int8) against fp32.

A precision passes when, on a trained model scored by the paper's protocols, its
H36M MPJPE is within MPJPE_REL_TOLERANCE of fp32's (relative) and its MPII PCKh
within PCKH_POINTS_TOLERANCE points, and when on real frames run by the paper-size
network at most MOVED_SHARE_TOLERANCE of the joints have their heatmap maximum moved
by more than MOVE_PIXELS heatmap pixels. What it measured and why it failed are kept
in the verdict, so `auto` can skip a failing precision and say why when asked for.
"""

import dataclasses
from pathlib import Path

import numpy as np

from pose3d_jax import skeleton

MPJPE_REL_TOLERANCE = 0.01
PCKH_POINTS_TOLERANCE = 0.5
MOVED_SHARE_TOLERANCE = 0.01
MOVE_PIXELS = 1.0
PEAKED_MARGIN = 0.05  # a maximum 5% above the map's best value beyond one pixel
MIN_PEAKED_SHARE = 0.5  # fewer peaked joints: flat maps (untrained), the check says nothing


@dataclasses.dataclass(frozen=True)
class Verdict:
    precision: str
    passed: bool
    reasons: tuple
    measured: dict

    def to_dict(self) -> dict:
        return {"precision": self.precision, "passed": self.passed,
                "reasons": list(self.reasons), "measured": self.measured}  # fmt: skip


def heatmap_peaks(heatmaps) -> np.ndarray:
    """[..., J, 2] (x, y) integer position of each joint's heatmap maximum [..., H, W, J]."""
    heatmaps = np.asarray(heatmaps)
    height, width, joints = heatmaps.shape[-3:]
    flat = heatmaps.reshape(*heatmaps.shape[:-3], height * width, joints)
    index = np.argmax(flat, axis=-2)
    return np.stack([index % width, index // width], axis=-1).astype(np.float64)


def moved_share(reference_heatmaps, candidate_heatmaps, pixels=MOVE_PIXELS) -> float:
    """Share of (crop, joint) pairs whose maximum moves by more than `pixels`."""
    moved = np.linalg.norm(
        heatmap_peaks(candidate_heatmaps) - heatmap_peaks(reference_heatmaps), axis=-1
    )
    return float(np.mean(moved > pixels))


def peak_margins(heatmaps) -> np.ndarray:
    """[..., J] how far each maximum stands above the heatmap's best value more than one
    pixel away, relative to the maximum: near 0 on an untrained network's flat maps
    (any rounding moves their maxima), large on a trained one's peaks."""
    heatmaps = np.asarray(heatmaps, np.float64)
    height, width = heatmaps.shape[-3:-1]
    peaks = heatmap_peaks(heatmaps)
    ys, xs = np.mgrid[0:height, 0:width]
    near = (np.abs(xs[..., None] - peaks[..., None, None, :, 0]) <= 1) & (
        np.abs(ys[..., None] - peaks[..., None, None, :, 1]) <= 1
    )
    top = heatmaps.max(axis=(-3, -2))
    runner_up = np.where(near, -np.inf, heatmaps).max(axis=(-3, -2))
    return (top - runner_up) / np.maximum(np.abs(top), 1e-12)


def metric_reasons(reference: dict, candidate: dict) -> list[str]:
    """Why `candidate`'s metrics ({'mpjpe_mm', 'pckh'}, evaluate's headline) fail."""
    reasons = []
    if "mpjpe_mm" in reference:
        limit = reference["mpjpe_mm"] * (1 + MPJPE_REL_TOLERANCE)
        if candidate["mpjpe_mm"] > limit:
            reasons.append(
                f"MPJPE {candidate['mpjpe_mm']:.2f} mm against fp32's "
                f"{reference['mpjpe_mm']:.2f} (more than {MPJPE_REL_TOLERANCE:.0%} worse)"
            )
    if "pckh" in reference and candidate["pckh"] < reference["pckh"] - PCKH_POINTS_TOLERANCE:
        reasons.append(
            f"PCKh {candidate['pckh']:.2f} against fp32's {reference['pckh']:.2f} "
            f"(more than {PCKH_POINTS_TOLERANCE} points lower)"
        )
    return reasons


def frames_moved(reference_heatmaps, candidate_heatmaps) -> dict:
    """The frames check: the share of maxima moved, over all joints and over the joints
    whose fp32 maximum is a peak (margin > PEAKED_MARGIN); `applicable` when at least
    MIN_PEAKED_SHARE of them are (a trained network's maps), and then `moved_share` is
    the share among the peaked ones (on a trained network nearly all of them)."""
    margins = peak_margins(reference_heatmaps)
    peaked = margins > PEAKED_MARGIN
    shifts = np.linalg.norm(
        heatmap_peaks(candidate_heatmaps) - heatmap_peaks(reference_heatmaps), axis=-1
    )
    moved = shifts > MOVE_PIXELS
    return {
        "moved_share_all_joints": float(moved.mean()),
        "peaked_share": float(peaked.mean()),
        "median_peak_margin": float(np.median(margins)),
        "moved_share": float(moved[peaked].mean()) if peaked.any() else None,
        "applicable": bool(peaked.mean() >= MIN_PEAKED_SHARE),
    }


def judge(precision, *, reference_metrics=None, candidate_metrics=None, frames=None) -> Verdict:
    """The verdict of `precision` from its metrics against fp32's (evaluate's headline
    keys) and its frames check (frames_moved); an inapplicable frames check is kept in
    `measured` but decides nothing."""
    reasons, measured = [], {}
    if reference_metrics is not None:
        reasons += metric_reasons(reference_metrics, candidate_metrics)
        measured["fp32"], measured[precision] = dict(reference_metrics), dict(candidate_metrics)
    if frames is not None:
        measured["frames"] = dict(frames)
    moved = frames["moved_share"] if frames is not None and frames["applicable"] else None
    if moved is not None:
        if moved > MOVED_SHARE_TOLERANCE:
            reasons.append(
                f"{moved:.1%} of the joints' heatmap maxima moved by more than "
                f"{MOVE_PIXELS:g} heatmap pixel (at most {MOVED_SHARE_TOLERANCE:.0%})"
            )
    if reference_metrics is None and moved is None:
        raise ValueError(
            "the guard needs the metrics against fp32 or an applicable frames check (a "
            "trained network's heatmaps): it has neither."
        )
    return Verdict(precision, not reasons, tuple(reasons), measured)


def frames_check(export_path, frames_crops, precisions, calibration_crops=None) -> dict:
    """frames_moved of each precision against OpenVINO fp32 on crops [N, R, R, 3]."""
    from pose3d_jax.inference.openvino_engine import OpenVinoEngine

    reference = OpenVinoEngine(export_path, precision="fp32")(frames_crops)["heatmaps"]
    out = {}
    for precision in precisions:
        engine = OpenVinoEngine(
            export_path, precision=precision, calibration_crops=calibration_crops
        )
        out[precision] = frames_moved(reference, engine(frames_crops)["heatmaps"])
    return out


def demo_calibration_frames(demo_data, limit=300) -> list[Path]:
    """int8's calibration frames for the demo checkpoint: `make demo`'s synthetic H36M
    frames of its first training subject (it is scored on the test subjects), frames
    like the ones it runs, as the README asks of users' calibration sets; real photos
    are not its domain."""
    subject = skeleton.H36M_TRAIN_SUBJECTS[0]
    images = Path(demo_data) / "raw" / "h36m" / "images"
    frames = sorted(images.glob(f"s_{subject:02d}_*/*.jpg"))
    return frames[:: max(1, len(frames) // limit)][:limit]


def demo_check(precisions, config, checkpoint_dir, calibration=None) -> tuple[dict, dict]:
    """(fp32's metrics, {precision: metrics}) of a trained checkpoint by the protocols
    (H36M MPJPE and PA-MPJPE, MPII PCKh) on OpenVINO; `config` says where its shards
    are; int8 is calibrated on `calibration` (demo_calibration_frames for the demo)."""
    from pose3d_jax.evaluation import run as evaluation_run

    def scored(precision):
        results = evaluation_run.run(
            config, checkpoint_dir, ("h36m", "mpii"), backend="openvino", precision=precision,
            calibration=calibration if precision == "int8" else None,
        )  # fmt: skip
        line = evaluation_run.headline(results)
        return {"mpjpe_mm": line["mpjpe_mm"], "pa_mpjpe_mm": line["pa_mpjpe_mm"],
                "pckh": line["pck"]}  # fmt: skip

    return scored("fp32"), {p: scored(p) for p in precisions}
