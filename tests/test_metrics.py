"""The evaluation protocols (SPEC 6): known answers, invariances, the real MPII labels."""

import h5py
import numpy as np
import pytest

from pose3d_jax import skeleton
from pose3d_jax.evaluation import metrics

RNG = np.random.default_rng(0)


def _rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _poses(batch, rng=RNG, thorax_between=True):
    """Random GT poses (mm) around 4 m depth; the thorax on the pelvis-neck midpoint."""
    poses = rng.normal(0.0, 250.0, (batch, 16, 3)) + np.array([0.0, 0.0, 4000.0])
    if thorax_between:
        poses[:, 7] = 0.5 * (poses[:, 6] + poses[:, 8])
    return poses


def _bone_sum(pose):
    return sum(np.linalg.norm(pose[a] - pose[b]) for a, b in skeleton.BONES)


# --------------------------------------------------------------- reference implementations
# Written as the original Torch7 evaluation loops (per sample, per joint), independently
# of the vectorised code under test.


def _reference_h36m(pred, gt):
    errors = []
    for p, g in zip(pred, gt, strict=True):
        factor = skeleton.MEAN_SKELETON_BONE_SUM_MM / _bone_sum(p)
        q = [(p[j] - p[6]) * factor + g[6] for j in range(16)]
        q[7] = (q[6] + q[8]) / 2
        errors.append(np.mean([np.linalg.norm(q[j] - g[j]) for j in range(16)]))
    return np.array(errors)


def _reference_3dhp_errors(pred, gt):
    out = []
    for p, g in zip(pred, gt, strict=True):
        p = p.copy()
        shift = (p[8] - p[6]) * 0.2
        p[6], p[2], p[3] = p[6] + shift, p[2] + shift, p[3] + shift
        p[7] = p[6] + (p[8] - p[6]) / 2
        scale = _bone_sum(p) / _bone_sum(g)
        q = [(p[j] - p[6]) / scale + g[6] for j in range(16)]
        out.append([np.linalg.norm(q[j] - g[j]) for j in range(16) if j not in (6, 7)])
    return np.array(out)


# --------------------------------------------------------------- Human3.6M


def _to_heatmap_units(gt_mm, k=0.02, offset=(30.0, 28.0, 33.0)):
    """A perfect prediction expressed in heatmap units (any similarity without rotation)."""
    return gt_mm * k + np.asarray(offset)


def test_h36m_perfect_prediction_scores_zero():
    gt = _poses(5)
    gt = (gt - gt[:, 6:7]) * (
        skeleton.MEAN_SKELETON_BONE_SUM_MM / skeleton.bone_lengths(gt).sum(-1)
    )[:, None, None] + gt[:, 6:7]
    totals = metrics.h36m_totals(_to_heatmap_units(gt), gt, np.arange(2, 7))
    result = metrics.summarize_h36m(totals)
    assert result["mpjpe"]["All"] == pytest.approx(0.0, abs=1e-6)
    assert result["pa_mpjpe"]["All"] == pytest.approx(0.0, abs=1e-6)
    assert result["num_samples"] == 5


def test_h36m_rescales_to_the_mean_skeleton():
    """A person twice the mean skeleton: the prediction is shrunk to the mean, so every
    joint lands halfway between the pelvis and its true place."""
    gt = _poses(4)
    gt_rel = gt - gt[:, 6:7]
    factor = 2 * skeleton.MEAN_SKELETON_BONE_SUM_MM / skeleton.bone_lengths(gt).sum(-1)
    gt = gt_rel * factor[:, None, None] + gt[:, 6:7]
    expected = np.linalg.norm(gt - gt[:, 6:7], axis=-1).mean(-1) / 2
    pred_mm = metrics.h36m_prediction_mm(_to_heatmap_units(gt), gt)
    np.testing.assert_allclose(metrics.mpjpe(pred_mm, gt), expected, rtol=1e-9)
    assert skeleton.bone_lengths(pred_mm).sum(-1) == pytest.approx(
        skeleton.MEAN_SKELETON_BONE_SUM_MM
    )
    np.testing.assert_allclose(metrics.pa_mpjpe(pred_mm, gt), 0.0, atol=1e-6)


def test_h36m_matches_the_original_loop_on_random_poses():
    pred, gt = _poses(6, thorax_between=False) * 0.01, _poses(6, thorax_between=False)
    pred_mm = metrics.h36m_prediction_mm(pred, gt)
    np.testing.assert_allclose(metrics.mpjpe(pred_mm, gt), _reference_h36m(pred, gt), rtol=1e-9)


def test_h36m_thorax_is_replaced_by_the_pelvis_neck_midpoint():
    pred = _poses(2, thorax_between=False) * 0.01
    pred[:, 7] += 1000.0  # a wild thorax must not matter
    pred_mm = metrics.h36m_prediction_mm(pred, _poses(2))
    np.testing.assert_allclose(pred_mm[:, 7], 0.5 * (pred_mm[:, 6] + pred_mm[:, 8]))


def test_h36m_totals_per_action_merge_and_mask():
    gt, pred = _poses(6), _poses(6) * 0.01
    actions = np.array([2, 2, 3, 14, 14, 14])
    mask = np.array([True, True, True, True, True, False])
    whole = metrics.h36m_totals(pred, gt, actions, mask)
    merged = metrics.merge_totals(
        metrics.h36m_totals(pred[:3], gt[:3], actions[:3], mask[:3]),
        metrics.h36m_totals(pred[3:], gt[3:], actions[3:], mask[3:]),
    )
    errors = _reference_h36m(pred, gt)
    for totals in (whole, merged):
        result = metrics.summarize_h36m(totals)
        assert result["num_samples"] == 5
        assert result["mpjpe"]["Directions"] == pytest.approx(errors[:2].mean())
        assert result["mpjpe"]["Discussion"] == pytest.approx(errors[2])
        assert result["mpjpe"]["Walking"] == pytest.approx(errors[3:5].mean())
        assert result["mpjpe"]["All"] == pytest.approx(errors[:5].mean())
        assert result["mpjpe"]["Mean of actions"] == pytest.approx(
            np.mean([errors[:2].mean(), errors[2], errors[3:5].mean()])
        )
        assert "Eating" not in result["mpjpe"]


# --------------------------------------------------------------- Procrustes


def test_pa_mpjpe_is_invariant_to_rotation_scale_and_translation_of_the_prediction():
    rng = np.random.default_rng(1)
    gt, pred = _poses(4, rng), _poses(4, rng)
    base = metrics.pa_mpjpe(pred, gt)
    moved = np.stack([2.7 * p @ _rotation(rng).T + rng.normal(0, 500, 3) for p in pred])
    np.testing.assert_allclose(metrics.pa_mpjpe(moved, gt), base, rtol=1e-7)
    assert np.all(base > 1.0)
    exact = np.stack([0.3 * g @ _rotation(rng).T + 10.0 for g in gt])
    np.testing.assert_allclose(metrics.pa_mpjpe(exact, gt), 0.0, atol=1e-6)


def test_procrustes_does_not_reflect():
    gt = _poses(3)
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    assert np.all(metrics.pa_mpjpe(mirrored, gt) > 1.0)


# --------------------------------------------------------------- MPI-INF-3DHP


def _perfect_3dhp_prediction(gt):
    """The prediction whose protocol-adjusted version equals `gt` (the moves undone)."""
    pred = gt.copy()
    k = metrics.MPI_INF_3DHP_HIP_SHIFT
    pred[:, 6] = (gt[:, 6] - k * gt[:, 8]) / (1 - k)
    shift = k * (gt[:, 8] - pred[:, 6])
    pred[:, 2] = gt[:, 2] - shift
    pred[:, 3] = gt[:, 3] - shift
    return _to_heatmap_units(pred)


def test_3dhp_perfect_prediction_scores_full_pck():
    gt = _poses(6)
    totals = metrics.mpi_inf_3dhp_totals(
        _perfect_3dhp_prediction(gt), gt, np.ones(6), np.arange(1, 7)
    )
    result = metrics.summarize_mpi_inf_3dhp(totals)
    assert result["scene"]["pck"]["All"] == pytest.approx(100.0)
    # Strictly-below thresholds: nothing is closer than 0 mm.
    assert result["scene"]["auc"]["All"] == pytest.approx(100.0 * 30 / 31)
    assert result["num_frames"] == 6


def test_3dhp_matches_the_original_loop_and_known_distances():
    rng = np.random.default_rng(2)
    gt = _poses(8, rng, thorax_between=False)
    pred = gt * 0.013 + rng.normal(0, 1.0, gt.shape)
    errors = _reference_3dhp_errors(pred, gt)
    hits = metrics.pck_hits(metrics.mpi_inf_3dhp_prediction_mm(pred, gt), gt)
    expected = (errors[:, :, None] < metrics.AUC_THRESHOLDS_MM).sum(axis=1)
    np.testing.assert_array_equal(hits, expected)
    assert 0 < hits[:, -1].sum() < 8 * 14  # the case is not trivial


def test_3dhp_groups_pool_frames():
    rng = np.random.default_rng(3)
    gt = _poses(10, rng)
    pred = _perfect_3dhp_prediction(gt)
    pred[5:] += rng.normal(0, 200, pred[5:].shape) * 0.02  # frames 5.. are bad
    sequence = np.array([1, 1, 1, 2, 3, 3, 5, 5, 6, 6])
    activity = np.array([1, 2, 3, 4, 5, 6, 7, 1, 2, 3])
    totals = metrics.mpi_inf_3dhp_totals(pred, gt, activity, sequence)
    result = metrics.summarize_mpi_inf_3dhp(totals)
    pck_frame = metrics.pck_hits(metrics.mpi_inf_3dhp_prediction_mm(pred, gt), gt)[:, -1] / 14
    assert result["scene"]["pck"]["GS"] == pytest.approx(100 * pck_frame[:4].mean())
    assert result["scene"]["pck"]["noGS"] == pytest.approx(100 * pck_frame[4:6].mean())
    assert result["scene"]["pck"]["Outdoor"] == pytest.approx(100 * pck_frame[6:].mean())
    assert result["scene"]["pck"]["All"] == pytest.approx(100 * pck_frame.mean())
    assert result["sequence"]["pck"]["TS1"] == pytest.approx(100 * pck_frame[:3].mean())
    assert "TS4" not in result["sequence"]["pck"]
    stand = metrics.MPI_INF_3DHP_ACTIVITIES[1]
    assert result["activity"]["pck"][stand] == pytest.approx(100 * pck_frame[[0, 7]].mean())


# --------------------------------------------------------------- MPII PCKh


def test_pckh_groups_and_mean_by_hand():
    gt = np.zeros((2, 16, 2))
    pred = gt.copy()
    pred[0, skeleton.JOINT_INDEX["left_wrist"]] = [6.0, 0.0]  # 0.6 head sizes: a miss
    visible = np.ones((2, 16), bool)
    visible[1, skeleton.JOINT_INDEX["right_wrist"]] = False
    totals = metrics.mpii_totals(pred, gt, np.array([10.0, 10.0]), visible)
    result = metrics.summarize_mpii(totals)["pckh"]
    assert result["wrist"] == pytest.approx((100.0 + 50.0) / 2)  # right 1/1, left 1/2
    assert result["head"] == 100.0
    assert result["Mean"] == pytest.approx(100.0 * (27 - 1) / 27)


@pytest.fixture
def mpii_valid(shared_data):
    path = shared_data / "mpii_valid.h5"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with h5py.File(path, "r") as f:
        part, normalize = f["part"][:], f["normalize"][:]
    annotated = np.any(part > 0, axis=-1)  # the release marks a missing joint with (0, 0)
    return part, normalize, annotated


def test_pckh_on_the_real_mpii_validation_labels(mpii_valid):
    part, normalize, annotated = mpii_valid
    assert len(part) == 2958

    def score(pred):
        return metrics.summarize_mpii(metrics.mpii_totals(pred, part, normalize, annotated))

    perfect = score(part)
    assert perfect["pckh"]["Mean"] == 100.0
    assert all(v == 100.0 for v in perfect["pckh"].values())
    assert perfect["num_joints"] == annotated[:, list(skeleton.PCKH_MEAN_JOINTS)].sum()
    direction = RNG.normal(size=part.shape)
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    near = score(part + 0.4 * normalize[:, None, None] * direction)
    far = score(part + 0.6 * normalize[:, None, None] * direction)
    assert all(v == 100.0 for v in near["pckh"].values())
    assert all(v == 0.0 for v in far["pckh"].values())


def test_h36m_totals_ignore_non_finite_padding_rows():
    """A padding row's outputs (a blank image through the network) can be inf or NaN;
    PA-MPJPE's SVD must not see them, and the scores are those of the real rows."""
    gt, pred = _poses(4), _poses(4) * 0.01
    pred[3] = np.inf
    pred[2, 0] = np.nan
    actions = np.array([2, 3, 14, 14])
    mask = np.array([True, True, False, False])
    result = metrics.summarize_h36m(metrics.h36m_totals(pred, gt, actions, mask))
    expected = metrics.summarize_h36m(metrics.h36m_totals(pred[:2], gt[:2], actions[:2]))
    assert result == expected
    assert result["num_samples"] == 2 and np.isfinite(result["pa_mpjpe"]["All"])
