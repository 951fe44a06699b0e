"""The hgreg-3d network (SPEC 2): stacked hourglass with a depth-regression head.

NHWC, flax.linen, pure. Parameter names are explicit and stable because they
are the checkpoint format (and `convert.py` maps the authors' PyTorch keys
onto them). Outputs are named: {'heatmaps': [stacks, B, H/4, W/4, J],
'depth': [B, J]}, always float32 whatever the compute dtype.
"""

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from pose3d_jax import rows_grad_dot, split_grad_conv

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


class SplitGradConv(nn.Module):
    """nn.Conv(features, (3, 3), padding=((1, 1), (1, 1))) whose weight gradient is
    summed over cache-sized pieces of the input (split_grad_conv.py; faster on XLA:CPU).

    Same parameters (kernel [3, 3, in, out], bias [out]), initialisation and
    values as that nn.Conv.
    """

    features: int
    dtype: Any = None
    param_dtype: Any = jnp.float32
    piece_elements: int = split_grad_conv.PIECE_ELEMENTS

    @nn.compact
    def __call__(self, x):
        x, kernel, bias = _conv_params(self, x, (3, 3))
        return split_grad_conv.conv3x3_split_grad(x, kernel, self.piece_elements) + bias


def conv_layer(features, kernel_size, *, pointwise_as_dot, split_weight_grads=False, **kwargs):
    """nn.Conv; or PointwiseConv for a plain 1x1 kernel (no strides or padding
    given) when pointwise_as_dot; or SplitGradConv for a stride-1 3x3 kernel with
    one pixel of padding when split_weight_grads."""
    plain = not {"strides", "padding"} & kwargs.keys()
    if pointwise_as_dot and plain and tuple(kernel_size) == (1, 1):
        return PointwiseConv(features, **kwargs)
    same_3x3 = tuple(kernel_size) == (3, 3) and "strides" not in kwargs
    if split_weight_grads and same_3x3 and kwargs.get("padding") == split_grad_conv.PADDING:
        return SplitGradConv(features, **{k: v for k, v in kwargs.items() if k != "padding"})
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
    split_weight_grads=None,
):
    """(norm, conv): the BatchNorm and convolution constructors every layer of the
    network is built with (PyTorch's BatchNorm constants; the CPU forms of the
    1x1 and 3x3 convolutions where pointwise_as_dot / split_weight_grads, None:
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
        split_weight_grads=on_cpu if split_weight_grads is None else split_weight_grads,
    )
    return norm, conv


class Residual(nn.Module):
    """BN-ReLU-conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1 plus a (projected) skip."""

    features: int
    norm: Callable[..., nn.Module]
    conv: Callable[..., nn.Module]

    @nn.compact
    def __call__(self, x):
        half = self.features // 2
        y = nn.relu(self.norm(name="bn_in")(x))
        y = self.conv(half, (1, 1), name="conv_reduce")(y)
        y = nn.relu(self.norm(name="bn_reduce")(y))
        y = self.conv(half, (3, 3), padding=((1, 1), (1, 1)), name="conv_spatial")(y)
        y = nn.relu(self.norm(name="bn_spatial")(y))
        y = self.conv(self.features, (1, 1), name="conv_expand")(y)
        skip = x
        if x.shape[-1] != self.features:
            skip = self.conv(self.features, (1, 1), name="skip")(x)
        return y + skip


class Hourglass(nn.Module):
    """One hourglass of the given depth: a skip branch and a pooled branch that
    recurses, upsampled and added back."""

    depth: int
    features: int
    num_modules: int
    residual: Callable[..., nn.Module]

    @nn.compact
    def __call__(self, x):
        def chain(y, prefix):
            for j in range(self.num_modules):
                y = self.residual(self.features, name=f"{prefix}_{j}")(y)
            return y

        up = chain(x, "up")
        low = chain(max_pool_2x2(x), "down")
        if self.depth > 1:
            low = Hourglass(
                self.depth - 1, self.features, self.num_modules, self.residual, name="inner"
            )(low)
        else:
            low = chain(low, "bottom")
        low = chain(low, "after")
        return up + upsample_2x(low)


class HourglassNet(nn.Module):
    """Stacked hourglass 2D heatmaps plus a per-joint depth regressed from the
    last stack's merged features (SPEC 2).

    Attributes:
      num_stacks: hourglass stacks (heatmaps are predicted after each).
      num_modules: residual modules per hourglass step.
      num_features: channels inside the hourglasses.
      num_reg_modules: residual modules before each pooling of the depth head.
      num_joints: joints (16, MPII order).
      hourglass_depth: number of poolings inside an hourglass (4).
      dtype: compute dtype (bfloat16 on GPUs); parameters stay float32.
      bn_axis_name: pmap axis over which BatchNorm statistics are averaged.
      remat: recompute residual activations in the backward pass to save memory.
      pointwise_as_dot: 1x1 convolutions as matmuls (PointwiseConv); None picks
        by backend (CPU only). Parameters and outputs are the same either way.
      split_weight_grads: 3x3 convolutions with their weight gradient summed over
        pieces of the input (SplitGradConv); None picks by backend (CPU only). Same
        parameters, outputs and gradients either way.
    """

    num_stacks: int = 2
    num_modules: int = 2
    num_features: int = 256
    num_reg_modules: int = 2
    num_joints: int = 16
    hourglass_depth: int = 4
    dtype: Any = jnp.float32
    bn_axis_name: str | None = None
    remat: bool = False
    pointwise_as_dot: bool | None = None  # None: on the CPU backend only
    split_weight_grads: bool | None = None  # None: on the CPU backend only

    @nn.compact
    def __call__(self, images, train: bool = False):
        norm, conv = layer_factories(
            self.dtype,
            train=train,
            bn_axis_name=self.bn_axis_name,
            pointwise_as_dot=self.pointwise_as_dot,
            split_weight_grads=self.split_weight_grads,
        )
        residual_cls = nn.remat(Residual) if self.remat else Residual
        residual = functools.partial(residual_cls, norm=norm, conv=conv)
        features = self.num_features

        x = images.astype(self.dtype)
        x = conv(64, (7, 7), strides=(2, 2), padding=((3, 3), (3, 3)), name="stem_conv")(x)
        x = nn.relu(norm(name="stem_bn")(x))
        x = residual(128, name="stem_res_0")(x)
        x = max_pool_2x2(x)
        x = residual(128, name="stem_res_1")(x)
        x = residual(features, name="stem_res_2")(x)

        heatmaps = []
        for i in range(self.num_stacks):
            y = Hourglass(
                self.hourglass_depth, features, self.num_modules, residual, name=f"hourglass_{i}"
            )(x)
            for j in range(self.num_modules):
                y = residual(features, name=f"stack_{i}_res_{j}")(y)
            y = conv(features, (1, 1), name=f"stack_{i}_lin_conv")(y)
            y = nn.relu(norm(name=f"stack_{i}_lin_bn")(y))
            stack_heatmaps = conv(self.num_joints, (1, 1), name=f"stack_{i}_heatmaps")(y)
            heatmaps.append(stack_heatmaps)
            # The 3D model merges after every stack, the last one included.
            x = (
                x
                + conv(features, (1, 1), name=f"stack_{i}_merge_features")(y)
                + conv(features, (1, 1), name=f"stack_{i}_merge_heatmaps")(stack_heatmaps)
            )

        for k in range(4):
            for j in range(self.num_reg_modules):
                x = residual(features, name=f"depth_res_{k * self.num_reg_modules + j}")(x)
            x = max_pool_2x2(x)
        x = x.reshape(x.shape[0], -1)
        depth = nn.Dense(self.num_joints, dtype=self.dtype, name="depth_dense")(x)
        return {
            "heatmaps": jnp.stack(heatmaps).astype(jnp.float32),
            "depth": depth.astype(jnp.float32),
        }


def create_model(config, *, bn_axis_name=None) -> HourglassNet:
    """The network described by a model config (a ConfigDict or a plain dict, as
    stored in a checkpoint's meta)."""
    config = dict(config)
    dtype = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float64": jnp.float64}[
        config.get("dtype", "float32")
    ]
    return HourglassNet(
        num_stacks=config["num_stacks"],
        num_modules=config["num_modules"],
        num_features=config["num_features"],
        num_reg_modules=config["num_reg_modules"],
        num_joints=config.get("num_joints", 16),
        hourglass_depth=config.get("hourglass_depth", 4),
        dtype=dtype,
        bn_axis_name=bn_axis_name,
        remat=config.get("remat", False),
    )


def model_meta(config) -> dict:
    """The model fields a checkpoint records so it can be rebuilt without a config file."""
    config = dict(config)
    keys = (
        "num_stacks",
        "num_modules",
        "num_features",
        "num_reg_modules",
        "num_joints",
        "hourglass_depth",
        "dtype",
    )
    defaults = {"num_joints": 16, "hourglass_depth": 4, "dtype": "float32"}
    return {k: config.get(k, defaults.get(k)) for k in keys}
