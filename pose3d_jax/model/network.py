"""The trained network as a function: restore, check, run under XLA.

Shared by evaluation (evaluation/), inference (inference/) and export
(deploy/). A checkpoint's meta carries everything needed, no config file; what
the inputs and outputs mean (the input convention of a checkpoint, RGB/255 for
Torch7 and this project, BGR/256 for the authors' PyTorch port, and the
decoding of heatmaps and depths) is interface.py, which needs no JAX.
"""

import dataclasses
import functools
import hashlib
import json
from typing import Any

import jax
import jax.numpy as jnp
from flax import traverse_util

from pose3d_jax import checkpoint, fileio
from pose3d_jax.model import hourglass, interface
from pose3d_jax.model.interface import DEFAULT_INPUT_RES, input_res_of


@dataclasses.dataclass(frozen=True)
class Network(interface.NetworkInfo):
    """A restored network and how to feed it: NetworkInfo's meta, step_dir and
    input_res, plus

    Attributes:
      model: the flax module (HourglassNet).
      variables: {'params', 'batch_stats'} on the default device.
    """

    model: Any
    variables: Any


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
    return Network(meta, step_dir, input_res, model=net, variables=jax.device_put(variables))


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
    return interface.flip_average(first, {k: v[batch:] for k, v in outputs.items()}, xp=jnp)


@functools.partial(jax.jit, static_argnums=0, static_argnames="flip")
def forward(net, variables, inputs, flip=False):
    """apply_inference, jitted (`net` is static): last-stack heatmaps and depths."""
    return apply_inference(net, variables, inputs, flip=flip)


def make_forward(net):
    """fn(variables, inputs, flip=False) = forward(net, ...); equal modules share compilations."""
    return functools.partial(forward, net)
