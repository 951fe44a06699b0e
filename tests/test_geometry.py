"""Crop maps, heatmap rendering/decoding, the H36M targets and the warp (SPEC 3, 6)."""

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pose3d_jax import geometry, skeleton


def test_crop_matrix_matches_spec_by_hand():
    # Box side 200 * 2 = 400 px mapped to 100 px: factor 1/4; centre -> (50, 50).
    m = geometry.crop_matrix([300.0, 200.0], 2.0, 100)
    pts = geometry.apply_affine(m, np.array([[300.0, 200.0], [340.0, 180.0]]))
    np.testing.assert_allclose(pts, [[50.0, 50.0], [60.0, 45.0]], atol=1e-5)


def test_rotation_is_about_the_crop_centre_counter_clockwise():
    m = geometry.crop_matrix([0.0, 0.0], 1.0, 200, rotation_deg=90.0)
    # A point right of the centre moves up the picture (y decreases).
    pt = geometry.apply_affine(m, np.array([[10.0, 0.0]]))
    np.testing.assert_allclose(pt, [[100.0, 90.0]], atol=1e-4)


@pytest.mark.parametrize("xp", [np, jnp])
def test_crop_then_inverse_returns_the_point(xp):
    rng = np.random.default_rng(0)
    for _ in range(20):
        center = rng.uniform(0, 1000, 2)
        scale = rng.uniform(0.3, 5)
        rot = rng.uniform(-60, 60)
        m = geometry.crop_matrix(center, scale, 256, rot, xp=xp)
        pts = rng.uniform(0, 1000, (16, 2))
        back = geometry.apply_affine(
            geometry.invert_affine(m, xp=xp), geometry.apply_affine(m, pts, xp=xp), xp=xp
        )
        np.testing.assert_allclose(np.asarray(back), pts, atol=1e-4 * 1000 / 1)


def test_crop_then_inverse_within_1e4_px_in_float64():
    m = geometry.crop_matrix(np.array([412.5, 233.25]), 1.7, 256, 23.0)
    m64 = np.asarray(m, np.float64)
    pts = np.array([[400.0, 250.0], [12.3, 99.9]])
    back = geometry.apply_affine(geometry.invert_affine(m64), geometry.apply_affine(m64, pts))
    np.testing.assert_allclose(back, pts, atol=1e-4)


def test_rotation_then_inverse_rotation_is_identity():
    center, scale, res = np.array([300.0, 180.0]), 1.3, 256
    rotated = np.asarray(geometry.crop_matrix(center, scale, res, 37.0), np.float64)
    straight = np.asarray(geometry.crop_matrix(center, scale, res, 0.0), np.float64)
    # Rotating the crop by -37 degrees about its centre (a pure rotation map).
    unrotate = np.asarray(geometry.crop_matrix([res / 2, res / 2], res / 200, res, -37.0))
    np.testing.assert_allclose(geometry.compose_affine(unrotate, rotated), straight, atol=1e-4)


def test_heatmap_is_a_unit_gaussian_with_7x7_support():
    hm = np.asarray(geometry.render_heatmaps(np.array([[10.3, 20.7]]), np.array([True]), 64))
    assert hm.shape == (64, 64, 1)
    assert hm[20, 10, 0] == pytest.approx(1.0)
    assert hm[20, 11, 0] == pytest.approx(np.exp(-0.5), rel=1e-6)
    assert hm[23, 13, 0] == pytest.approx(np.exp(-9.0), rel=1e-5)
    assert hm[24, 10, 0] == 0.0 and hm[20, 14, 0] == 0.0
    assert np.count_nonzero(hm) == 49


def test_invisible_joint_has_empty_heatmap():
    hm = geometry.render_heatmaps(np.array([[10.0, 10.0], [5.0, 5.0]]), np.array([True, False]), 64)
    assert float(jnp.max(hm[..., 1])) == 0.0


def test_subpixel_point_decodes_within_half_a_pixel():
    rng = np.random.default_rng(2)
    pts = rng.uniform(2, 62, (8, 16, 2)).astype(np.float32)
    hm = geometry.render_heatmaps(pts, np.ones((8, 16), bool), 64)
    decoded, maxvals = jax.jit(geometry.decode_heatmaps)(hm)
    assert decoded.shape == (8, 16, 2) and maxvals.shape == (8, 16)
    assert float(jnp.max(jnp.abs(decoded - pts))) <= 0.5


@pytest.mark.parametrize("xp", [np, jnp])
def test_decode_quarter_pixel_refinement_by_hand_in_numpy_and_jax(xp):
    hm = np.zeros((8, 8, 1), np.float32)
    hm[3, 4, 0] = 1.0
    hm[3, 5, 0] = 0.5  # right neighbour higher: +0.25 in x
    hm[2, 4, 0] = 0.2  # upper neighbour higher: -0.25 in y
    pts, maxval = geometry.decode_heatmaps(hm, xp)
    np.testing.assert_allclose(np.asarray(pts), [[4.75, 3.25]])
    assert float(maxval[0]) == 1.0 and np.asarray(pts).dtype == np.float32
    border = np.zeros((8, 8, 1), np.float32)
    border[0, 3, 0], border[0, 4, 0] = 1.0, 0.9
    np.testing.assert_allclose(np.asarray(geometry.decode_heatmaps(border, xp)[0]), [[3.5, 0.5]])


def test_joints_3d_from_outputs():
    pts = jnp.array([[10.0, 20.0]])
    out = geometry.joints_3d_from_outputs(pts, jnp.array([0.5]))
    np.testing.assert_allclose(np.asarray(out), [[10.0, 20.0, 48.0]])


def test_scale_to_bone_sum():
    joints = np.random.default_rng(4).normal(0, 1, (3, 16, 3))
    out = geometry.scale_to_bone_sum(joints, skeleton.MEAN_SKELETON_BONE_SUM_MM)
    np.testing.assert_allclose(out[:, skeleton.PELVIS], 0.0, atol=1e-9)
    sums = skeleton.bone_lengths(out).sum(-1)
    np.testing.assert_allclose(sums, skeleton.MEAN_SKELETON_BONE_SUM_MM, rtol=1e-9)


def test_warp_image_agrees_with_opencv_and_moves_points_like_apply_affine():
    rng = np.random.default_rng(5)
    image = rng.uniform(0, 255, (90, 120, 3)).astype(np.float32)
    m = np.asarray(geometry.crop_matrix([60.0, 45.0], 0.4, 64, 20.0), np.float64)
    ours = np.asarray(geometry.warp_image(jnp.asarray(image), jnp.asarray(m, jnp.float32), 64))
    cv = cv2.warpAffine(image, geometry.to_opencv_matrix(m), (64, 64), flags=cv2.INTER_LINEAR)
    inner = (slice(8, 56), slice(8, 56))  # away from the border handling
    assert np.abs(ours[inner] - cv[inner]).mean() < 0.5

    # A single bright pixel lands where apply_affine sends its centre.
    dot = np.zeros((90, 120, 1), np.float32)
    dot[40, 70, 0] = 1.0
    big = np.asarray(geometry.crop_matrix([60.0, 45.0], 0.9, 360, 0.0), np.float64)
    warped = np.asarray(geometry.warp_image(jnp.asarray(dot), jnp.asarray(big, jnp.float32), 360))
    y, x = np.unravel_index(np.argmax(warped[..., 0]), warped.shape[:2])
    expected = geometry.apply_affine(big, np.array([[70.5, 40.5]]))[0]
    assert abs(x + 0.5 - expected[0]) <= 1.0 and abs(y + 0.5 - expected[1]) <= 1.0
