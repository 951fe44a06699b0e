"""`--backend auto`: the CPU engine and precision to run, from measurement on this machine.

`python -m pose3d_jax.tune_cpu` times the engines and precisions here and runs the
accuracy guard (evaluation/precision_guard.py), and keeps the fastest that passes in
CHOICE_ROOT/<machine>.json (the machine named as the compilation cache names it: its
architecture and CPU features; the engines' versions are checked too). Until then
`auto` runs what benchmarks/README.md measured on CPUs of this kind: OpenVINO bf16 on
a CPU with bf16 instructions (AMX or AVX-512 BF16: 5x ONNX Runtime fp32 here, within
the guard), else ONNX Runtime fp32. On GPUs `auto` is XLA.
"""

import importlib.metadata
import importlib.util
import json
import os
from pathlib import Path

from pose3d_jax import fileio
from pose3d_jax.inference import precision as precision_lib
from pose3d_jax.runtime import compile_cache

AUTO = "auto"
CHOICE_ROOT = "~/.cache/pose3d_jax/engine_choice"
CHOICE_ENV = "POSE3D_JAX_ENGINE_CHOICE"  # a folder, or "off" to ignore kept choices


def engine_versions() -> dict:
    """The installed engines' versions and our int8 method: a kept choice is stale when
    they change (a new quantization can pass the guard where the old one failed)."""
    from pose3d_jax.deploy import openvino_ir

    versions = {"int8": openvino_ir.quantization_method(precision_lib.overflow_fix())}
    for package in ("onnxruntime", "openvino"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def choice_path() -> Path | None:
    value = os.environ.get(CHOICE_ENV)
    if value and value.strip().lower() == "off":
        return None
    root = Path(value).expanduser() if value else Path(CHOICE_ROOT).expanduser()
    return root / f"{compile_cache.machine_tag()}.json"


def read_choice() -> dict | None:
    """The kept choice for this machine and these engines' versions, else None."""
    path = choice_path()
    if path is None or not path.exists():
        return None
    try:
        choice = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if choice.get("versions") != engine_versions():
        return None
    return choice


def write_choice(choice: dict) -> Path:
    """Keeps `choice` ({'backend', 'precision', ...}) for this machine; returns the file."""
    path = choice_path()
    if path is None:
        raise ValueError(f"{CHOICE_ENV}=off: the choice is not kept.")
    return fileio.write_json_atomic(path, {**choice, "versions": engine_versions()})


def rule_choice(flags=None) -> dict:
    """What `auto` runs on a CPU before tune_cpu measured this machine."""
    if importlib.util.find_spec("openvino") is not None and precision_lib.bf16_supported(flags):
        reason = "a CPU with bf16 units: OpenVINO bf16 (benchmarks/README.md)"
        return {"backend": "openvino", "precision": "bf16", "source": "rule", "reason": reason}
    if importlib.util.find_spec("onnxruntime") is not None:
        reason = "no bf16 units or no openvino: ONNX Runtime fp32"
        return {"backend": "onnxruntime", "precision": "fp32", "source": "rule", "reason": reason}
    reason = "neither openvino nor onnxruntime is installed: XLA fp32"
    return {"backend": "xla", "precision": "fp32", "source": "rule", "reason": reason}


def resolve(requested_precision=None) -> dict:
    """{'backend', 'precision', 'source', 'reason'} of `auto` on a CPU: the kept choice,
    else the rule; a precision asked for explicitly is kept (bf16 and int8 on openvino)."""
    choice = read_choice() or rule_choice()
    choice = {key: choice.get(key) for key in ("backend", "precision", "source", "reason")}
    choice["source"] = choice["source"] or "tune_cpu"
    if requested_precision in precision_lib.REDUCED:
        reason = f"--precision {requested_precision} runs on OpenVINO"
        return {**choice, "backend": "openvino", "precision": requested_precision,
                "reason": reason}  # fmt: skip
    if requested_precision == "fp32":
        return {**choice, "precision": "fp32"}
    return choice
