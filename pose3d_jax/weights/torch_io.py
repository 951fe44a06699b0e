"""Reading PyTorch checkpoint files into {key: NumPy array}, safely by default.

A file is read with `torch.load(weights_only=True)`, which only rebuilds
tensors and plain containers. A whole pickled model (how the authors released
hgreg-3d.pth) needs `trust_pickle=True`: unpickling can run code from the
file. Its classes (`models.hg_3d.HourglassNet3D`, ...) live in the authors'
repository, which users do not have, so classes that cannot be imported are
replaced by empty stand-ins and the tensors are read from the modules'
`_parameters`/`_buffers`/`_modules`. torch is imported on first use only.
"""

import pickle
import types
import warnings
from pathlib import Path

# Start of a Torch7 binary file: object type 4 (torch class), index 1, then the version "V 1".
_T7_HEADER = b"\x04\x00\x00\x00\x01\x00\x00\x00\x03\x00\x00\x00V 1"


class ConversionError(Exception):
    """A weights file that cannot be converted; the message names the key or the fix."""


def _import_torch():
    try:
        import torch
    except ImportError as err:
        raise ConversionError(
            "reading PyTorch weights needs torch, which is optional: "
            "pip install 'pose3d_jax[convert]'."
        ) from err
    return torch


def looks_like_torch7(path):
    with open(path, "rb") as f:
        return f.read(len(_T7_HEADER)) == _T7_HEADER


def _stand_in(module_name, name):
    """An empty class named like one the file refers to but this Python cannot import."""

    def init(self, *args, **kwargs):
        del args, kwargs

    return type(name, (), {"__module__": module_name, "__init__": init})


class _LenientUnpickler(pickle.Unpickler):
    """Unpickler whose unknown classes become stand-ins (trusted files only)."""

    def find_class(self, module_name, name):
        try:
            return super().find_class(module_name, name)
        except Exception:  # the authors' code: absent, or Python 2 syntax
            return _stand_in(module_name, name)


def _lenient_pickle_module():
    """A `pickle_module` for torch.load that uses `_LenientUnpickler`."""
    module = types.ModuleType("pose3d_jax_lenient_pickle")
    module.Unpickler = _LenientUnpickler
    module.load = pickle.load
    return module


def _torch_load(path, trust_pickle):
    torch = _import_torch()
    try:
        if not trust_pickle:
            return torch.load(path, map_location="cpu", weights_only=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # source-changed warnings of old pickles
            return torch.load(
                path,
                map_location="cpu",
                weights_only=False,
                pickle_module=_lenient_pickle_module(),
                encoding="latin1",  # Python 2 pickles (2017); the same for Python 3 ones
            )
    except Exception as err:
        if not trust_pickle and "Unsupported global" in str(err):
            raise ConversionError(
                f"'{path}' holds pickled Python objects (a whole model, as the authors "
                "released it), not just tensors; unpickling it can run any code stored in the "
                "file, so it is refused by default: pass --trust-pickle (trust_pickle=True) if "
                "you trust where the file comes from."
            ) from None
        first_line = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        raise ConversionError(
            f"'{path}' is not a readable PyTorch checkpoint ({type(err).__name__}: "
            f"{first_line}); pass the authors' hgreg-3d .pth file."
        ) from None


def _module_tensors(module, prefix=""):
    """{key: tensor} of a torch module tree, read from its attributes (works on stand-ins)."""
    attrs = vars(module)
    skip = attrs.get("_non_persistent_buffers_set", set())
    found = {}
    for name, value in {**attrs["_parameters"], **attrs["_buffers"]}.items():
        if value is not None and name not in skip:
            found[prefix + name] = value
    for name, child in attrs["_modules"].items():
        if child is not None and not _is_module(child):
            raise ConversionError(
                f"submodule '{prefix}{name}' of the pickled model is not a module."
            )
        if child is not None:
            found.update(_module_tensors(child, f"{prefix}{name}."))
    return found


def _is_module(obj):
    return all(k in getattr(obj, "__dict__", {}) for k in ("_parameters", "_buffers", "_modules"))


def _tensors_of(obj, path):
    """The flat {key: tensor} the loaded object holds, and the name of its form."""
    if _is_module(obj):
        return _module_tensors(obj), "pytorch-pickled-module"
    if isinstance(obj, dict) and "state_dict" in obj:
        inner, _ = _tensors_of(obj["state_dict"], path)
        return inner, "pytorch-checkpoint-dict"
    if isinstance(obj, dict) and obj:
        return dict(obj), "pytorch-state-dict"
    raise ConversionError(
        f"'{path}' holds a {type(obj).__name__}, not a state_dict, a dict with 'state_dict', "
        "or a model; pass the authors' hgreg-3d .pth file."
    )


def _to_numpy(torch, key, value, path):
    if not isinstance(value, torch.Tensor):
        raise ConversionError(
            f"entry '{key}' of '{path}' is a {type(value).__name__}, not a tensor; "
            "the file is not a plain PyTorch state_dict."
        )
    value = value.detach().cpu()
    if value.is_floating_point():
        value = value.float()
    return value.numpy()


def _strip_data_parallel(state):
    """Drops the 'module.' prefix nn.DataParallel puts on every key."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module.") :]: v for k, v in state.items()}
    return state


def read_state_dict(path, *, trust_pickle=False):
    """The tensors of a PyTorch weights file.

    Args:
      path: a .pth / .pt file: a state_dict, {'state_dict': ...}, or a pickled model.
      trust_pickle: allow arbitrary pickled objects (can run code from the file).

    Returns:
      ({key: np.ndarray, float32 for floating tensors}, form name).

    Raises:
      ConversionError: a missing, unreadable or refused file, in one sentence (Torch7
        files go to torch7.py: convert.convert routes them).
    """
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"weights file '{path}' does not exist (or is not a file).")
    torch = _import_torch()
    tensors, form = _tensors_of(_torch_load(path, trust_pickle), path)
    tensors = _strip_data_parallel(tensors)
    return {k: _to_numpy(torch, k, v, path) for k, v in tensors.items()}, form
