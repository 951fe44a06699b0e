"""The training step and recipe (SPEC 5): optimizer, schedule, devices, NaN guard."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from train_fixtures import host_batch, split_for_devices, tiny_config

from configs import stage1, stage2, stage3
from pose3d_jax import model as model_lib
from pose3d_jax.training import train


def test_stage_configs_follow_the_paper():
    s1, s2, s3 = stage1.get_config(), stage2.get_config(), stage3.get_config()
    for c in (s1, s2, s3):
        assert c.train.batch_size == 6 and c.train.steps_per_epoch == 4000
        assert c.train.rmsprop_decay == 0.99 and c.train.rmsprop_eps == 1e-8
        assert c.model.num_stacks == 2 and c.model.num_features == 256
    assert (s1.train.num_epochs, s1.train.reg_weight, s1.train.var_weight) == (60, 0.0, 0.0)
    assert (s1.train.learning_rate, s1.train.init_from) == (2.5e-4, "")
    assert (s2.train.num_epochs, s2.train.drop_lr_epoch) == (50, 40)
    assert (s2.train.reg_weight, s2.train.var_weight, s2.train.learning_rate) == (0.1, 0.0, 2.5e-4)
    assert s2.train.init_from
    assert (s3.train.num_epochs, s3.train.learning_rate) == (10, 2.5e-5)
    assert (s3.train.reg_weight, s3.train.var_weight) == (0.1, 0.01)
    assert s3.train.init_from and s3.train.init_from != s2.train.init_from


def test_lr_schedule_drops_by_ten_at_the_epoch():
    config = stage2.get_config()
    schedule = train.learning_rate_schedule(config.train)
    drop = 40 * 4000
    assert float(schedule(0)) == pytest.approx(2.5e-4)
    assert float(schedule(drop - 1)) == pytest.approx(2.5e-4)
    assert float(schedule(drop)) == pytest.approx(2.5e-5)
    assert float(train.learning_rate_schedule(stage1.get_config().train)(10**7)) == 2.5e-4


def test_rmsprop_update_matches_torch7_by_hand():
    # Torch7 optim.rmsprop: m = a m + (1-a) g^2; x -= lr g / (sqrt(m) + eps).
    config = stage1.get_config().train
    tx, _ = train.create_optimizer(config)
    params = {"w": jnp.array([1.0, -2.0, 0.5])}
    grads = [np.array([0.1, -0.3, 0.0]), np.array([0.2, 0.1, 1e-6])]
    state = tx.init(params)
    m = np.zeros(3)
    expected = np.array([1.0, -2.0, 0.5])
    for g in grads:
        updates, state = tx.update({"w": jnp.asarray(g, jnp.float32)}, state, params)
        params = optax.apply_updates(params, updates)
        m = 0.99 * m + 0.01 * g**2
        expected = expected - 2.5e-4 * g / (np.sqrt(m) + 1e-8)
    np.testing.assert_allclose(np.asarray(params["w"]), expected, rtol=1e-6, atol=1e-9)


def _run_steps(config, batches, num_devices, tx=None, param_dtype=None):
    model = model_lib.create_model(config.model, bn_axis_name=train.AXIS)
    rmsprop, schedule = train.create_optimizer(config.train)
    tx = tx or rmsprop
    state = train.create_train_state(jax.random.PRNGKey(0), model, tx, config.data.input_res)
    if param_dtype is not None:
        cast = functools.partial(jax.tree.map, lambda x: x.astype(param_dtype))
        params = cast(state.params)
        state = state.replace(
            params=params, batch_stats=cast(state.batch_stats), opt_state=tx.init(params)
        )
    initial = jax.device_get(state)
    state = train.replicate(state, num_devices)
    p_step = train.make_p_train_step(config, model, tx, schedule)
    metrics = []
    for batch in batches:
        state, m = p_step(state, split_for_devices(batch, num_devices))
        metrics.append(m)
    return train.unreplicate(state), jax.device_get(metrics), initial


def _max_abs_difference(tree_a, tree_b):
    pairs = zip(jax.tree.leaves(tree_a), jax.tree.leaves(tree_b), strict=True)
    return max(float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in pairs)


def test_one_and_four_devices_agree_for_the_same_global_batch():
    """Same global batch on 1 and 4 devices: same parameters after 3 RMSprop steps.

    This checks the data-parallel arithmetic: per-sample augmentation keys from
    the global index, gradients and BatchNorm statistics averaged over the
    device axis, the loss normalised by the global batch. It runs in float64
    because in float32 the two runs differ at rounding level (XLA sums a
    batch-8 weight gradient in another order than four batch-2 ones) and this
    tiny network at its initialisation amplifies any parameter perturbation
    about 1000x per step (its 1x1 depth head normalises batches of 8 values),
    so float32 runs of 3 steps drift apart by ~1e-3 whatever the parallel code
    does; a real bug (unsynchronised BatchNorm, per-device keys, a sum for a
    mean) moves the parameters by far more than the 1e-5 checked here.
    """
    if jax.local_device_count() < 4:
        pytest.skip("needs 4 devices (XLA_FLAGS host device count)")
    config = tiny_config(reg_weight=0.1, var_weight=0.01)
    config.model.dtype = "float64"
    batches = [host_batch(8, seed=s) for s in range(3)]
    with jax.enable_x64(True):
        one, m1, start = _run_steps(config, batches, 1, param_dtype=jnp.float64)
        four, m4, _ = _run_steps(config, batches, 4, param_dtype=jnp.float64)
    assert jax.tree.leaves(one.params)[0].dtype == np.float64
    assert int(one.step) == int(four.step) == 3
    for step in range(3):
        np.testing.assert_allclose(m1[step]["loss"][0], m4[step]["loss"][0], rtol=1e-6)
    assert _max_abs_difference(one.params, four.params) < 1e-5
    assert _max_abs_difference(one.batch_stats, four.batch_stats) < 1e-5
    assert _max_abs_difference(one.opt_state, four.opt_state) < 1e-5
    assert _max_abs_difference(start.params, one.params) > 1e-3  # the steps did train


def test_step_metrics_are_finite_and_a_nan_batch_leaves_the_state_unchanged():
    config = tiny_config(reg_weight=0.1, var_weight=0.01)
    good = host_batch(4)
    state, metrics, _ = _run_steps(config, [good], 1)
    assert metrics[0]["nonfinite"][0] == 0.0
    for key in ("loss", "heatmap_loss", "depth_loss", "geometric_loss", "learning_rate"):
        assert np.isfinite(metrics[0][key][0]), key
    assert 0 <= metrics[0]["accuracy_sum"][0] <= metrics[0]["accuracy_count"][0]

    bad = dict(good, depth=np.full_like(good["depth"], np.nan))
    model = model_lib.create_model(config.model, bn_axis_name=train.AXIS)
    tx, schedule = train.create_optimizer(config.train)
    p_step = train.make_p_train_step(config, model, tx, schedule)
    replicated = train.replicate(state, 1)
    before = jax.device_get(train.unreplicate(replicated))
    after, m = p_step(replicated, split_for_devices(bad, 1))
    after = train.unreplicate(after)
    assert float(m["nonfinite"][0]) == 1.0
    assert int(after.step) == int(before.step) + 1
    for a, b in zip(jax.tree.leaves(before.params), jax.tree.leaves(after.params), strict=True):
        np.testing.assert_array_equal(a, b)


def test_summarize_metrics_divides_sums_by_counts():
    history = [
        {"loss": np.array([1.0]), "accuracy_sum": np.array([3.0]),
         "accuracy_count": np.array([4.0]), "nonfinite": np.array([0.0])},
        {"loss": np.array([3.0]), "accuracy_sum": np.array([1.0]),
         "accuracy_count": np.array([4.0]), "nonfinite": np.array([1.0])},
    ]  # fmt: skip
    out = train.summarize_metrics(history)
    assert out == {"loss": 2.0, "accuracy": 0.5, "nonfinite": 1.0}
