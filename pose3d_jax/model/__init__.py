"""The network of SPEC 2 and the layers it is built from.

hourglass.py reads as the paper (Residual, Hourglass, HourglassNet); layers.py
holds pooling, upsampling and the choice of each convolution's form;
cpu_convs.py the XLA:CPU forms of the 1x1 and 3x3 convolutions, whose custom
gradients are the kernels rows_grad_dot.py and split_grad_conv.py; network.py
a checkpoint restored as a function (restore, feed, decode), which evaluation,
inference and export share. This package imports only the foundation modules
(skeleton, geometry, checkpoint): it knows no data, training or inference.
"""

from pose3d_jax.model.cpu_convs import PointwiseConv, SplitGradConv
from pose3d_jax.model.hourglass import Hourglass, HourglassNet, Residual, create_model, model_meta
from pose3d_jax.model.layers import (
    conv_layer,
    layer_factories,
    max_pool_2x2,
    pointwise_as_dot_by_default,
    upsample_2x,
)

__all__ = [
    "Hourglass",
    "HourglassNet",
    "PointwiseConv",
    "Residual",
    "SplitGradConv",
    "conv_layer",
    "create_model",
    "layer_factories",
    "max_pool_2x2",
    "model_meta",
    "pointwise_as_dot_by_default",
    "upsample_2x",
]
