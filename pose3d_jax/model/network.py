"""The trained network as a function: restore, feed, decode, map back.

Shared by evaluation (evaluation/) and inference (predictor.py, images.py), so
the input convention of a checkpoint (RGB/255 for Torch7 and this project,
BGR/256 for the authors' PyTorch port) and the decoding of its outputs live
in one place. A checkpoint's meta carries everything needed; no config file.
"""

import dataclasses
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from pose3d_jax import checkpoint, fileio, geometry, skeleton
from pose3d_jax.model import hourglass

DEFAULT_INPUT_RES = 256
HEATMAP_STRIDE = 4  # heatmap pixels * 4 = input pixels


@dataclasses.dataclass(frozen=True)
class Network:
    """A restored network and how to feed it.

    Attributes:
      model: the flax module (HourglassNet).
      variables: {'params', 'batch_stats'} on the default device.
      meta: the checkpoint's meta dict.
      step_dir: the checkpoint step directory it came from (None if built in memory).
      input_res: side of the square network input (pixels).
    """

    model: Any
    variables: Any
    meta: dict
    step_dir: Path | None
    input_res: int

    @property
    def heatmap_res(self) -> int:
        return self.input_res // HEATMAP_STRIDE

    @property
    def input_convention(self) -> dict:
        return self.meta["input"]


def input_res_of(meta) -> int:
    """Network input side recorded in a checkpoint's meta (256 when absent)."""
    return int(meta.get("input", {}).get("res", DEFAULT_INPUT_RES))


def init_variables(net, input_res=DEFAULT_INPUT_RES, seed=0):
    """Randomly initialised variables of `net` for square inputs of `input_res`.

    The 'rbg' generator compiles about twice as fast as threefry on XLA:CPU;
    these weights only ever stand in for a trained model.
    """
    dummy = jnp.zeros((1, input_res, input_res, 3), jnp.float32)
    return jax.jit(net.init)(jax.random.key(seed, impl="rbg"), dummy)


def random_meta(model_config, input_res=DEFAULT_INPUT_RES, seed=0) -> dict:
    """Meta of an untrained checkpoint, labelled as such."""
    return {
        "model": hourglass.model_meta(model_config),
        "input": {**checkpoint.INPUT_RGB_255, "res": int(input_res)},
        "source": f"random initialisation (seed {seed}); UNTRAINED, predictions are meaningless",
        "provenance": checkpoint.provenance(checkpoint.UNTRAINED, seed=int(seed)),
    }


def write_random_checkpoint(directory, model_config, *, input_res=DEFAULT_INPUT_RES, seed=0):
    """Writes an untrained checkpoint (tests, the notebook's fallback); returns its step dir."""
    variables = init_variables(hourglass.create_model(model_config), input_res, seed)
    meta = random_meta(model_config, input_res, seed)
    return checkpoint.write_inference_checkpoint(directory, variables, meta)


def _check_input_convention(meta, where):
    convention = meta.get("input")
    if not isinstance(convention, dict) or convention.get("channel_order") not in ("rgb", "bgr"):
        raise checkpoint.CheckpointError(
            f"checkpoint '{where}' does not record its input convention (meta 'input' with "
            "channel_order 'rgb' or 'bgr' and a divisor); re-save or re-convert it."
        )
    if "model" not in meta:
        raise checkpoint.CheckpointError(
            f"checkpoint '{where}' does not record its model config (meta 'model'); "
            "re-save or re-convert it."
        )


def _shapes_file(model_config, input_res):
    from pose3d_jax.runtime import compile_cache

    root = compile_cache.cache_dir()
    if root is None:
        return None
    text = json.dumps([model_config, int(input_res), jax.__version__], sort_keys=True, default=str)
    return root / "variable_shapes" / f"{hashlib.sha256(text.encode()).hexdigest()[:24]}.json"


def abstract_variables(net, model_config, input_res):
    """The variables' shapes and dtypes for a model config (jax.ShapeDtypeStructs).

    Tracing the whole init for them takes ~2 s for the paper's network, a large part
    of a warm start, so they are kept beside the compilation cache (pure data of
    the config and the JAX version; off with it).
    """
    path = _shapes_file(model_config, input_res)
    if path is not None and path.exists():
        try:
            flat = json.loads(path.read_text())
            tree = {
                tuple(k.split("/")): jax.ShapeDtypeStruct(tuple(v[0]), v[1])
                for k, v in flat.items()
            }
            return traverse_util.unflatten_dict(tree)
        except (OSError, ValueError, TypeError):
            pass  # a damaged entry: trace again
    dummy = jnp.zeros((1, input_res, input_res, 3), jnp.float32)
    abstract = jax.eval_shape(net.init, jax.random.key(0), dummy)
    if path is not None:
        flat = traverse_util.flatten_dict(jax.tree.map(lambda a: a, abstract))
        record = {"/".join(k): [list(v.shape), str(v.dtype)] for k, v in flat.items()}
        try:
            fileio.write_json_atomic(path, record)
        except OSError:
            pass  # a read-only cache: no harm
    return abstract


def network_from_variables(variables, meta, step_dir=None) -> Network:
    """A Network from variables and meta, checked against the model the meta describes."""
    where = step_dir or "in memory"
    _check_input_convention(meta, where)
    try:
        net = hourglass.create_model(meta["model"])
    except (KeyError, TypeError, ValueError) as err:
        raise checkpoint.CheckpointError(
            f"checkpoint '{where}' has an unusable model config ({err!r}); "
            "re-save or re-convert it."
        ) from err
    input_res = input_res_of(meta)
    checkpoint.check_compatible(variables, abstract_variables(net, meta["model"], input_res), where)
    return Network(net, jax.device_put(variables), meta, step_dir, input_res)


def load_network(path=None) -> Network:
    """Restores a Network from a checkpoint path (a workdir, manager or step dir).

    With path None it looks in checkpoint.default_checkpoint_dir().

    Raises:
      checkpoint.CheckpointError with one sentence saying what to do.
    """
    if path is None:
        default = checkpoint.default_checkpoint_dir()
        if not default.exists():
            raise checkpoint.CheckpointError(
                f"no checkpoint at the default place {default}; run `make demo` to train a "
                "small one, or import the authors' weights with `python -m pose3d_jax.convert "
                "MODEL.pth --out DIR` and pass --checkpoint DIR (or set "
                f"{checkpoint.DEFAULT_CHECKPOINT_ENV}=DIR)."
            )
        path = default
    variables, meta, step_dir = checkpoint.load_variables(path)
    return network_from_variables(variables, meta, step_dir)


def to_network_input(images_rgb01, convention, xp=jnp):
    """Images in [0, 1], RGB, to the checkpoint's convention (channel order, divisor).

    [0, 1] RGB is x / 255 of 8-bit values; a BGR/256 checkpoint wants x / 256 in
    BGR order, so it gets the channels reversed and 255 / 256 of the value.
    """
    images = xp.asarray(images_rgb01, xp.float32)
    if convention["channel_order"] == "bgr":
        images = images[..., ::-1]
    return images * (255.0 / float(convention["divisor"]))


def mirror_outputs(outputs, xp=jnp):
    """Outputs of a mirrored image mapped back to the image: heatmaps mirrored in x,
    left and right joints swapped (skeleton.FLIP_PERMUTATION), depths swapped."""
    perm = np.asarray(skeleton.FLIP_PERMUTATION)
    heatmaps = xp.asarray(outputs["heatmaps"])[..., :, ::-1, :]
    return {"heatmaps": heatmaps[..., perm], "depth": xp.asarray(outputs["depth"])[..., perm]}


def flip_average(outputs, mirrored_outputs, xp=jnp):
    """Test-time flip: the mean of an image's outputs and its mirror's, mapped back."""
    back = mirror_outputs(mirrored_outputs, xp)
    return {k: 0.5 * (xp.asarray(outputs[k]) + back[k]) for k in ("heatmaps", "depth")}


def apply_inference(net, variables, inputs, *, flip=False):
    """{'heatmaps' [B, H, W, J] of the last stack, 'depth' [B, J]} for network inputs.

    With flip, the batch and its mirror image (x reversed) run as one batch of 2B
    and their outputs are averaged (flip_average).
    """
    batch = inputs.shape[0]
    if flip:
        inputs = jnp.concatenate([inputs, inputs[:, :, ::-1, :]], axis=0)
    outputs = net.apply(variables, inputs, train=False)
    outputs = {"heatmaps": outputs["heatmaps"][-1], "depth": outputs["depth"]}
    if not flip:
        return outputs
    first = {k: v[:batch] for k, v in outputs.items()}
    return flip_average(first, {k: v[batch:] for k, v in outputs.items()})


def decode_outputs(outputs, xp=jnp):
    """{'points' [B, J, 2] heatmap px, 'confidence' [B, J], 'depth' [B, J]} from the
    heatmaps and depths of apply_inference (or of an exported network)."""
    points, maxvals = geometry.decode_heatmaps(outputs["heatmaps"], xp=xp)
    return {"points": points, "confidence": maxvals, "depth": xp.asarray(outputs["depth"])}


@functools.partial(jax.jit, static_argnums=0, static_argnames="flip")
def forward(net, variables, inputs, flip=False):
    """apply_inference, jitted (`net` is static): last-stack heatmaps and depths."""
    return apply_inference(net, variables, inputs, flip=flip)


def make_forward(net):
    """fn(variables, inputs, flip=False) = forward(net, ...); equal modules share compilations."""
    return functools.partial(forward, net)


def heatmap_to_image(points, image_to_input, *, heatmap_res, input_res, xp=np):
    """Heatmap pixels -> input pixels (x input_res / heatmap_res) -> image pixels.

    Args:
      points: [..., J, 2] in heatmap pixels.
      image_to_input: [..., 2, 3] affine map from the image that was cropped to
        the network input (e.g. a batch's `matrix`).
    Returns:
      [..., J, 2] in that image's pixels.
    """
    points = xp.asarray(points) * (input_res / heatmap_res)
    return geometry.apply_affine(geometry.invert_affine(image_to_input, xp=xp), points, xp=xp)


def to_original_pixels(points, image_to_input, to_original, *, heatmap_res, input_res, xp=np):
    """Heatmap pixels -> stored image pixels -> original image pixels (`to_original`)."""
    stored = heatmap_to_image(
        points, image_to_input, heatmap_res=heatmap_res, input_res=input_res, xp=xp
    )
    return geometry.apply_affine(xp.asarray(to_original), stored, xp=xp)


def joints_3d_mm(points, depth, heatmap_res):
    """Pelvis-relative 3D joints [..., J, 3] in mm, scaled to the mean skeleton.

    The network's scale is unknown, so (as the H36M protocol does) the pose is
    scaled so its 14 bones sum to the H36M training set's mean skeleton. Axes
    follow the camera: x right, y down, z away from the camera.
    """
    joints = geometry.joints_3d_from_outputs(
        jnp.asarray(points), jnp.asarray(depth), heatmap_res=heatmap_res
    )
    return geometry.scale_to_bone_sum(
        np.asarray(joints, np.float64), skeleton.MEAN_SKELETON_BONE_SUM_MM
    )
