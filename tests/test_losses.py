"""The loss of SPEC 4 against plain NumPy written here from the spec."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pose3d_jax.training import losses

# SPEC 4, copied literally: groups of ((a, b), weight).
SPEC_GROUPS = [
    [((0, 1), 1.0085885098415446), ((1, 2), 1.0), ((3, 4), 1.0), ((4, 5), 1.0085885098415446)],
    [
        ((10, 11), 1.1375361376887123),
        ((11, 12), 1.0),
        ((13, 14), 1.0),
        ((14, 15), 1.1375361376887123),
    ],
    [((2, 6), 1.0), ((3, 6), 1.0)],
    [((12, 8), 1.0), ((13, 8), 1.0)],
]


def geometric_reference(xy, z, visible):
    """One sample, loops as the original's hand-written criterion did."""
    total = 0.0
    for group in SPEC_GROUPS:
        lengths = []
        for (a, b), w in group:
            if visible[a] and visible[b]:
                d2 = np.sum((xy[a] - xy[b]) ** 2) + (z[a] - z[b]) ** 2
                lengths.append(w * np.sqrt(d2))
        if lengths:
            e = np.mean(lengths)
            total += sum((ln - e) ** 2 for ln in lengths) / len(lengths)
    return total


def _sample(rng, batch=4):
    xy = rng.uniform(-1, 1, (batch, 16, 2))
    z = rng.uniform(-1, 1, (batch, 16))
    visible = rng.uniform(size=(batch, 16)) > 0.25
    return xy, z, visible


def test_geometric_loss_equals_spec_reference():
    rng = np.random.default_rng(0)
    xy, z, visible = _sample(rng, 6)
    ours = np.asarray(losses.geometric_loss_per_sample(jnp.asarray(xy), jnp.asarray(z), visible))
    ref = [geometric_reference(xy[i], z[i], visible[i]) for i in range(6)]
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-7)


def test_geometric_loss_on_a_hand_made_skeleton():
    # Only the hip group visible: bones (2,6) of length 3 and (3,6) of length 1 -> E = 2,
    # loss = ((3-2)^2 + (1-2)^2) / 2 = 1.
    xy = np.zeros((1, 16, 2))
    z = np.zeros((1, 16))
    xy[0, 2] = [3.0, 0.0]
    xy[0, 3] = [0.0, 1.0]
    visible = np.zeros((1, 16), bool)
    visible[0, [2, 3, 6]] = True
    out = losses.geometric_loss_per_sample(jnp.asarray(xy), jnp.asarray(z), visible)
    assert float(out[0]) == pytest.approx(1.0, rel=1e-6)
    # Depth counts: raise joint 3 in z by sqrt(8) -> length 3 -> equal bones -> 0.
    z[0, 3] = np.sqrt(8.0)
    out = losses.geometric_loss_per_sample(jnp.asarray(xy), jnp.asarray(z), visible)
    assert float(out[0]) == pytest.approx(0.0, abs=1e-6)


def test_geometric_gradient_matches_central_differences():
    rng = np.random.default_rng(1)
    xy, z, visible = _sample(rng, 1)
    xy, visible = jnp.asarray(xy, jnp.float32), jnp.asarray(visible)

    def f(zz):
        return losses.geometric_loss_per_sample(xy, zz, visible)[0]

    z32 = jnp.asarray(z, jnp.float32)
    grad = np.asarray(jax.grad(f)(z32))
    eps = 1e-3
    numeric = np.zeros(16)
    for j in range(16):
        dz = np.zeros((1, 16), np.float32)
        dz[0, j] = eps
        numeric[j] = (float(f(z32 + dz)) - float(f(z32 - dz))) / (2 * eps)
    np.testing.assert_allclose(grad[0], numeric, atol=2e-3, rtol=2e-2)
    assert np.abs(grad).sum() > 0


def test_zero_length_bone_and_empty_group_are_finite():
    xy = jnp.zeros((2, 16, 2))
    z = jnp.zeros((2, 16))
    visible = jnp.stack([jnp.ones(16, bool), jnp.zeros(16, bool)])
    value, grad = jax.value_and_grad(
        lambda zz: losses.geometric_loss_per_sample(xy, zz, visible).sum()
    )(z)
    assert np.isfinite(float(value)) and float(value) == 0.0
    assert np.all(np.isfinite(np.asarray(grad)))


def test_heatmap_loss_sums_stacks_of_elementwise_means():
    rng = np.random.default_rng(2)
    pred = rng.normal(size=(2, 3, 8, 8, 16)).astype(np.float32)
    target = rng.normal(size=(3, 8, 8, 16)).astype(np.float32)
    expected = sum(np.mean((pred[s] - target) ** 2) for s in range(2))
    assert float(losses.heatmap_loss(pred, target)) == pytest.approx(expected, rel=1e-5)


def _targets(rng, batch):
    return {
        "heatmaps": np.zeros((batch, 8, 8, 16), np.float32),
        "depth": rng.uniform(-1, 1, (batch, 16)).astype(np.float32),
        "has_depth": np.array([True, False, True, False][:batch]),
        "visible": np.ones((batch, 16), bool),
    }


def test_total_loss_weights_and_masks():
    rng = np.random.default_rng(3)
    batch = 4
    targets = _targets(rng, batch)
    for b in range(batch):  # some structure so that argmax is meaningful
        for j in range(16):
            targets["heatmaps"][b, rng.integers(8), rng.integers(8), j] = 1.0
    outputs = {
        "heatmaps": jnp.asarray(rng.normal(size=(2, batch, 8, 8, 16)), jnp.float32),
        "depth": jnp.asarray(rng.uniform(-1, 1, (batch, 16)), jnp.float32),
    }
    total, terms = losses.total_loss(outputs, targets, reg_weight=0.1, var_weight=0.01)
    hm = float(losses.heatmap_loss(outputs["heatmaps"], targets["heatmaps"]))
    d2 = np.mean((np.asarray(outputs["depth"]) - targets["depth"]) ** 2, axis=1)
    depth_term = (d2[0] + d2[2]) / batch
    xy = np.asarray(losses.geometric_xy(targets["heatmaps"], outputs["heatmaps"][-1]))
    geo = [
        geometric_reference(xy[b], np.asarray(outputs["depth"][b]), targets["visible"][b])
        for b in range(batch)
    ]
    geo_term = (geo[1] + geo[3]) / batch
    assert float(terms["depth_loss"]) == pytest.approx(depth_term, rel=1e-5)
    assert float(terms["geometric_loss"]) == pytest.approx(geo_term, rel=1e-4)
    assert float(total) == pytest.approx(hm + 0.1 * depth_term + 0.01 * geo_term, rel=1e-5)


def test_masked_out_samples_contribute_nothing():
    rng = np.random.default_rng(4)
    targets = _targets(rng, 4)
    outputs = {
        "heatmaps": jnp.zeros((1, 4, 8, 8, 16)),
        "depth": jnp.asarray(rng.uniform(-1, 1, (4, 16)), jnp.float32),
    }

    def depth_part(depth, key):
        out = dict(outputs, depth=depth)
        return losses.total_loss(out, targets, reg_weight=1.0, var_weight=0.0)[1][key]

    grad = np.asarray(jax.grad(depth_part)(outputs["depth"], "depth_loss"))
    assert np.all(grad[[1, 3]] == 0.0) and np.any(grad[[0, 2]] != 0.0)
    # The depth target of 2D-only samples is ignored whatever it holds.
    targets["depth"][[1, 3]] = 1e6
    assert np.isfinite(float(depth_part(outputs["depth"], "depth_loss")))


def test_geometric_xy_refines_toward_predicted_neighbour():
    target = np.zeros((1, 8, 8, 16), np.float32)
    target[0, 4, 3, :] = 1.0  # argmax x=3, y=4
    pred = np.zeros((1, 8, 8, 16), np.float32)
    pred[0, 4, 4, :] = 0.5  # right neighbour higher in the prediction
    xy = np.asarray(losses.geometric_xy(target, pred))
    np.testing.assert_allclose(xy[0, 0], [3.25 / 8 * 2 - 1, 4.0 / 8 * 2 - 1])
