"""On-device augmentation: targets agree with the warped image, flips swap sides,
rotations invert, a key reproduces a batch, and it runs under jit and pmap."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pose3d_jax import geometry, skeleton
from pose3d_jax.data import augment

STORED = 96  # small stand-ins for the 384 / 256 / 64 of the real configuration
INPUT = 64
HEATMAP = 16
BATCH = 16
STRIDE = INPUT / HEATMAP
SIZES = {"input_res": INPUT, "heatmap_res": HEATMAP}
LEFT_WRIST, RIGHT_WRIST = (skeleton.JOINT_INDEX[n] for n in ("left_wrist", "right_wrist"))


def smooth_image(rng, batch):
    """Low-frequency pictures (7x7 noise upsampled bilinearly), so that two
    bilinear warps nearly commute."""
    coarse = rng.uniform(0, 255, (batch, 7, 7, 3))
    t = np.linspace(0, 6, STORED)
    low = np.minimum(np.floor(t).astype(int), 5)
    wy, wx = (t - low)[:, None, None], (t - low)[:, None]  # weights along y and x
    rows = coarse[:, low] * (1 - wy) + coarse[:, low + 1] * wy  # [B, STORED, 7, 3]
    image = rows[:, :, low] * (1 - wx) + rows[:, :, low + 1] * wx
    return image.astype(np.uint8)


def make_batch(seed=0, batch=BATCH, has_depth=False):
    rng = np.random.default_rng(seed)
    scale = STORED / (1.5 * geometry.BOX_PIXELS_PER_SCALE)
    joints = rng.uniform(0.2 * STORED, 0.8 * STORED, (batch, skeleton.NUM_JOINTS, 2))
    return {
        "image": smooth_image(rng, batch),
        "joints_2d": joints.astype(np.float32),
        "visible": rng.random((batch, skeleton.NUM_JOINTS)) > 0.1,
        "depth": rng.uniform(-1, 1, (batch, skeleton.NUM_JOINTS)).astype(np.float32),
        "has_depth": np.full(batch, has_depth),
        "center": np.full((batch, 2), STORED / 2, np.float32),
        "scale": np.full(batch, scale, np.float32),
    }


def params_with(batch=BATCH, **values):
    params = augment.identity_params(batch)
    return params | {
        k: jnp.broadcast_to(jnp.asarray(v), params[k].shape) for k, v in values.items()
    }


apply = jax.jit(functools.partial(augment.apply_augmentation, **SIZES))
augment_batch = jax.jit(functools.partial(augment.augment_batch, **SIZES))
prepare_eval_batch = jax.jit(functools.partial(augment.prepare_eval_batch, **SIZES))
warp = jax.jit(geometry.batched_warp_image, static_argnums=2)


def test_shapes_and_dtypes():
    out = augment_batch(jax.random.key(0), make_batch())
    expected = {
        "inputs": ((BATCH, INPUT, INPUT, 3), jnp.float32),
        "heatmaps": ((BATCH, HEATMAP, HEATMAP, skeleton.NUM_JOINTS), jnp.float32),
        "joints_2d": ((BATCH, skeleton.NUM_JOINTS, 2), jnp.float32),
        "visible": ((BATCH, skeleton.NUM_JOINTS), jnp.bool_),
        "depth": ((BATCH, skeleton.NUM_JOINTS), jnp.float32),
        "has_depth": ((BATCH,), jnp.bool_),
        "matrix": ((BATCH, 2, 3), jnp.float32),
    }
    assert {k: (v.shape, v.dtype) for k, v in out.items()} == expected
    assert 0.0 <= float(out["inputs"].min()) and float(out["inputs"].max()) <= 1.0


def test_parameter_ranges():
    sample = jax.jit(augment.sample_augmentation, static_argnums=1)
    params = jax.tree.map(np.asarray, sample(jax.random.key(1), 20000))
    assert np.all(np.abs(np.log2(params["scale"])) <= 0.5 + 1e-6)
    assert np.all(np.abs(params["rotation"]) <= 60.0)
    assert abs(np.mean(params["rotation"] == 0.0) - 0.6) < 0.02
    assert abs(np.mean(params["flip"]) - 0.5) < 0.02
    assert np.all((params["gain"] >= 0.6) & (params["gain"] <= 1.4))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_visible_heatmaps_decode_to_their_joints(seed):
    batch = make_batch(seed)
    out = augment_batch(jax.random.key(seed), batch)
    decoded, peak = geometry.decode_heatmaps(out["heatmaps"])
    visible = np.asarray(out["visible"])
    error = np.linalg.norm(np.asarray(decoded - out["joints_2d"]), axis=-1)
    assert visible.sum() > 0.5 * visible.size
    assert np.all(error[visible] <= 1.0)
    # Visible exactly when annotated and its heatmap is non-empty (SPEC 4).
    np.testing.assert_array_equal(np.asarray(peak) > 0, visible)


def test_image_and_joints_move_together():
    """A bright dot drawn at a joint lands where the transformed joint says."""
    batch = make_batch(3)
    joint = LEFT_WRIST  # followed through flips by its swapped slot
    xy = np.floor(batch["joints_2d"][:, joint]).astype(int)
    batch["image"][:] = 0
    for i, (x, y) in enumerate(xy):
        batch["image"][i, y - 2 : y + 3, x - 2 : x + 3] = 255
    batch["visible"][:] = True
    key = jax.random.key(5)
    out = augment_batch(key, batch, scale_factor=0.0)  # no shrinking: the dot stays large
    flip = np.asarray(augment.sample_augmentation(key, BATCH, scale_factor=0.0)["flip"])
    slot = np.where(flip, skeleton.FLIP_PERMUTATION[joint], joint)
    target = np.asarray(out["joints_2d"])[np.arange(BATCH), slot] * STRIDE
    brightness = np.asarray(out["inputs"]).sum(axis=-1)
    centres = np.stack(np.meshgrid(np.arange(INPUT), np.arange(INPUT)), axis=-1) + 0.5
    inside = np.all((target > 4) & (target < INPUT - 4), axis=-1)
    assert flip.any() and (~flip).any() and inside.sum() >= 8
    for i in np.flatnonzero(inside):
        centroid = np.tensordot(brightness[i], centres, axes=2) / brightness[i].sum()
        assert np.linalg.norm(centroid - target[i]) <= 1.0


def test_flip_swaps_sides_and_mirrors():
    batch = make_batch(4)
    batch["visible"][:] = True  # compare coordinates of every joint
    base = params_with(rotation=20.0, scale=0.9)
    plain = apply(batch, base)
    flipped = apply(batch, base | {"flip": jnp.ones(BATCH, bool)})
    np.testing.assert_allclose(flipped["inputs"], plain["inputs"][:, :, ::-1], atol=1e-4)
    perm = np.asarray(skeleton.FLIP_PERMUTATION)
    mirrored_maps = plain["heatmaps"][:, :, ::-1][..., perm]
    np.testing.assert_allclose(flipped["heatmaps"], mirrored_maps, atol=1e-6)
    mirrored = plain["joints_2d"][:, RIGHT_WRIST] * jnp.array([-1.0, 1.0]) + jnp.array([HEATMAP, 0])
    np.testing.assert_allclose(flipped["joints_2d"][:, LEFT_WRIST], mirrored, atol=1e-4)
    np.testing.assert_array_equal(flipped["visible"], plain["visible"][:, perm])
    np.testing.assert_array_equal(flipped["depth"], plain["depth"][:, perm])


def test_rotation_then_inverse_rotation_restores_the_crop():
    batch = make_batch(5)
    angle = 25.0
    plain = apply(batch, params_with())
    rotated = apply(batch, params_with(rotation=angle))
    centre = jnp.full((BATCH, 2), INPUT / 2.0)
    back = geometry.crop_matrix(centre, jnp.full(BATCH, INPUT / 200.0), INPUT, -angle, xp=jnp)
    restored = warp(rotated["inputs"], back, INPUT)
    grid = np.arange(INPUT) + 0.5 - INPUT / 2.0
    disc = np.hypot(*np.meshgrid(grid, grid)) < INPUT / 3.0
    assert np.mean(np.abs(restored - plain["inputs"])[:, disc]) < 0.01
    joints_back = geometry.apply_affine(back, rotated["joints_2d"] * STRIDE, xp=jnp) / STRIDE
    both = np.asarray(plain["visible"] & rotated["visible"])
    np.testing.assert_allclose(
        np.asarray(joints_back)[both], np.asarray(plain["joints_2d"])[both], atol=1e-3
    )


def test_same_key_same_batch_and_other_key_differs():
    batch = make_batch(6)
    first = augment_batch(jax.random.key(7), batch)
    again = augment_batch(jax.random.key(7), batch)
    other = augment_batch(jax.random.key(8), batch)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.allclose(first["inputs"], other["inputs"])


def test_disabled_samples_get_the_centred_crop():
    batch = make_batch(7)
    enabled = np.arange(BATCH) % 2 == 0
    params = augment.sample_augmentation(jax.random.key(2), BATCH, enabled=enabled)
    identity = augment.identity_params(BATCH)
    for key in params:
        np.testing.assert_array_equal(params[key][~enabled], identity[key][~enabled])
    # 3D samples (has_depth) are not augmented by default, as in the original.
    three_d = make_batch(7, has_depth=True)
    out = augment_batch(jax.random.key(3), three_d)
    evaluated = prepare_eval_batch(three_d)
    for key in out:
        np.testing.assert_allclose(out[key], evaluated[key], atol=1e-6)
    expected = geometry.crop_matrix(batch["center"], batch["scale"], INPUT)
    np.testing.assert_allclose(evaluated["matrix"], expected, atol=1e-5)


def test_runs_under_pmap_like_jit():
    devices = jax.local_device_count()
    per_device = 2
    batch = make_batch(8, batch=devices * per_device)
    keys = jax.random.split(jax.random.key(9), devices)
    sharded = jax.tree.map(lambda x: x.reshape(devices, per_device, *x.shape[1:]), batch)
    out = jax.pmap(functools.partial(augment.augment_batch, **SIZES))(keys, sharded)
    for d in range(devices):
        single = augment_batch(keys[d], jax.tree.map(lambda x, d=d: x[d], sharded))
        np.testing.assert_allclose(out["inputs"][d], single["inputs"], atol=1e-5)
        np.testing.assert_array_equal(out["visible"][d], single["visible"])
