"""The network's predictions on stored evaluation crops, jitted and shared with training.

Training reuses `make_eval_predict_fn` for its periodic validation, so a
compilation is shared between calls with an equal model, resolution and
input convention.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from pose3d_jax import geometry, skeleton
from pose3d_jax.data import augment
from pose3d_jax.model import interface, network


def as_flat_batch(batch):
    """NumPy arrays with a [devices, per_device] leading pair merged into one axis."""
    batch = {k: np.asarray(v) for k, v in batch.items()}
    image = batch["image"]
    if image.ndim == 5:
        lead = image.shape[:2]
        batch = {
            k: v.reshape((-1, *v.shape[2:])) if v.shape[:2] == lead else v for k, v in batch.items()
        }
    return batch


def _device_inputs(batch):
    """The keys prepare_eval_batch reads, with neutral values for absent targets."""
    size = batch["image"].shape[0]
    joints = skeleton.NUM_JOINTS
    defaults = {
        "joints_2d": np.zeros((size, joints, 2), np.float32),
        "visible": np.zeros((size, joints), bool),
        "depth": np.zeros((size, joints), np.float32),
        "has_depth": np.zeros((size,), bool),
    }
    return {k: batch[k] if k in batch else defaults[k] for k in augment.INPUT_KEYS}


@functools.partial(
    jax.jit, static_argnames=("net", "input_res", "channel_order", "divisor", "flip")
)
def eval_predict(net, variables, inputs, *, input_res, channel_order, divisor, flip=False):
    """Centred crops of stored images -> decoded outputs (jitted; see make_eval_predict_fn)."""
    heatmap_res = input_res // interface.HEATMAP_STRIDE
    prepared = augment.prepare_eval_batch(inputs, input_res=input_res, heatmap_res=heatmap_res)
    convention = {"channel_order": channel_order, "divisor": divisor}
    images = interface.to_network_input(prepared["inputs"], convention, xp=jnp)
    outputs = network.apply_inference(net, variables, images, flip=flip)
    points, maxvals = geometry.decode_heatmaps(outputs["heatmaps"])
    return {
        "points": points,
        "confidence": maxvals,
        "joints_3d_hm": geometry.joints_3d_from_outputs(points, outputs["depth"], heatmap_res),
        "matrix": prepared["matrix"],
    }


def make_eval_predict_fn(net, variables, input_convention, *, input_res=256, flip=False):
    """fn(batch) -> NumPy predictions for a batch of stored crops.

    The batch's centred crop (augment.prepare_eval_batch) is fed in the
    checkpoint's input convention. A [devices, per_device] leading pair is
    merged and run on one device. Compilations are shared between calls with
    an equal model, input_res and convention (training can call this at every
    validation).

    Args:
      net: the flax module.
      variables: its {'params', 'batch_stats'}, unreplicated (one copy, not pmap's).
      input_convention: meta['input'] of the checkpoint (channel order, divisor).
      input_res: network input side; heatmaps are input_res / 4.
      flip: average with the mirrored crop's outputs (test-time flip).
    Returns:
      predict(batch) -> {'points' [B, J, 2] heatmap px, 'confidence' [B, J],
      'joints_3d_hm' [B, J, 3] heatmap units, 'matrix' [B, 2, 3] stored px -> input px}.
    """
    static = {
        "input_res": int(input_res),
        "channel_order": input_convention["channel_order"],
        "divisor": float(input_convention["divisor"]),
        "flip": bool(flip),
    }

    def predict_fn(batch):
        inputs = jax.tree.map(jnp.asarray, _device_inputs(as_flat_batch(batch)))
        return jax.device_get(eval_predict(net, variables, inputs, **static))

    predict_fn.heatmap_res = static["input_res"] // interface.HEATMAP_STRIDE
    predict_fn.input_res = static["input_res"]
    return predict_fn


def predict_fn_for(loaded: network.Network, flip=False):
    """make_eval_predict_fn for a restored network.Network."""
    return make_eval_predict_fn(
        loaded.model,
        loaded.variables,
        loaded.input_convention,
        input_res=loaded.input_res,
        flip=flip,
    )


@functools.partial(jax.jit, static_argnames=("input_res",))
def _prepared(inputs, *, input_res):
    prepared = augment.prepare_eval_batch(
        inputs, input_res=input_res, heatmap_res=input_res // interface.HEATMAP_STRIDE
    )
    return {"inputs": prepared["inputs"], "matrix": prepared["matrix"]}


def engine_predict_fn(engine, input_res, flip=False):
    """make_eval_predict_fn's contract for an inference engine (inference/engines.py):
    the same centred crops, cut by JAX, run by the engine (ONNX Runtime, OpenVINO at
    its precision) and decoded in NumPy, so a precision is scored by the protocols."""
    heatmap_res = int(input_res) // interface.HEATMAP_STRIDE

    def predict_fn(batch):
        inputs = jax.tree.map(jnp.asarray, _device_inputs(as_flat_batch(batch)))
        prepared = jax.device_get(_prepared(inputs, input_res=int(input_res)))
        outputs = engine(np.ascontiguousarray(prepared["inputs"], np.float32), flip=flip)
        points, maxvals = geometry.decode_heatmaps(outputs["heatmaps"], xp=np)
        return {
            "points": points,
            "confidence": maxvals,
            "joints_3d_hm": geometry.joints_3d_from_outputs(
                points, outputs["depth"], heatmap_res, xp=np
            ),
            "matrix": prepared["matrix"],
        }

    predict_fn.heatmap_res = heatmap_res
    predict_fn.input_res = int(input_res)
    return predict_fn
