"""The hgreg-3d network (SPEC 2): size, shapes, names, modes, learning."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import TINY_MODEL
from flax import linen as nn

from pose3d_jax import geometry, model
from pose3d_jax.model import rows_grad_dot, split_grad_conv, winograd_conv
from pose3d_jax.training import losses


def _count(tree):
    return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


def test_full_model_has_the_original_parameter_count_and_shapes():
    net = model.HourglassNet()
    variables = jax.eval_shape(lambda: net.init(jax.random.key(0), jnp.zeros((1, 256, 256, 3))))
    assert _count(variables["params"]) == 14_429_104
    out = jax.eval_shape(net.apply, variables, jnp.zeros((3, 256, 256, 3)))
    assert out["heatmaps"].shape == (2, 3, 64, 64, 16)
    assert out["depth"].shape == (3, 16)
    assert out["heatmaps"].dtype == jnp.float32


def test_parameter_names_are_stable():
    net = model.HourglassNet()
    params = jax.eval_shape(lambda: net.init(jax.random.key(0), jnp.zeros((1, 256, 256, 3))))[
        "params"
    ]
    for name in ("stem_conv", "stem_bn", "stem_res_0", "hourglass_0", "hourglass_1", "depth_dense"):
        assert name in params
    assert set(params["stem_res_0"]) == {
        "bn_in", "conv_reduce", "bn_reduce", "conv_spatial", "bn_spatial", "conv_expand", "skip"
    }  # fmt: skip
    inner = params["hourglass_0"]["inner"]["inner"]["inner"]
    assert "bottom_0" in inner and "inner" not in inner
    assert params["depth_dense"]["kernel"].shape == (4 * 4 * 256, 16)
    assert "depth_res_7" in params and "depth_res_8" not in params


def test_create_model_from_a_stored_config():
    net = model.create_model(TINY_MODEL)
    assert net.num_features == 16 and net.hourglass_depth == 2
    assert model.model_meta(TINY_MODEL) == TINY_MODEL


def test_pool_and_upsample_match_reference_ops():
    x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))

    np.testing.assert_array_equal(model.max_pool_2x2(x), nn.max_pool(x, (2, 2), (2, 2)))
    up = model.upsample_2x(x)
    np.testing.assert_array_equal(up, jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2))
    # Gradients equal the reference formulations' too (no ties in random input).
    w = jax.random.normal(jax.random.key(1), (2, 4, 4, 3))
    g_fast = jax.grad(lambda v: jnp.sum(model.max_pool_2x2(v) * w))(x)
    g_ref = jax.grad(lambda v: jnp.sum(nn.max_pool(v, (2, 2), (2, 2)) * w))(x)
    np.testing.assert_allclose(g_fast, g_ref, atol=1e-6)
    w2 = jax.random.normal(jax.random.key(2), (2, 16, 16, 3))
    g_fast = jax.grad(lambda v: jnp.sum(model.upsample_2x(v) * w2))(x)
    g_ref = jax.grad(lambda v: jnp.sum(jnp.repeat(jnp.repeat(v, 2, axis=1), 2, axis=2) * w2))(x)
    np.testing.assert_allclose(g_fast, g_ref, atol=1e-5)


def test_batchnorm_train_and_eval_modes():
    net = model.create_model(TINY_MODEL)
    images = jax.random.uniform(jax.random.key(1), (4, 64, 64, 3))
    variables = net.init(jax.random.key(0), images)
    out_eval = net.apply(variables, images, train=False)
    out_train, updates = net.apply(variables, images, train=True, mutable=["batch_stats"])
    assert out_eval["heatmaps"].shape == (2, 4, 16, 16, 16)
    assert not np.allclose(out_eval["heatmaps"], out_train["heatmaps"])
    before = variables["batch_stats"]["stem_bn"]["mean"]
    assert not np.allclose(before, updates["batch_stats"]["stem_bn"]["mean"])


def test_bfloat16_compute_keeps_float32_params_and_outputs():
    config = dict(TINY_MODEL, dtype="bfloat16")
    net = model.create_model(config)
    images = jnp.ones((2, 64, 64, 3))
    variables = net.init(jax.random.key(0), images)
    assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(variables))
    out = net.apply(variables, images)
    assert out["heatmaps"].dtype == jnp.float32 and out["depth"].dtype == jnp.float32
    ref = model.create_model(TINY_MODEL).apply(variables, images)
    np.testing.assert_allclose(out["depth"], ref["depth"], atol=0.1, rtol=0.1)


def test_batch_statistics_are_averaged_across_devices():
    devices = jax.local_device_count()
    if devices < 2:
        pytest.skip("needs several devices (XLA_FLAGS host device count)")
    net = model.create_model(TINY_MODEL, bn_axis_name="batch")
    images = jax.random.uniform(jax.random.key(2), (devices, 2, 64, 64, 3))
    variables = model.create_model(TINY_MODEL).init(jax.random.key(0), images[0])

    def stats(v, x):
        _, upd = net.apply(v, x, train=True, mutable=["batch_stats"])
        return upd["batch_stats"]["stem_bn"]["mean"]

    replicated = jax.tree_util.tree_map(
        lambda x: np.broadcast_to(x, (devices,) + x.shape), variables
    )
    per_device = jax.pmap(stats, axis_name="batch")(replicated, images)
    single = model.create_model(TINY_MODEL)
    _, upd = single.apply(
        variables, images.reshape(-1, 64, 64, 3), train=True, mutable=["batch_stats"]
    )
    for d in range(devices):
        np.testing.assert_allclose(per_device[d], upd["batch_stats"]["stem_bn"]["mean"], atol=1e-5)


def _assert_matches_nn_conv(fast, conv, x, tolerance):
    """fast against nn.Conv: same initialisation (a checkpoint of either form is the
    other's), outputs, and gradients for parameters and input; with bfloat16
    compute, float32 parameter gradients within bfloat16 rounding of nn.Conv's."""
    variables = conv.init(jax.random.key(0), x)
    jax.tree.map(np.testing.assert_array_equal, variables, fast.init(jax.random.key(0), x))
    variables = jax.tree.map(lambda v: v + 0.1, variables)  # a non-zero bias too
    w = jax.random.normal(jax.random.key(2), (*x.shape[:-1], conv.features))
    np.testing.assert_allclose(fast.apply(variables, x), conv.apply(variables, x), atol=1e-5)

    def loss(net, v, inputs):
        return jnp.sum(net.apply(v, inputs) * w)

    g_fast = jax.grad(lambda v, i: loss(fast, v, i), argnums=(0, 1))(variables, x)
    g_conv = jax.grad(lambda v, i: loss(conv, v, i), argnums=(0, 1))(variables, x)
    for a, b in zip(jax.tree.leaves(g_fast), jax.tree.leaves(g_conv), strict=True):
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance * _gradient_scale(b))

    bf16_nets = (fast.clone(dtype=jnp.bfloat16), conv.clone(dtype=jnp.bfloat16))
    g_fast, g_plain = (jax.grad(lambda v, n=n: loss(n, v, x))(variables) for n in bf16_nets)
    for a, b in zip(jax.tree.leaves(g_fast), jax.tree.leaves(g_plain), strict=True):
        assert a.dtype == jnp.float32
        assert float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b)) < 2e-2


def _gradient_scale(gradient):
    """1 on the CPU; elsewhere the gradient's largest magnitude. cuDNN picks its
    convolution algorithm by timing, and its algorithms round differently even in
    full float32: on an H100 the 3x3 weight gradient of nn.Conv and of one whole-batch
    convolution differed by 9e-4 at -5.64 (the largest entry ~100); the cases
    failed in 4 of 6 runs at rtol=atol=1e-4, so off the CPU the tolerance is
    relative to the gradient's scale."""
    if jax.default_backend() == "cpu":
        return 1.0
    return max(1.0, float(jnp.max(jnp.abs(gradient))))


def test_pointwise_conv_matches_nn_conv_values_and_gradients():
    """PointwiseConv against nn.Conv(1x1): same initialisation, outputs and gradients."""
    x = jax.random.normal(jax.random.key(1), (2, 5, 6, 12))
    _assert_matches_nn_conv(model.PointwiseConv(7), nn.Conv(7, (1, 1)), x, tolerance=1e-5)


def test_rows_grad_dot_gradients_match_numpy():
    """The kernel gradient equals a float64 NumPy x.T @ dy over the 21 rows of a
    [3, 7, 5] input; the input gradient is dy @ kernel.T; float64 stays float64
    (the 1-vs-4-device test trains in it)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 7, 5)).astype(np.float32)  # 21 rows of 5 channels
    kernel = rng.normal(size=(5, 4)).astype(np.float32)
    dy = rng.normal(size=(3, 7, 4)).astype(np.float32)
    x64, dy64 = x.reshape(-1, 5).astype(np.float64), dy.reshape(-1, 4).astype(np.float64)
    out, vjp = jax.vjp(rows_grad_dot.matmul_rows_grad, x, kernel)
    np.testing.assert_allclose(out, x @ kernel, rtol=1e-5, atol=1e-5)
    dx, dk = vjp(dy)
    np.testing.assert_allclose(dk, x64.T @ dy64, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(dx, dy @ kernel.T, rtol=1e-5, atol=1e-5)
    with jax.enable_x64(True):
        _, vjp = jax.vjp(rows_grad_dot.matmul_rows_grad, x64, kernel.astype(np.float64))
        dk = vjp(dy64)[1]
        assert dk.dtype == jnp.float64
        np.testing.assert_allclose(dk, x64.T @ dy64, rtol=1e-12)


@pytest.mark.parametrize("piece_elements", [2048, 8192, 2**17])
def test_split_grad_conv_matches_nn_conv_values_and_gradients(piece_elements):
    """CpuConv3x3 against nn.Conv(3x3, padding 1): same initialisation, outputs
    and gradients, with its weight gradient summed over 24 one-sample bands of 8
    rows, over 6 whole samples, and over the whole batch."""
    x = jax.random.normal(jax.random.key(1), (6, 32, 32, 8))
    expected_pieces = {2048: (1, 8), 8192: (1, 32), 2**17: (6, 32)}[piece_elements]
    assert split_grad_conv.piece_shape(x.shape, piece_elements) == expected_pieces
    conv = nn.Conv(5, (3, 3), padding=((1, 1), (1, 1)))
    split = model.CpuConv3x3(5, piece_elements=piece_elements)
    _assert_matches_nn_conv(split, conv, x, tolerance=1e-4)


def test_split_grad_conv_piece_shapes():
    """(samples, rows) per piece for the default network's layers at batch 6, and
    the limits: pieces of about 2**17 elements, at most MAX_PIECES of them."""
    shape = split_grad_conv.piece_shape
    assert shape((6, 128, 128, 64)) == (1, 16)  # the stem: 48 bands
    assert shape((6, 64, 64, 128)) == (1, 16)  # hourglass top: 24 bands
    assert shape((6, 64, 64, 64)) == (1, 32)
    assert shape((6, 32, 32, 128)) == (1, 32)  # one sample is one piece
    assert shape((6, 16, 16, 128)) == (6, 16)  # smaller: the whole batch
    assert shape((32, 64, 64, 128)) == (4, 16)  # 8 x 4 = 32 pieces; 2 samples would be 64
    assert shape((11, 64, 64, 128)) == (1, 16)  # 44 pieces
    assert shape((13, 64, 64, 128)) == (13, 16)  # 52 one-sample pieces: too many
    assert shape((6, 7, 64, 512)) == (1, 1)  # one row is already a piece


def _outputs_and_gradients(net, variables, images):
    """Training-mode outputs and the gradient of a loss over both heads."""

    def loss(params):
        out, _ = net.apply(
            {"params": params, "batch_stats": variables["batch_stats"]},
            images,
            train=True,
            mutable=["batch_stats"],
        )
        return jnp.sum(out["heatmaps"] ** 2) + jnp.sum(out["depth"] ** 2), out

    (_, out), grads = jax.value_and_grad(loss, has_aux=True)(variables["params"])
    return out, grads


def _assert_same_gradients(g1, g2):
    # Conv biases that feed a BatchNorm have a zero gradient in exact arithmetic, so
    # compare against the overall gradient scale rather than element by element.
    scale = max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(g1))
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale)


def test_pointwise_as_dot_leaves_the_network_unchanged():
    """The whole network with 1x1 convolutions as matmuls: same parameters, same
    outputs and the same gradients as with nn.Conv."""
    images = jax.random.uniform(jax.random.key(3), (2, 64, 64, 3))
    plain = model.create_model(TINY_MODEL).clone(pointwise_as_dot=False)
    fast = plain.clone(pointwise_as_dot=True)
    variables = plain.init(jax.random.key(0), images)
    fast_variables = fast.init(jax.random.key(0), images)
    assert jax.tree.structure(variables) == jax.tree.structure(fast_variables)
    jax.tree.map(np.testing.assert_array_equal, variables, fast_variables)

    out1, g1 = _outputs_and_gradients(plain, variables, images)
    out2, g2 = _outputs_and_gradients(fast, variables, images)
    np.testing.assert_allclose(out2["heatmaps"], out1["heatmaps"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out2["depth"], out1["depth"], rtol=1e-4, atol=1e-5)
    _assert_same_gradients(g1, g2)


def test_cpu_conv3x3_leave_the_network_unchanged(monkeypatch):
    """The whole network with the split 3x3 weight gradients (Winograd off; 128 px
    input: the first stem residual's 3x3 convolution works at 64x64x64, where the
    split is on): same parameters, outputs and gradients as with nn.Conv."""
    monkeypatch.setattr(winograd_conv, "suits", lambda *args: False)
    images = jax.random.uniform(jax.random.key(3), (2, 128, 128, 3))
    assert split_grad_conv.piece_shape((2, 64, 64, 64)) == (1, 32)  # 4 pieces
    plain = model.create_model(TINY_MODEL).clone(cpu_conv3x3=False)
    fast = plain.clone(cpu_conv3x3=True)
    variables = plain.init(jax.random.key(0), images)
    jax.tree.map(np.testing.assert_array_equal, variables, fast.init(jax.random.key(0), images))
    out1, g1 = _outputs_and_gradients(plain, variables, images)
    out2, g2 = _outputs_and_gradients(fast, variables, images)
    np.testing.assert_allclose(out2["heatmaps"], out1["heatmaps"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out2["depth"], out1["depth"], rtol=1e-4, atol=1e-5)
    _assert_same_gradients(g1, g2)


def _largest_error(tree, reference):
    return max(
        float(jnp.max(jnp.abs(jnp.asarray(a, jnp.float64) - b)))
        for a, b in zip(jax.tree.leaves(tree), jax.tree.leaves(reference), strict=True)
    )


def test_winograd_network_is_as_close_to_float64_as_the_plain_network(monkeypatch):
    """The whole network with Winograd 3x3 convolutions where they suit: its
    float32 outputs and gradients are within a few times plain float32's own
    rounding of the float64 network. (Training-mode BatchNorm on a batch of two
    amplifies rounding: plain float32 is ~1e-4 from float64 in the outputs, so a
    direct elementwise comparison says nothing; a wrong tile or border would be
    off by the values themselves.)"""
    engaged = []
    suits = winograd_conv.suits

    def counting_suits(*args):
        engaged.append(suits(*args))
        return engaged[-1]

    monkeypatch.setattr(winograd_conv, "suits", counting_suits)
    images = jax.random.uniform(jax.random.key(3), (2, 128, 128, 3))
    plain = model.create_model(TINY_MODEL).clone(cpu_conv3x3=False)
    variables = plain.init(jax.random.key(0), images)
    out32, g32 = _outputs_and_gradients(plain, variables, images)
    out_wg, g_wg = _outputs_and_gradients(plain.clone(cpu_conv3x3=True), variables, images)
    assert sum(engaged) >= 1 and not all(engaged)  # stem_res_0 at 64x64x64; not the 32x32 ones
    with jax.enable_x64(True):
        wide = model.create_model({**TINY_MODEL, "dtype": "float64"}).clone(cpu_conv3x3=False)
        wide_variables = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), variables)
        out64, g64 = _outputs_and_gradients(wide, wide_variables, jnp.asarray(images, jnp.float64))
        output_error = [_largest_error(out, out64) for out in (out32, out_wg)]
        gradient_error = [_largest_error(g, g64) for g in (g32, g_wg)]
    assert 0 < output_error[1] <= 5 * output_error[0], output_error
    assert 0 < gradient_error[1] <= 5 * gradient_error[0], gradient_error


def test_pointwise_as_dot_is_chosen_by_backend():
    assert model.pointwise_as_dot_by_default() == (jax.default_backend() == "cpu")
    assert isinstance(model.conv_layer(4, (1, 1), pointwise_as_dot=True), model.PointwiseConv)
    assert isinstance(model.conv_layer(4, (1, 1), pointwise_as_dot=False), nn.Conv)
    assert isinstance(model.conv_layer(4, (3, 3), pointwise_as_dot=True), nn.Conv)
    strided = model.conv_layer(4, (1, 1), strides=(2, 2), pointwise_as_dot=True)
    assert isinstance(strided, nn.Conv)
    padded = model.conv_layer(4, (1, 1), padding=((1, 1), (1, 1)), pointwise_as_dot=True)
    assert isinstance(padded, nn.Conv)
    same = {"padding": ((1, 1), (1, 1)), "pointwise_as_dot": True}
    split = model.conv_layer(4, (3, 3), cpu_conv3x3=True, **same)
    assert isinstance(split, model.CpuConv3x3)
    assert isinstance(model.conv_layer(4, (3, 3), cpu_conv3x3=False, **same), nn.Conv)
    strided_3x3 = model.conv_layer(4, (3, 3), strides=(2, 2), cpu_conv3x3=True, **same)
    assert isinstance(strided_3x3, nn.Conv)
    stem = model.conv_layer(4, (7, 7), padding=((3, 3), (3, 3)), cpu_conv3x3=True,
                            pointwise_as_dot=True)  # fmt: skip
    assert isinstance(stem, nn.Conv)
    built = set()

    def record(next_fun, args, kwargs, context):
        built.add(type(context.module).__name__)
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        model.create_model(TINY_MODEL).init(jax.random.key(0), jnp.zeros((1, 64, 64, 3)))
    on_cpu = jax.default_backend() == "cpu"  # None picks by backend: GPUs keep nn.Conv
    assert ("CpuConv3x3" in built, "PointwiseConv" in built) == (on_cpu, on_cpu)
    assert "Conv" in built  # the 7x7 stem stays nn.Conv everywhere


def test_remat_gives_the_same_gradients():
    images = jax.random.uniform(jax.random.key(3), (2, 64, 64, 3))
    plain = model.create_model(TINY_MODEL)
    remat = model.create_model(dict(TINY_MODEL, remat=True))
    variables = plain.init(jax.random.key(0), images)
    _, g1 = _outputs_and_gradients(plain, variables, images)
    _, g2 = _outputs_and_gradients(remat, variables, images)
    _assert_same_gradients(g1, g2)


def _fixed_batch(batch=4, res=64):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (batch, res, res, 3)).astype(np.float32)
    points = rng.uniform(2, res // 4 - 2, (batch, 16, 2)).astype(np.float32)
    visible = np.ones((batch, 16), bool)
    return images, {
        "heatmaps": geometry.render_heatmaps(points, visible, res // 4),
        "depth": rng.uniform(-0.5, 0.5, (batch, 16)).astype(np.float32),
        "has_depth": np.array([True, False] * (batch // 2)),
        "visible": visible,
    }


def test_small_model_overfits_one_batch():
    net = model.create_model(TINY_MODEL)
    images, targets = _fixed_batch()
    variables = net.init(jax.random.key(0), images)
    tx = optax.rmsprop(2.5e-4 * 4, decay=0.99, eps=1e-8, eps_in_sqrt=False)
    params, batch_stats = variables["params"], variables["batch_stats"]
    opt_state = tx.init(params)

    def loss_fn(p, bs):
        out, upd = net.apply(
            {"params": p, "batch_stats": bs}, images, train=True, mutable=["batch_stats"]
        )
        total, _ = losses.total_loss(out, targets, reg_weight=1.0, var_weight=0.01)
        return total, upd["batch_stats"]

    @jax.jit
    def step(p, bs, s):
        (value, bs), grads = jax.value_and_grad(loss_fn, has_aux=True)(p, bs)
        updates, s = tx.update(grads, s, p)
        return optax.apply_updates(p, updates), bs, s, value

    history = []
    for _ in range(50):
        params, batch_stats, opt_state, value = step(params, batch_stats, opt_state)
        history.append(float(value))
    assert np.all(np.isfinite(history))
    assert history[-1] < history[0] / 5, history[::10]


def test_model_modules_do_not_import_tensorflow():
    code = (
        "import sys; import pose3d_jax.model, pose3d_jax.training.losses, pose3d_jax.geometry, "
        "pose3d_jax.skeleton; sys.exit(1 if 'tensorflow' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
