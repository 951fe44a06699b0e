"""Import of the authors' released PyTorch weights (SPEC 8) as an orbax checkpoint.

    python -m pose3d_jax.convert hgreg-3d.pth --out DIR [--trust-pickle]  (../convert.py)

The PyTorch port's module tree (SPEC 2) is mapped onto our parameter paths by
one table, `torch_key`, read in both directions: every tensor of our network
must come from the file and every tensor of the file must land in our network.
The architecture (stacks, modules, features, depth, ...) is read off the keys
and shapes, so there is nothing to configure. torch is imported only here and
only when a file is read (it is the optional `convert` extra).

The original's Torch7 files (`hgreg-3d.t7`, an nngraph gModule, from nn or cudnn
training) are read by torch7.py, which walks the graph into the port's keys; the
same table then maps them.
"""

import hashlib
import math
import re
import shutil
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from pose3d_jax import checkpoint
from pose3d_jax import model as model_lib
from pose3d_jax.weights import torch7
from pose3d_jax.weights.torch_io import ConversionError, looks_like_torch7, read_state_dict

__all__ = ["ConversionError", "convert", "describe", "infer_config", "key_table", "map_state"]

SOURCE_PROJECT = "xingyizhou/pytorch-pose-hg-3d (hourglass branch)"
TORCH7_PROJECT = "xingyizhou/pose-hg-3d (Torch7)"

# Our module name (one path segment) -> the PyTorch port's module name.
_MODULE_RULES = (
    (r"stem_conv", lambda m, nm: "conv1_"),
    (r"stem_bn", lambda m, nm: "bn1"),
    (r"stem_res_(\d)", lambda m, nm: ("r1", "r4", "r5")[int(m[1])]),
    (r"hourglass_(\d+)", lambda m, nm: f"hourglass.{m[1]}"),
    (r"up_(\d+)", lambda m, nm: f"up1_.{m[1]}"),
    (r"down_(\d+)", lambda m, nm: f"low1_.{m[1]}"),
    (r"inner", lambda m, nm: "low2"),
    (r"bottom_(\d+)", lambda m, nm: f"low2_.{m[1]}"),
    (r"after_(\d+)", lambda m, nm: f"low3_.{m[1]}"),
    (r"stack_(\d+)_res_(\d+)", lambda m, nm: f"Residual.{int(m[1]) * nm + int(m[2])}"),
    (r"stack_(\d+)_lin_conv", lambda m, nm: f"lin_.{m[1]}.0"),
    (r"stack_(\d+)_lin_bn", lambda m, nm: f"lin_.{m[1]}.1"),
    (r"stack_(\d+)_heatmaps", lambda m, nm: f"tmpOut.{m[1]}"),
    (r"stack_(\d+)_merge_features", lambda m, nm: f"ll_.{m[1]}"),
    (r"stack_(\d+)_merge_heatmaps", lambda m, nm: f"tmpOut_.{m[1]}"),
    (r"depth_res_(\d+)", lambda m, nm: f"reg_.{m[1]}"),
    (r"depth_dense", lambda m, nm: "reg"),
    # Inside a Residual.
    (r"bn_in", lambda m, nm: "bn"),
    (r"conv_reduce", lambda m, nm: "conv1"),
    (r"bn_reduce", lambda m, nm: "bn1"),
    (r"conv_spatial", lambda m, nm: "conv2"),
    (r"bn_spatial", lambda m, nm: "bn2"),
    (r"conv_expand", lambda m, nm: "conv3"),
    (r"skip", lambda m, nm: "conv4"),
)

# (collection, our leaf name) -> PyTorch tensor name.
_LEAF_NAMES = {
    ("params", "kernel"): "weight",
    ("params", "scale"): "weight",
    ("params", "bias"): "bias",
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
}

# PyTorch entries that carry no weights of the network.
_IGNORED_SUFFIXES = (".num_batches_tracked",)


def torch_key(path, num_modules):
    """The PyTorch state_dict key of one of our variables.

    Args:
      path: ('params' | 'batch_stats', module, ..., leaf), as flax names it.
      num_modules: residual modules per step (the port numbers the per-stack
        residuals of all stacks in one list).

    Returns:
      The key, e.g. 'hourglass.0.low2.up1_.1.conv2.weight'.
    """
    collection, *modules, leaf = path
    names = []
    for segment in modules:
        for pattern, rename in _MODULE_RULES:
            match = re.fullmatch(pattern, segment)
            if match:
                names.append(rename(match, num_modules))
                break
        else:
            raise ConversionError(
                f"no PyTorch name for our module '{segment}' in {'/'.join(path)}; "
                "model.py changed without convert._MODULE_RULES."
            )
    if (collection, leaf) not in _LEAF_NAMES:
        raise ConversionError(f"no PyTorch name for our variable {'/'.join(path)}.")
    return ".".join([*names, _LEAF_NAMES[(collection, leaf)]])


def key_table(abstract, num_modules):
    """{our variable path: PyTorch key} for every leaf of `abstract`."""
    flat = traverse_util.flatten_dict(abstract)
    return {path: torch_key(path, num_modules) for path in flat}


def torch_shape(shape):
    """The PyTorch layout of one of our shapes: conv HWIO -> OIHW, dense (in, out) -> (out, in)."""
    if len(shape) == 4:
        h, w, i, o = shape
        return (o, i, h, w)
    if len(shape) == 2:
        return tuple(reversed(shape))
    return tuple(shape)


def to_ours(array, shape, num_features):
    """One PyTorch tensor in our layout.

    The Linear before the depth output reads a flattened feature map: PyTorch
    flattens NCHW, we flatten NHWC, so its input axis is permuted too.
    """
    if len(shape) == 4:
        return np.transpose(array, (2, 3, 1, 0))
    if len(shape) == 2:
        n_out, n_in = array.shape
        side = math.isqrt(n_in // num_features)
        nchw = array.reshape(n_out, num_features, side, side)
        return np.transpose(nchw, (2, 3, 1, 0)).reshape(n_in, n_out)
    return array


def _indices(shapes, pattern):
    """The integers captured by `pattern` at the start of any key."""
    return {int(m[1]) for key in shapes if (m := re.match(pattern, key))}


def _count(shapes, label, where):
    """How many modules `label` (e.g. 'reg_.N') numbers: the largest N plus one."""
    pattern = re.escape(label).replace("N", r"(\d+)") + r"\."
    found = _indices(shapes, pattern)
    if not found:
        raise ConversionError(
            f"'{where}' is not an hgreg-3d checkpoint: it has no '{label}.*' tensors "
            "(expected the PyTorch port's module tree, SPEC 2)."
        )
    return max(found) + 1


def _shape_of(shapes, key, rank, where):
    shape = shapes.get(key)
    if shape is None or len(shape) != rank:
        got = "it is missing" if shape is None else f"its shape is {tuple(shape)}"
        raise ConversionError(
            f"'{where}' is not an hgreg-3d checkpoint: tensor '{key}' should have rank {rank} "
            f"but {got}."
        )
    return tuple(shape)


def infer_config(shapes, where="checkpoint"):
    """The network a PyTorch state_dict describes, read off its keys and shapes.

    Args:
      shapes: {PyTorch key: shape}.
      where: the file name, for messages.

    Returns:
      (model config dict for `model.create_model`, input image side in pixels).
    """
    num_stacks = _count(shapes, "hourglass.N", where)
    num_reg = _count(shapes, "reg_.N", where)
    if num_reg % 4:
        raise ConversionError(
            f"'{where}' has {num_reg} depth-head residuals ('reg_.N'); hgreg-3d has 4 groups "
            "of equal size, so the count must be a multiple of 4."
        )
    depth = 1 + max(
        (key.count("low2.") for key in shapes if key.startswith("hourglass.0.")), default=0
    )
    num_features = _shape_of(shapes, "r5.conv3.weight", 4, where)[0]
    num_joints = _shape_of(shapes, "tmpOut.0.weight", 4, where)[0]
    reg_in = _shape_of(shapes, "reg.weight", 2, where)[1]
    side = math.isqrt(reg_in // max(num_features, 1))
    if side * side * num_features != reg_in:
        raise ConversionError(
            f"'{where}': 'reg.weight' reads {reg_in} inputs, which is not a square map of "
            f"{num_features} features, so it does not fit the hgreg-3d depth head."
        )
    config = {
        "num_stacks": num_stacks,
        "num_modules": _count(shapes, "hourglass.0.up1_.N", where),
        "num_features": num_features,
        "num_reg_modules": num_reg // 4,
        "num_joints": num_joints,
        "hourglass_depth": depth,
        "dtype": "float32",
    }
    return config, 64 * side  # the stem divides by 4, the depth head by 16


def abstract_variables(config, input_size):
    """Shapes of our network's variables for square inputs of `input_size` pixels."""
    net = model_lib.create_model(config)
    images = jax.ShapeDtypeStruct((1, input_size, input_size, 3), jnp.float32)
    return jax.eval_shape(lambda x: net.init(jax.random.key(0), x, train=False), images)


def describe(config):
    return (
        f"{config['num_stacks']} stacks, {config['num_modules']} modules, "
        f"{config['num_features']} features, 4 x {config['num_reg_modules']} depth-head modules, "
        f"{config['num_joints']} joints, hourglass depth {config['hourglass_depth']}"
    )


def _listing(keys):
    more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    return ", ".join(f"'{k}'" for k in keys[:3]) + more


def map_state(state, config, input_size, where="checkpoint"):
    """Our {'params', 'batch_stats'} from a PyTorch state_dict, every tensor accounted for.

    Args:
      state: {PyTorch key: np.ndarray}.
      config: the model config (see `infer_config`).
      input_size: input image side the depth head was built for.
      where: the file name, for messages.

    Returns:
      Nested dicts of float32 NumPy arrays, in our layout.

    Raises:
      ConversionError: naming the first missing, unexpected or misshapen key.
    """
    abstract = abstract_variables(config, input_size)
    table = key_table(abstract, config["num_modules"])
    flat_abstract = traverse_util.flatten_dict(abstract)
    wanted = set(table.values())
    present = {k for k in state if not k.endswith(_IGNORED_SUFFIXES)}
    missing = sorted(wanted - present)
    unexpected = sorted(present - wanted)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected {_listing(unexpected)}")
        raise ConversionError(
            f"'{where}' does not match the hgreg-3d network its keys describe "
            f"({describe(config)}): {'; '.join(parts)}."
        )
    flat = {}
    for path, key in table.items():
        want = torch_shape(flat_abstract[path].shape)
        got = tuple(state[key].shape)
        if got != want:
            raise ConversionError(
                f"tensor '{key}' in '{where}' has shape {got}, but the hgreg-3d network its "
                f"keys describe ({describe(config)}) needs {want}."
            )
        array = np.asarray(state[key], dtype=np.float32)
        flat[path] = to_ours(array, flat_abstract[path].shape, config["num_features"])
    variables = traverse_util.unflatten_dict(flat)
    checkpoint.check_compatible(variables, abstract, where)
    return variables


def _check_out_dir(out):
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConversionError(
            f"output folder '{out}' already exists and is not empty; choose a new folder "
            "or remove it first."
        )


def write_atomically(out_dir, variables, meta):
    """Writes the checkpoint into a temporary sibling folder, then renames it into place,
    so a failed write leaves nothing at `out_dir`."""
    out = Path(out_dir).expanduser().absolute()
    _check_out_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        checkpoint.write_inference_checkpoint(tmp, variables, meta)
        if out.exists():
            out.rmdir()  # empty, checked above
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert(model_path, out_dir, *, trust_pickle=False):
    """Converts the authors' hgreg-3d weights (PyTorch or Torch7) into an orbax checkpoint.

    Args:
      model_path: a .pth holding a state_dict, {'state_dict': ...}, or a whole
        pickled model (the authors' release; needs `trust_pickle`); or the original's
        Torch7 .t7 (an nngraph gModule; needs no flag: its format runs no code).
      out_dir: new (or empty) folder for the checkpoint.
      trust_pickle: allow unpickling arbitrary objects, which can run code.

    Returns:
      (checkpoint folder, meta dict).

    Raises:
      ConversionError, CheckpointError: one sentence naming the problem and the fix.
    """
    model_path = Path(model_path).expanduser()
    out = Path(out_dir).expanduser().absolute()
    _check_out_dir(out)  # fail before the slow part
    if not model_path.is_file():
        raise ConversionError(f"weights file '{model_path}' does not exist (or is not a file).")
    from_torch7 = model_path.suffix.lower() == ".t7" or looks_like_torch7(model_path)
    if from_torch7:
        state = torch7.state_dict(torch7.load(model_path), model_path.name)
        form, project, convention = "torch7 nngraph gModule", TORCH7_PROJECT, "rgb255"
    else:
        state, form = read_state_dict(model_path, trust_pickle=trust_pickle)
        project, convention = SOURCE_PROJECT, "bgr256"
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    config, input_size = infer_config(shapes, model_path.name)
    variables = map_state(state, config, input_size, model_path.name)
    meta = {
        "model": model_lib.model_meta(config),
        "input": dict(
            checkpoint.INPUT_RGB_255 if convention == "rgb255" else checkpoint.INPUT_BGR_256,
            res=input_size,
        ),
        "source": {
            "file": model_path.name,
            "format": form,
            "sha256": _sha256(model_path),
            "project": project,
            "input_size": input_size,
            "converter": "pose3d_jax.convert",
        },
        "provenance": checkpoint.provenance(
            checkpoint.CONVERTED, trained_on="Human3.6M + MPII (the authors' recipe)"
        ),
    }
    return write_atomically(out, variables, meta), meta
