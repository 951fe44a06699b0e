"""A 3x3 same-padded convolution by Winograd's minimal filtering, F(4x4, 3x3).

XLA:CPU runs a 3x3 convolution directly (YNNPACK or Eigen), 9 multiply-adds
per output and input channel; on the README's 2-core machine its training step
(value, input and weight gradients) at 64x64x128, batch 6, took 98 ms against
PyTorch's 79, and twelve of the network's 3x3 convolutions have that shape.
Winograd's algorithm (Lavin and Gray, "Fast Algorithms for Convolutional Neural
Networks", CVPR 2016, arXiv:1509.09308) computes each 4x4 block of outputs from
a 6x6 block of input as 36 independent channel matmuls, 2.25 multiplies instead
of 9 per output: the forward pass is transform -> 36 batched matmuls ->
inverse transform, and both gradients are the same three steps (the input
gradient is the Winograd convolution of dy with the flipped, transposed
kernel; the weight gradient is 36 matmuls of the stored input tiles with the
transposed output transform of dy). Measured with the train step's malloc
settings, training step in ms, direct (split_grad_conv) -> Winograd, batch 6:
64x64x128 100 -> 71, 96x96x128 227 -> 138, 32x32x128 25 -> 19, 64x64x64 32 ->
25, 32x32x64 12.7 -> 7.6, 128x128x64 105 -> 107 (even); but 16x16x128 6.5 ->
7.8 and 8x8x128 2.4 -> 5.8: below 32x32 the transforms' fixed costs outweigh
the saved multiplies, so `suits` takes sides of 32 and more. The transforms
are reshapes into blocks of 4 rows (or columns) and slices of those blocks:
strided slicing of the padded input was 4x slower (22 against 5 ms at
64x64x128).
Values and gradients match the direct convolution to about 1e-5 relative
(float32); the transforms' constants amplify rounding, so bfloat16 keeps the
direct form.
"""

import jax
import jax.numpy as jnp
import numpy as np

# F(4x4, 3x3) of Lavin and Gray (2016), interpolation points 0, +-1, +-2, inf.
INPUT_TRANSFORM = np.array(  # B^T, 6x6
    [
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ],
    np.float64,
)
KERNEL_TRANSFORM = np.array(  # G, 6x3
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ],
    np.float64,
)
OUTPUT_TRANSFORM = np.array(  # A^T, 4x6
    [
        [1, 1, 1, 1, 1, 0],
        [0, 1, -1, 2, -2, 0],
        [0, 1, 1, 4, 4, 0],
        [0, 1, -1, 8, -8, 1],
    ],
    np.float64,
)
TILE = 4  # outputs per tile side
MIN_SIDE = 32  # smaller maps are faster direct (see the module docstring)
MIN_CHANNELS = 64  # measured down to 64; narrower layers save too little


def suits(shape, out_features, dtype) -> bool:
    """Whether an NHWC float32 input of this shape, convolved to out_features
    channels, is faster by Winograd on XLA:CPU: sides multiples of 4 and at
    least MIN_SIDE, both channel counts at least MIN_CHANNELS."""
    _, height, width, channels = shape
    return (
        jnp.dtype(dtype) == jnp.float32
        and height % TILE == 0
        and width % TILE == 0
        and min(height, width) >= MIN_SIDE
        and min(channels, out_features) >= MIN_CHANNELS
    )


def _combine(coefficients, terms):
    """sum(c * t) skipping zeros and multiplying only where |c| != 1."""
    total = None
    for c, term in zip(coefficients, terms, strict=True):
        if c == 0:
            continue
        scaled = term if c == 1 else -term if c == -1 else term * c
        total = scaled if total is None else total + scaled
    return total


def input_tiles(x):
    """[N, H, W, C] -> [36, N*(H/4)*(W/4), C]: B^T d B of each 6x6 input block
    (one pixel of zero padding, blocks overlapping by two)."""
    n, h, w, c = x.shape
    th, tw = h // TILE, w // TILE
    padded = jnp.pad(x, ((0, 0), (1, 3), (1, 3), (0, 0)))  # sides 4 * (tiles + 1)
    row_blocks = padded.reshape(n, th + 1, TILE, w + 4, c)
    rows = [row_blocks[:, :th, a] for a in range(4)] + [row_blocks[:, 1:, a] for a in range(2)]
    by_rows = jnp.stack([_combine(INPUT_TRANSFORM[i], rows) for i in range(6)])
    col_blocks = by_rows.reshape(6, n, th, tw + 1, TILE, c)
    cols = [col_blocks[:, :, :, :tw, b] for b in range(4)]
    cols += [col_blocks[:, :, :, 1:, b] for b in range(2)]
    tiles = jnp.stack([_combine(INPUT_TRANSFORM[j], cols) for j in range(6)], axis=1)
    return tiles.reshape(36, n * th * tw, c)


def output_tiles(m, n, th, tw):
    """[36, N*th*tw, C] -> [N, 4*th, 4*tw, C]: A^T m A of each tile."""
    c = m.shape[-1]
    m = m.reshape(6, 6, n, th, tw, c)
    by_rows = [_combine(OUTPUT_TRANSFORM[r], [m[i] for i in range(6)]) for r in range(TILE)]
    blocks = [
        jnp.stack(
            [_combine(OUTPUT_TRANSFORM[s], [row[j] for j in range(6)]) for s in range(TILE)], axis=3
        )
        for row in by_rows
    ]  # each [N, th, tw, 4, C]
    return jnp.stack(blocks, axis=2).reshape(n, TILE * th, TILE * tw, c)


def output_tiles_transposed(dy):
    """The transpose of output_tiles: [N, 4*th, 4*tw, C] -> [36, N*th*tw, C], A dy A^T."""
    n, h, w, c = dy.shape
    th, tw = h // TILE, w // TILE
    row_blocks = dy.reshape(n, th, TILE, w, c)
    rows = [row_blocks[:, :, r] for r in range(TILE)]
    by_rows = jnp.stack([_combine(OUTPUT_TRANSFORM[:, i], rows) for i in range(6)])
    col_blocks = by_rows.reshape(6, n, th, tw, TILE, c)
    cols = [col_blocks[:, :, :, :, s] for s in range(TILE)]
    tiles = jnp.stack([_combine(OUTPUT_TRANSFORM[:, j], cols) for j in range(6)], axis=1)
    return tiles.reshape(36, n * th * tw, c)


def kernel_tiles(kernel):
    """[3, 3, I, O] -> [36, I, O]: G g G^T."""
    g = jnp.asarray(KERNEL_TRANSFORM, kernel.dtype)
    tiles = jnp.einsum("xa,abio->xbio", g, kernel)
    tiles = jnp.einsum("yb,xbio->xyio", g, tiles)
    return tiles.reshape(36, *kernel.shape[2:])


def kernel_tiles_transposed(tile_grads):
    """The transpose of kernel_tiles: [36, I, O] -> [3, 3, I, O], G^T u G."""
    g = jnp.asarray(KERNEL_TRANSFORM, tile_grads.dtype)
    u = tile_grads.reshape(6, 6, *tile_grads.shape[1:])
    u = jnp.einsum("xa,xyio->ayio", g, u)
    return jnp.einsum("yb,ayio->abio", g, u)


def _tile_products(tiles, kernel):
    return jnp.einsum("tpi,tio->tpo", tiles, kernel_tiles(kernel))


def _convolve(x, kernel):
    n, h, w, _ = x.shape
    return output_tiles(_tile_products(input_tiles(x), kernel), n, h // TILE, w // TILE)


@jax.custom_vjp
def conv3x3_winograd(x, kernel):
    """The stride-1, zero-padded-by-one 3x3 convolution of NHWC x with an HWIO kernel."""
    return _convolve(x, kernel)


def _forward(x, kernel):
    n, h, w, _ = x.shape
    tiles = input_tiles(x)
    y = output_tiles(_tile_products(tiles, kernel), n, h // TILE, w // TILE)
    return y, (tiles, kernel)


def _backward(residuals, dy):
    tiles, kernel = residuals
    flipped = jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)  # correlation's adjoint
    dx = _convolve(dy, flipped)
    tile_grads = jnp.einsum("tpi,tpo->tio", tiles, output_tiles_transposed(dy))
    return dx, kernel_tiles_transposed(tile_grads)


conv3x3_winograd.defvjp(_forward, _backward)
