"""The hgreg-3d network (SPEC 2): stacked hourglass with a depth-regression head.

NHWC, flax.linen, pure. Parameter names are explicit and stable because they
are the checkpoint format (and `weights/convert.py` maps the authors' PyTorch
keys onto them). Outputs are named: {'heatmaps': [stacks, B, H/4, W/4, J],
'depth': [B, J]}, always float32 whatever the compute dtype. The layers and
their CPU forms are in layers.py and cpu_convs.py.
"""

import functools
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
from flax import linen as nn

from pose3d_jax.model.layers import layer_factories, max_pool_2x2, upsample_2x


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
      cpu_conv3x3: 3x3 convolutions in their XLA:CPU form (CpuConv3x3:
        Winograd, or a weight gradient summed over pieces); None picks by
        backend (CPU only). Same parameters, outputs and gradients either way.
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
    cpu_conv3x3: bool | None = None  # None: on the CPU backend only

    @nn.compact
    def __call__(self, images, train: bool = False):
        norm, conv = layer_factories(
            self.dtype,
            train=train,
            bn_axis_name=self.bn_axis_name,
            pointwise_as_dot=self.pointwise_as_dot,
            cpu_conv3x3=self.cpu_conv3x3,
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
