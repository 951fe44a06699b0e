"""The network of SPEC 2 and the layers it is built from.

hourglass.py reads as the paper (Residual, Hourglass, HourglassNet); layers.py
holds pooling, upsampling and the choice of each convolution's form;
cpu_convs.py the XLA:CPU forms of the 1x1 and 3x3 convolutions, whose custom
gradients are the kernels rows_grad_dot.py, split_grad_conv.py and
winograd_conv.py; network.py
a checkpoint restored as a function (restore, check, run), which evaluation,
inference and export share; interface.py what its inputs and outputs mean
(no JAX: ONNX Runtime inference decodes with it). This package imports only
the foundation modules (skeleton, geometry, checkpoint): it knows no data,
training or inference.

The names below are resolved lazily, so importing pose3d_jax.model.interface
does not import flax.
"""

from pose3d_jax.runtime.lazy_names import lazy_names

_LAZY = {
    "PointwiseConv": "pose3d_jax.model.cpu_convs",
    "CpuConv3x3": "pose3d_jax.model.cpu_convs",
    "Hourglass": "pose3d_jax.model.hourglass",
    "HourglassNet": "pose3d_jax.model.hourglass",
    "Residual": "pose3d_jax.model.hourglass",
    "create_model": "pose3d_jax.model.hourglass",
    "model_meta": "pose3d_jax.model.hourglass",
    "conv_layer": "pose3d_jax.model.layers",
    "layer_factories": "pose3d_jax.model.layers",
    "max_pool_2x2": "pose3d_jax.model.layers",
    "pointwise_as_dot_by_default": "pose3d_jax.model.layers",
    "upsample_2x": "pose3d_jax.model.layers",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_names("pose3d_jax.model", _LAZY, globals())
