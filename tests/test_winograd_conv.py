"""Winograd F(4x4, 3x3) (model/winograd_conv.py) against plain NumPy convolutions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from pose3d_jax import model
from pose3d_jax.model import split_grad_conv, winograd_conv


def _numpy_conv3x3(x, kernel):
    """The zero-padded-by-one, stride-1 3x3 cross-correlation, NHWC x HWIO, in float64 loops."""
    n, h, w, _ = x.shape
    padded = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros((n, h, w, kernel.shape[-1]))
    for dy in range(3):
        for dx in range(3):
            out += padded[:, dy : dy + h, dx : dx + w] @ kernel[dy, dx].astype(np.float64)
    return out


def test_one_dimensional_transforms_compute_a_correlation():
    """F(4, 3) in one dimension: A^T [(G g) * (B^T d)] is the valid correlation of
    six inputs with three taps (Lavin and Gray 2016, eq. 7), in float64."""
    rng = np.random.default_rng(0)
    d, g = rng.standard_normal(6), rng.standard_normal(3)
    got = winograd_conv.OUTPUT_TRANSFORM @ (
        (winograd_conv.KERNEL_TRANSFORM @ g) * (winograd_conv.INPUT_TRANSFORM @ d)
    )
    expected = [d[i] * g[0] + d[i + 1] * g[1] + d[i + 2] * g[2] for i in range(4)]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("shape", "out_features"),
    [((2, 8, 12, 5), 7), ((1, 4, 4, 3), 2), ((1, 16, 8, 64), 96)],
)
def test_values_match_a_numpy_convolution(shape, out_features):
    """Non-square maps, in != out channels, a map of one tile: float32 values within
    float32 rounding of the float64 direct convolution, borders included."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    kernel = rng.standard_normal((3, 3, shape[-1], out_features)).astype(np.float32)
    got = np.asarray(winograd_conv.conv3x3_winograd(jnp.asarray(x), jnp.asarray(kernel)))
    expected = _numpy_conv3x3(x, kernel)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5 * np.abs(expected).max())


def test_gradients_match_the_direct_convolution_in_float64():
    """The custom VJP (input gradient by the flipped kernel, weight gradient by the
    transposed transforms) equals lax's in float64 to rounding: no approximation."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(2)
        x = jnp.asarray(rng.standard_normal((2, 8, 12, 5)))
        kernel = jnp.asarray(rng.standard_normal((3, 3, 5, 7)))
        cotangent = jnp.asarray(rng.standard_normal((2, 8, 12, 7)))

        def direct(x, kernel):
            return jax.lax.conv_general_dilated(
                x, kernel, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
            )

        value, vjp = jax.vjp(winograd_conv.conv3x3_winograd, x, kernel)
        value_ref, vjp_ref = jax.vjp(direct, x, kernel)
        np.testing.assert_allclose(value, value_ref, rtol=1e-12, atol=1e-12)
        for got, expected in zip(vjp(cotangent), vjp_ref(cotangent), strict=True):
            assert got.dtype == jnp.float64
            np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-11)


def test_float32_gradients_match_jax_grad_of_nn_conv():
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.standard_normal((1, 32, 32, 64)), jnp.float32)
    conv = nn.Conv(64, (3, 3), padding=((1, 1), (1, 1)))
    variables = conv.init(jax.random.key(0), x)
    kernel, bias = variables["params"]["kernel"], variables["params"]["bias"]

    def loss_direct(x, kernel):
        return jnp.sum(jnp.sin(conv.apply({"params": {"kernel": kernel, "bias": bias}}, x)))

    def loss_winograd(x, kernel):
        return jnp.sum(jnp.sin(winograd_conv.conv3x3_winograd(x, kernel) + bias))

    for got, expected in zip(
        jax.grad(loss_winograd, (0, 1))(x, kernel),
        jax.grad(loss_direct, (0, 1))(x, kernel),
        strict=True,
    ):
        np.testing.assert_allclose(
            got, expected, rtol=0, atol=1e-4 * float(jnp.abs(expected).max())
        )


@pytest.mark.parametrize(
    ("shape", "out_features", "dtype", "expected"),
    [
        ((6, 64, 64, 128), 128, jnp.float32, True),
        ((6, 32, 32, 64), 64, jnp.float32, True),
        ((6, 16, 16, 128), 128, jnp.float32, False),  # transforms outweigh the savings
        ((6, 64, 64, 32), 128, jnp.float32, False),  # too few input channels
        ((6, 64, 64, 128), 32, jnp.float32, False),  # too few output channels
        ((6, 34, 64, 128), 128, jnp.float32, False),  # side not a multiple of 4
        ((6, 64, 64, 128), 128, jnp.bfloat16, False),  # rounding of the transforms
    ],
)
def test_suits_only_the_layers_it_was_measured_faster_on(shape, out_features, dtype, expected):
    assert winograd_conv.suits(shape, out_features, dtype) is expected


def _forms_used(monkeypatch, module, x):
    """Which kernel functions CpuConv3x3 called for input x."""
    used = []
    for owner, name in (
        (winograd_conv, "conv3x3_winograd"),
        (split_grad_conv, "conv3x3_split_grad"),
    ):
        original = getattr(owner, name)
        monkeypatch.setattr(owner, name, lambda *a, f=original, n=name: used.append(n) or f(*a))
    module.init(jax.random.key(0), x)
    return set(used)


def test_cpu_conv3x3_takes_winograd_only_where_it_suits(monkeypatch):
    big, small = jnp.zeros((1, 32, 32, 64)), jnp.zeros((1, 16, 16, 64))
    assert _forms_used(monkeypatch, model.CpuConv3x3(64), big) == {"conv3x3_winograd"}
    direct = {"conv3x3_split_grad"}
    assert _forms_used(monkeypatch, model.CpuConv3x3(64, winograd=False), big) == direct
    assert _forms_used(monkeypatch, model.CpuConv3x3(64), small) == direct
    bf16 = model.CpuConv3x3(64, dtype=jnp.bfloat16)  # computes in bfloat16
    assert _forms_used(monkeypatch, bf16, big) == direct


def test_cpu_conv3x3_has_nn_conv_parameters_and_values():
    x = jax.random.normal(jax.random.key(1), (1, 32, 32, 64))
    params = model.CpuConv3x3(64).init(jax.random.key(0), x)
    reference = nn.Conv(64, (3, 3), padding=((1, 1), (1, 1)))
    reference_params = reference.init(jax.random.key(0), x)
    jax.tree.map(np.testing.assert_array_equal, params, reference_params)
    expected = reference.apply(reference_params, x)
    got = model.CpuConv3x3(64).apply(params, x)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5 * float(jnp.abs(expected).max()))
