"""The layers every part of the network is built from, and the choice of their form.

Pooling and upsampling are written as reshapes (same values as flax's
reduce_window forms, much faster to differentiate on XLA:CPU); `layer_factories`
hands the network its BatchNorm and convolution constructors, picking the CPU
forms of cpu_convs.py on the CPU backend and flax's nn.Conv elsewhere.
"""

import functools

import jax
import jax.numpy as jnp
from flax import linen as nn

from pose3d_jax.model import split_grad_conv
from pose3d_jax.model.cpu_convs import CpuConv3x3, PointwiseConv

BN_MOMENTUM = 0.9  # PyTorch momentum 0.1
BN_EPSILON = 1e-5


def max_pool_2x2(x):
    """2x2 max pooling, stride 2, as a reshape and max.

    Same values as nn.max_pool; XLA:CPU differentiates this form several times
    faster than reduce_window.
    """
    b, h, w, c = x.shape
    return jnp.max(x.reshape(b, h // 2, 2, w // 2, 2, c), axis=(2, 4))


def upsample_2x(x):
    """Nearest-neighbour upsampling by 2 as a broadcast and reshape."""
    b, h, w, c = x.shape
    x = jnp.broadcast_to(x[:, :, None, :, None, :], (b, h, 2, w, 2, c))
    return x.reshape(b, 2 * h, 2 * w, c)


def conv_layer(features, kernel_size, *, pointwise_as_dot, cpu_conv3x3=False, **kwargs):
    """nn.Conv; or PointwiseConv for a plain 1x1 kernel (no strides or padding
    given) when pointwise_as_dot; or CpuConv3x3 for a stride-1 3x3 kernel with
    one pixel of padding when cpu_conv3x3."""
    plain = not {"strides", "padding"} & kwargs.keys()
    if pointwise_as_dot and plain and tuple(kernel_size) == (1, 1):
        return PointwiseConv(features, **kwargs)
    same_3x3 = tuple(kernel_size) == (3, 3) and "strides" not in kwargs
    if cpu_conv3x3 and same_3x3 and kwargs.get("padding") == split_grad_conv.PADDING:
        return CpuConv3x3(features, **{k: v for k, v in kwargs.items() if k != "padding"})
    return nn.Conv(features, kernel_size, **kwargs)


def pointwise_as_dot_by_default():
    """Matmul 1x1 convolutions on the CPU only: GPUs keep cuDNN's convolutions."""
    return jax.default_backend() == "cpu"


def layer_factories(
    dtype=jnp.float32,
    *,
    train,
    bn_axis_name=None,
    pointwise_as_dot=None,
    cpu_conv3x3=None,
):
    """(norm, conv): the BatchNorm and convolution constructors every layer of the
    network is built with (PyTorch's BatchNorm constants; the CPU forms of the
    1x1 and 3x3 convolutions where pointwise_as_dot / cpu_conv3x3, None:
    on the CPU backend only)."""
    norm = functools.partial(
        nn.BatchNorm,
        use_running_average=not train,
        momentum=BN_MOMENTUM,
        epsilon=BN_EPSILON,
        dtype=dtype,
        axis_name=bn_axis_name if train else None,
    )
    on_cpu = pointwise_as_dot_by_default()  # both CPU forms default to the CPU backend
    conv = functools.partial(
        conv_layer,
        dtype=dtype,
        pointwise_as_dot=on_cpu if pointwise_as_dot is None else pointwise_as_dot,
        cpu_conv3x3=on_cpu if cpu_conv3x3 is None else cpu_conv3x3,
    )
    return norm, conv
