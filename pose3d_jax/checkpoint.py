"""Orbax checkpoints: one layout for training, inference and imported weights.

A checkpoint step directory holds up to three items:
  model  {'params', 'batch_stats'}             what inference needs
  train  {'opt_state', 'step', 'rng'}          what resuming needs (absent in imports)
  meta   JSON: model config, input convention, data/training provenance

A training workdir keeps `checkpoints/<step>` (the last K) and `best/<step>`
(the best by a validation metric). Anything that takes a checkpoint accepts a
workdir, a manager directory, or one step directory.

Finding a step directory and reading its meta need neither JAX nor orbax
(the ONNX Runtime start of `infer` uses only those); saving and restoring
import them when called.
"""

import json
import os
from pathlib import Path

DEFAULT_CHECKPOINT_ENV = "POSE3D_JAX_CHECKPOINT"
LATEST_DIR = "checkpoints"
BEST_DIR = "best"

# How images are turned into network input for weights of each origin.
INPUT_RGB_255 = {"channel_order": "rgb", "divisor": 255.0}  # Torch7 and this project
INPUT_BGR_256 = {"channel_order": "bgr", "divisor": 256.0}  # the authors' PyTorch port


# What a checkpoint's weights were trained on (meta['provenance']['kind']).
TRAINED_ON_SYNTHETIC = "synthetic"  # this project's generator (the demo)
TRAINED_ON_RELEASE = "release"  # the real datasets' releases
CONVERTED = "converted"  # the authors' released weights, imported
UNTRAINED = "untrained"  # random initialisation
UNKNOWN = "unknown"  # older checkpoints that did not record it
PROVENANCE_WARNINGS = {
    TRAINED_ON_SYNTHETIC: (
        "this checkpoint was trained on synthetic figures (the demo), not on people: its "
        "poses of real photos are meaningless; convert the authors' weights for real ones "
        "(python -m pose3d_jax.convert, see README)"
    ),
    UNTRAINED: "this checkpoint is UNTRAINED (random initialisation): its poses are noise",
}


class CheckpointError(Exception):
    """A checkpoint that is missing or does not fit; the message says the fix."""


def default_checkpoint_dir() -> Path:
    """Where `make demo` writes its model and where inference looks by default."""
    env = os.environ.get(DEFAULT_CHECKPOINT_ENV)
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/pose3d_jax/demo").expanduser()


def provenance(kind, **detail) -> dict:
    """A meta['provenance'] entry: what the weights were trained on, and details."""
    return {"kind": kind, **detail}


def provenance_kind(meta) -> str:
    """The provenance kind a meta records; older metas are recognised by their 'source'."""
    recorded = meta.get("provenance")
    if isinstance(recorded, dict) and recorded.get("kind"):
        return recorded["kind"]
    source = meta.get("source")
    if isinstance(source, str) and "UNTRAINED" in source:
        return UNTRAINED
    if isinstance(source, dict) and source.get("converter") == "pose3d_jax.convert":
        return CONVERTED
    return UNKNOWN


def provenance_warning(meta) -> str | None:
    """One line to show a user when the weights cannot give real poses, else None."""
    return PROVENANCE_WARNINGS.get(provenance_kind(meta))


def manager(directory, *, max_to_keep=3, best_metric=None, best_mode="max", with_train=True):
    """A CheckpointManager for `directory` (created if needed).

    With `best_metric`, it keeps the `max_to_keep` best steps by that metric.
    """
    import orbax.checkpoint as ocp

    items = ("model", "train", "meta") if with_train else ("model", "meta")
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep,
        create=True,
        best_fn=(lambda metrics: metrics[best_metric]) if best_metric else None,
        best_mode=best_mode,
    )
    return ocp.CheckpointManager(Path(directory).absolute(), item_names=items, options=options)


def save_args(model_vars, meta, train_vars=None):
    """orbax Composite args for one save."""
    import orbax.checkpoint as ocp

    items = {
        "model": ocp.args.StandardSave(model_vars),
        "meta": ocp.args.JsonSave(meta),
    }
    if train_vars is not None:
        items["train"] = ocp.args.StandardSave(train_vars)
    return ocp.args.Composite(**items)


def write_inference_checkpoint(directory, variables, meta, step=0):
    """Writes model variables and meta as a one-step checkpoint (used by imports)."""
    import jax

    variables = jax.device_get(variables)
    mgr = manager(directory, max_to_keep=1, with_train=False)
    mgr.save(step, args=save_args(variables, meta), force=True)
    mgr.wait_until_finished()
    mgr.close()
    return Path(directory) / str(step)


def _latest_step_dir(directory: Path) -> Path | None:
    steps = [p for p in directory.iterdir() if p.is_dir() and p.name.isdigit()]
    if not steps:
        return None
    return max(steps, key=lambda p: int(p.name))


def resolve_step_dir(path) -> Path:
    """The step directory a user meant by `path` (see module docstring).

    A workdir resolves to its best step if it has one, else its latest.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(
            f"checkpoint '{path}' does not exist; train one with `make demo` or "
            "`python launch.py --config=configs/stage1.py --workdir=DIR`, or import the "
            "authors' weights with `python -m pose3d_jax.convert MODEL.pth --out DIR`."
        )
    if (path / "model").is_dir() and (path / "meta").is_dir():
        return path
    for sub in (BEST_DIR, LATEST_DIR):
        if (path / sub).is_dir():
            found = _latest_step_dir(path / sub)
            if found is not None:
                return found
    found = _latest_step_dir(path) if path.is_dir() else None
    if found is not None and (found / "model").is_dir():
        return found
    raise CheckpointError(
        f"'{path}' holds no pose3d_jax checkpoint (expected a step folder with 'model' and "
        "'meta'); pass a training workdir, its checkpoints/ folder, or one step folder."
    )


def read_meta(step_dir) -> dict:
    """The meta item (JSON) of a step directory."""
    meta_dir = Path(step_dir) / "meta"
    files = sorted(meta_dir.glob("*"))
    for f in files:
        if f.is_file() and not f.name.startswith("_"):
            try:
                return json.loads(f.read_text())
            except json.JSONDecodeError:
                continue
    raise CheckpointError(f"checkpoint '{step_dir}' has no readable meta item.")


def load_variables(path):
    """Restores {'params', 'batch_stats'} and the meta dict from a checkpoint.

    Arrays come back as NumPy on the host; callers place them on devices.
    """
    import jax
    import numpy as np
    import orbax.checkpoint as ocp

    step_dir = resolve_step_dir(path)
    meta = read_meta(step_dir)
    with ocp.StandardCheckpointer() as checkpointer:
        try:
            variables = checkpointer.restore((step_dir / "model").absolute())
        except Exception as err:  # orbax raises several types for damaged files
            raise CheckpointError(
                f"could not read the model of checkpoint '{step_dir}' ({err}); "
                "it may be incomplete: use an earlier step or train again."
            ) from err
    variables = jax.tree_util.tree_map(np.asarray, variables)
    return variables, meta, step_dir


def check_compatible(variables, abstract_variables, where):
    """Raises a clear error when restored variables do not fit the model."""
    import jax
    import numpy as np

    got = jax.tree_util.tree_flatten_with_path(variables)[0]
    want = jax.tree_util.tree_flatten_with_path(abstract_variables)[0]
    got_shapes = {jax.tree_util.keystr(k): np.shape(v) for k, v in got}
    want_shapes = {jax.tree_util.keystr(k): tuple(v.shape) for k, v in want}
    missing = sorted(set(want_shapes) - set(got_shapes))
    extra = sorted(set(got_shapes) - set(want_shapes))
    wrong = sorted(
        k for k in want_shapes.keys() & got_shapes.keys() if want_shapes[k] != got_shapes[k]
    )
    if missing or extra or wrong:
        detail = []
        if missing:
            detail.append(f"missing {missing[:3]}")
        if extra:
            detail.append(f"unexpected {extra[:3]}")
        if wrong:
            k = wrong[0]
            detail.append(f"shape of {k} is {got_shapes[k]}, the model needs {want_shapes[k]}")
        raise CheckpointError(
            f"checkpoint '{where}' does not fit this model ({'; '.join(detail)}); "
            "use the model config stored with the checkpoint or a matching checkpoint."
        )
