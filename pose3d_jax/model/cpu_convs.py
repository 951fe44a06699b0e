"""XLA:CPU forms of the network's 1x1 and 3x3 convolutions (same parameters as nn.Conv).

Both are flax modules with nn.Conv's parameter names, shapes and initialisers,
so a checkpoint does not depend on which form trained it; they differ only in
how XLA:CPU computes them and their gradients (see rows_grad_dot.py,
split_grad_conv.py and winograd_conv.py for the kernels and the measurements
behind them).
"""

from typing import Any

import jax.numpy as jnp
from flax import linen as nn

from pose3d_jax.model import rows_grad_dot, split_grad_conv, winograd_conv


def _conv_params(module, x, kernel_size):
    """nn.Conv's kernel [*kernel_size, in, out] and bias [out] (same names, shapes and
    initialisers, so checkpoints are shared), promoted with x to module.dtype."""
    kernel = module.param(
        "kernel",
        nn.linear.default_kernel_init,  # nn.Conv's
        (*kernel_size, x.shape[-1], module.features),
        module.param_dtype,
    )
    zeros = nn.initializers.zeros_init()
    bias = module.param("bias", zeros, (module.features,), module.param_dtype)
    return nn.dtypes.promote_dtype(x, kernel, bias, dtype=module.dtype)


class PointwiseConv(nn.Module):
    """A 1x1 convolution as one matmul over the channels.

    Same parameters (kernel [1, 1, in, out], bias [out]), initialisation and
    values as nn.Conv(features, (1, 1)); XLA:CPU runs this form and its
    gradients 2-3x faster than a 1x1 convolution, and two thirds of this
    network's convolutions are 1x1. The weight gradient is one matmul over the
    pixels as rows (rows_grad_dot.py).
    """

    features: int
    dtype: Any = None
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        x, kernel, bias = _conv_params(self, x, (1, 1))
        return rows_grad_dot.matmul_rows_grad(x, kernel[0, 0]) + bias


class CpuConv3x3(nn.Module):
    """nn.Conv(features, (3, 3), padding=((1, 1), (1, 1))) in XLA:CPU's fastest form:
    Winograd F(4x4, 3x3) where winograd_conv.suits the layer (float32, sides of
    32 or more, 64 channels or more), else the direct convolution with its weight
    gradient summed over cache-sized pieces (split_grad_conv.py).

    Same parameters (kernel [3, 3, in, out], bias [out]), initialisation and
    values (to float rounding) as that nn.Conv.
    """

    features: int
    dtype: Any = None
    param_dtype: Any = jnp.float32
    piece_elements: int = split_grad_conv.PIECE_ELEMENTS
    winograd: bool = True  # False: always the direct form

    @nn.compact
    def __call__(self, x):
        x, kernel, bias = _conv_params(self, x, (3, 3))
        if self.winograd and winograd_conv.suits(x.shape, self.features, x.dtype):
            return winograd_conv.conv3x3_winograd(x, kernel) + bias
        return split_grad_conv.conv3x3_split_grad(x, kernel, self.piece_elements) + bias
