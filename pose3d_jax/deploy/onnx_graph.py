"""The inference network as an ONNX graph, written from a checkpoint's variables.

Why not a converter: jax2onnx (0.17) pins orbax-checkpoint below 0.11.37, which
this project's checkpoints need (0.12.8), and jax2tf in JAX 0.10 only emits
native StableHLO (an XlaCallModule op), which tf2onnx cannot read. The network
is small and fixed (SPEC 2), so the graph is written here node by node, in NCHW
like the authors' torch.onnx export, and `tests/test_export.py` checks it
against the flax model on real frames.

Inference-time simplifications, exact up to float rounding: a BatchNorm that
follows a convolution is folded into its weights; the pre-activation BatchNorms
(BN-ReLU-conv) stay BatchNormalization nodes. A stack's merge of its features
and heatmaps, two 1x1 convolutions in a row beside a third, is one convolution;
only the last stack's heatmaps are computed. Nearest upsampling is a Resize.
The graph's input is the crop in NHWC, RGB in [0, 1] (as Predictor makes it);
the checkpoint's channel order and divisor are folded into the first convolution.
Its outputs are the last stack's heatmaps [B, H/4, W/4, J] (NHWC, as flax
returns them) and the depths [B, J].
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from pose3d_jax.model import layers

OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAMES = ("heatmaps", "depth")


class _Graph:
    """Nodes and initialisers under construction; every method returns its output name."""

    def __init__(self):
        self.nodes, self.initializers, self._count = [], [], 0

    def name(self, prefix):
        self._count += 1
        return f"{prefix}_{self._count}"

    def constant(self, array, prefix="c"):
        name = self.name(prefix)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type, inputs, prefix=None, **attrs):
        out = self.name(prefix or op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def conv(self, x, params, norm=None, stride=1, relu=False):
        """A conv (kernel HWIO) with the BatchNorm that follows it folded in."""
        kernel = np.asarray(params["kernel"], np.float32)
        bias = np.asarray(params["bias"], np.float32)
        if norm is not None:
            scale, shift = _bn_affine(norm)
            kernel, bias = kernel * scale, bias * scale + shift
        weight = kernel.transpose(3, 2, 0, 1)  # HWIO -> OIHW
        kh = weight.shape[2]
        y = self.op(
            "Conv",
            [x, self.constant(weight, "w"), self.constant(bias, "b")],
            kernel_shape=[kh, kh],
            pads=[kh // 2] * 4,
            strides=[stride, stride],
        )
        return self.op("Relu", [y]) if relu else y

    def batch_norm_relu(self, x, norm):
        scale, shift = _bn_affine(norm)
        one = np.ones_like(scale)
        zero = np.zeros_like(scale)
        names = [self.constant(v) for v in (scale, shift, zero, one)]
        y = self.op("BatchNormalization", [x, *names], epsilon=0.0)
        return self.op("Relu", [y])

    def max_pool(self, x):
        return self.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])

    def upsample(self, x):
        """Nearest x2 as one Resize node, as torch.onnx writes nn.Upsample (measured ~8%
        faster in ONNX Runtime than a Reshape-Expand-Reshape broadcast at batch 8)."""
        scales = self.constant(np.array([1.0, 1.0, 2.0, 2.0], np.float32))
        return self.op(
            "Resize",
            [x, "", scales],
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )


def _bn_affine(norm):
    """(scale, shift) with BN(x) = x * scale + shift, from flax's params and statistics."""
    gamma, beta = np.asarray(norm["scale"], np.float64), np.asarray(norm["bias"], np.float64)
    mean, var = np.asarray(norm["mean"], np.float64), np.asarray(norm["var"], np.float64)
    scale = gamma / np.sqrt(var + layers.BN_EPSILON)
    return scale.astype(np.float32), (beta - mean * scale).astype(np.float32)


def _norm(params, stats, name):
    return {**params[name], **stats[name]}


def _residual(g, x, params, stats):
    """SPEC 2's Residual; its skip convolution exists exactly when the width changes."""
    y = g.batch_norm_relu(x, _norm(params, stats, "bn_in"))
    y = g.conv(y, params["conv_reduce"], _norm(params, stats, "bn_reduce"), relu=True)
    y = g.conv(y, params["conv_spatial"], _norm(params, stats, "bn_spatial"), relu=True)
    y = g.conv(y, params["conv_expand"])
    skip = g.conv(x, params["skip"]) if "skip" in params else x
    return g.op("Add", [y, skip])


def _chain(g, x, params, stats, prefix, count):
    for j in range(count):
        name = f"{prefix}_{j}"
        x = _residual(g, x, params[name], stats[name])
    return x


def _hourglass(g, x, params, stats, depth, num_modules):
    up = _chain(g, x, params, stats, "up", num_modules)
    low = _chain(g, g.max_pool(x), params, stats, "down", num_modules)
    if depth > 1:
        low = _hourglass(g, low, params["inner"], stats["inner"], depth - 1, num_modules)
    else:
        low = _chain(g, low, params, stats, "bottom", num_modules)
    low = _chain(g, low, params, stats, "after", num_modules)
    return g.op("Add", [up, g.upsample(low)])


def stem_for_rgb01(stem_params, input_convention):
    """The first convolution's parameters with the input convention folded in.

    The network sees x' = x[..., order] * 255 / divisor of the RGB [0, 1] crop x,
    so conv(x') = conv'(x) with the kernel's input channels in that order, times the factor.
    """
    kernel = np.asarray(stem_params["kernel"], np.float32)
    if input_convention["channel_order"] == "bgr":
        kernel = kernel[:, :, ::-1, :]
    factor = np.float32(255.0 / float(input_convention["divisor"]))
    return {**stem_params, "kernel": kernel * factor}


def merged_1x1(features, heatmaps, merge_heatmaps):
    """One 1x1 convolution for the stack's merge: ll(y) + merge(heatmaps(y)) is linear in y,
    kernel K_ll + K_hm K_mh and bias b_ll + b_hm K_mh + b_mh (computed in float64)."""

    def matrix(params):
        kernel = np.asarray(params["kernel"], np.float64)
        return kernel.reshape(kernel.shape[-2:]), np.asarray(params["bias"], np.float64)

    (k_ll, b_ll), (k_hm, b_hm), (k_mh, b_mh) = map(matrix, (features, heatmaps, merge_heatmaps))
    kernel = (k_ll + k_hm @ k_mh)[None, None].astype(np.float32)
    return {"kernel": kernel, "bias": (b_ll + b_hm @ k_mh + b_mh).astype(np.float32)}


def build_model(variables, model_config, input_res, input_convention, *, batch=None, metadata=None):
    """The network of `variables` (flax {'params', 'batch_stats'}) as an onnx.ModelProto.

    Args:
      model_config: the checkpoint's meta['model'] (num_stacks, num_modules, ...).
      input_convention: the checkpoint's meta['input'] (channel_order, divisor).
      input_res: square input side; heatmaps are input_res / 4.
      batch: a fixed batch size, or None for a dynamic 'batch' dimension.
      metadata: {key: str} written as the model's metadata properties.
    """
    p, s = variables["params"], variables.get("batch_stats", {})
    features, joints = model_config["num_features"], model_config.get("num_joints", 16)
    stacks, modules = model_config["num_stacks"], model_config["num_modules"]
    depth, reg_modules = model_config.get("hourglass_depth", 4), model_config["num_reg_modules"]
    g = _Graph()
    x = g.op("Transpose", [INPUT_NAME], perm=[0, 3, 1, 2])  # NHWC -> NCHW
    stem = stem_for_rgb01(p["stem_conv"], input_convention)
    x = g.conv(x, stem, _norm(p, s, "stem_bn"), stride=2, relu=True)
    x = _residual(g, x, p["stem_res_0"], s["stem_res_0"])
    x = g.max_pool(x)
    x = _residual(g, x, p["stem_res_1"], s["stem_res_1"])
    x = _residual(g, x, p["stem_res_2"], s["stem_res_2"])
    for i in range(stacks):
        name = f"hourglass_{i}"
        y = _hourglass(g, x, p[name], s[name], depth, modules)
        for j in range(modules):
            name = f"stack_{i}_res_{j}"
            y = _residual(g, y, p[name], s[name])
        y = g.conv(y, p[f"stack_{i}_lin_conv"], _norm(p, s, f"stack_{i}_lin_bn"), relu=True)
        if i == stacks - 1:  # only the last stack's heatmaps are an output
            heatmaps = g.conv(y, p[f"stack_{i}_heatmaps"])
        merge = merged_1x1(
            p[f"stack_{i}_merge_features"], p[f"stack_{i}_heatmaps"], p[f"stack_{i}_merge_heatmaps"]
        )
        x = g.op("Add", [x, g.conv(y, merge)])
    for k in range(4):
        for j in range(reg_modules):
            name = f"depth_res_{k * reg_modules + j}"
            x = _residual(g, x, p[name], s[name])
        x = g.max_pool(x)
    x = g.op("Flatten", [x], axis=1)  # NCHW order; the dense kernel is permuted to match
    dense = p["depth_dense"]
    side = input_res // 64
    kernel = np.asarray(dense["kernel"], np.float32).reshape(side, side, features, joints)
    kernel = kernel.transpose(2, 0, 1, 3).reshape(-1, joints)  # rows (h, w, c) -> (c, h, w)
    bias = np.asarray(dense["bias"], np.float32)
    depth_out = g.op("Gemm", [x, g.constant(kernel), g.constant(bias)])
    g.nodes.append(helper.make_node("Identity", [depth_out], [OUTPUT_NAMES[1]]))
    g.nodes.append(helper.make_node("Transpose", [heatmaps], [OUTPUT_NAMES[0]], perm=[0, 2, 3, 1]))
    b = "batch" if batch is None else int(batch)
    hm = input_res // 4
    graph = helper.make_graph(
        g.nodes,
        "hgreg3d",
        [
            helper.make_tensor_value_info(
                INPUT_NAME, TensorProto.FLOAT, [b, input_res, input_res, 3]
            )
        ],
        [
            helper.make_tensor_value_info(OUTPUT_NAMES[0], TensorProto.FLOAT, [b, hm, hm, joints]),
            helper.make_tensor_value_info(OUTPUT_NAMES[1], TensorProto.FLOAT, [b, joints]),
        ],
        g.initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="pose3d_jax"
    )
    model.ir_version = 8  # readable by onnxruntime >= 1.10
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=str(value))
    onnx.checker.check_model(model)
    return model
