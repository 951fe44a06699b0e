"""A 3x3 same-padded convolution whose weight gradient is summed over pieces.

XLA:CPU computes a convolution's weight gradient as one convolution over the
whole batch whose "kernel" is the whole output gradient; once that working set
no longer stays in the caches, the weight gradient ran at under half the speed
of the forward pass. The same sum taken over pieces of the input (a few
samples, or a band of rows of one sample with a one-row halo on each side)
keeps each piece cache-sized. Measured on the README's 2-core machine, batch 6,
weight gradient alone: 64x64x128 39 ms whole, 31 ms in 6 one-sample pieces, 24
ms in 24 bands of 16 rows (the forward pass: 17 ms); 128x128x64 92 ms whole, 37
ms in 16-row bands; 32x32x128 9.0 ms whole, 5.9 ms per sample (bands of it were
slower); 16x16x128 fastest whole. In each case the fastest piece held about
2**17 elements (512 KiB of float32) of each operand. The values are those of
the plain convolution up to float summation order. Since 2026-12-07 the layers
of 32x32 and more with 64 channels or more take Winograd instead
(winograd_conv.py); this form keeps the smaller and the bfloat16 ones.
"""

import functools

import jax
import jax.numpy as jnp

DIMENSIONS = ("NHWC", "HWIO", "NHWC")
PADDING = ((1, 1), (1, 1))
PIECE_ELEMENTS = 2**17  # elements of x (and of dy) per piece: the fastest size measured
MAX_PIECES = 48  # each piece is one more convolution in the compiled step


def conv3x3(x, kernel, padding=PADDING):
    """The plain convolution: stride 1, one pixel of zero padding (nn.Conv's)."""
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), padding, dimension_numbers=DIMENSIONS)


def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def piece_shape(shape, piece_elements=PIECE_ELEMENTS) -> tuple[int, int]:
    """(samples, rows) of each piece the weight gradient of an NHWC input of this
    shape is summed over: the whole batch when one sample is below a piece's
    size, else bands of the most rows that fit in one, over as few samples as
    keep the number of pieces at most MAX_PIECES."""
    batch, height, width, channels = shape
    row_elements = width * channels
    if height * row_elements < piece_elements:
        return batch, height
    rows = max(r for r in _divisors(height) if r == 1 or r * row_elements <= piece_elements)
    bands = height // rows
    samples = min(s for s in _divisors(batch) if s == batch or (batch // s) * bands <= MAX_PIECES)
    return samples, rows


def _band_weight_gradient(x_band, dy_band, kernel):
    """The kernel gradient from one band: x_band has a halo row above and below
    (zeros at the image's edges), so only the width is padded here."""

    _, kernel_vjp = jax.vjp(lambda k: conv3x3(x_band, k, ((0, 0), PADDING[1])), kernel)
    return kernel_vjp(dy_band)[0]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv3x3_split_grad(x, kernel, piece_elements=PIECE_ELEMENTS):
    """conv3x3(x, kernel), its kernel gradient summed over the pieces of piece_shape."""
    return conv3x3(x, kernel)


def _forward(x, kernel, piece_elements):
    return conv3x3(x, kernel), (x, kernel)


def _backward(piece_elements, residuals, dy):
    x, kernel = residuals
    _, input_vjp = jax.vjp(lambda v: conv3x3(v, kernel), x)
    (dx,) = input_vjp(dy)
    batch, height = x.shape[:2]
    samples, rows = piece_shape(x.shape, piece_elements)
    x_rows_padded = jnp.pad(x, ((0, 0), PADDING[0], (0, 0), (0, 0)))
    total_dtype = jnp.promote_types(kernel.dtype, jnp.float32)  # bf16 pieces add in f32
    dk = sum(
        _band_weight_gradient(
            x_rows_padded[n : n + samples, r : r + rows + 2],
            dy[n : n + samples, r : r + rows],
            kernel,
        ).astype(total_dtype)
        for n in range(0, batch, samples)
        for r in range(0, height, rows)
    )
    return dx, dk.astype(kernel.dtype)


conv3x3_split_grad.defvjp(_forward, _backward)
