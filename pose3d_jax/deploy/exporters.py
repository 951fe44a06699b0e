"""The network of a checkpoint as ONNX, StableHLO (jax.export), a TF SavedModel or
OpenVINO IR (fp32, bf16 or int8; openvino_ir.py).

All of them compute the same function, `inference_function`: the crop (RGB in
[0, 1], NHWC) in; the last stack's heatmaps and the depths out (contract.py
says what they mean). Each writer builds the whole artifact under a temporary
name beside the target and renames it into place, so a failed export leaves
nothing behind.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp

from pose3d_jax import fileio
from pose3d_jax.deploy import contract as contract_lib
from pose3d_jax.deploy import onnx_graph, openvino_ir
from pose3d_jax.model import interface

FORMATS = ("onnx", "stablehlo", "savedmodel", "openvino")
PRECISIONS = ("fp32", "bf16", "int8")
EXPORT_PLATFORMS = ("cpu", "cuda")  # StableHLO and SavedModel run on either
SAVEDMODEL_CONTRACT = f"assets.extra/{contract_lib.CONTRACT_KEY}.json"


class ExportError(Exception):
    """An export that cannot be made; the message names the cause and the fix."""


def inference_function(network):
    """fn(images [B, R, R, 3] RGB in [0, 1]) -> {'heatmaps', 'depth'} of `network`.

    The model is rebuilt with plain convolutions (no XLA:CPU kernel forms), so the
    exported program is the network of SPEC 2 whatever machine exports it.
    """
    model = network.model.clone(pointwise_as_dot=False, cpu_conv3x3=False)
    variables, convention = network.variables, network.input_convention

    def fn(images):
        inputs = interface.to_network_input(images, convention, xp=jnp)
        outputs = model.apply(variables, inputs, train=False)
        return {"heatmaps": outputs["heatmaps"][-1], "depth": outputs["depth"]}

    return fn


def _input_spec(network, batch):
    res = network.input_res
    dim = jax.export.symbolic_shape("batch")[0] if batch is None else int(batch)
    return jax.ShapeDtypeStruct((dim, res, res, 3), jnp.float32)


def onnx_bytes(network, batch=None) -> bytes:
    """The serialized ONNX model, its contract in the metadata property CONTRACT_KEY."""
    info = contract_lib.contract(network, fmt="onnx", batch=batch)
    model = onnx_graph.build_model(
        jax.device_get(network.variables),
        network.meta["model"],
        network.input_res,
        network.input_convention,
        batch=batch,
        metadata={
            contract_lib.CONTRACT_KEY: json.dumps(info),
            "joint_names": ",".join(info["joint_names"]),
            "input_res": network.input_res,
            "provenance": info["provenance"]["kind"],
        },
    )
    return model.SerializeToString()


def stablehlo_bytes(network, batch=None):
    """(serialized jax.export.Exported, its description for the JSON beside it)."""
    exported = jax.export.export(jax.jit(inference_function(network)), platforms=EXPORT_PLATFORMS)(
        _input_spec(network, batch)
    )
    info = contract_lib.contract(network, fmt="stablehlo", batch=batch)
    info["stablehlo"] = {
        "load": "jax.export.deserialize(open(PATH, 'rb').read()).call(images)",
        "calling_convention_version": exported.calling_convention_version,
        "jax_version": jax.__version__,
        "platforms": list(exported.platforms),
        "outputs_order": "a dict {'depth', 'heatmaps'} (keys sorted)",
    }
    return exported.serialize(), info


def _save_savedmodel(network, batch, directory):
    """Writes a TF SavedModel (signature 'serving_default': image -> heatmaps, depth)."""
    import tensorflow as tf
    from jax.experimental import jax2tf

    res = network.input_res
    shape = [f"(b, {res}, {res}, 3)"] if batch is None else None  # None: the given shape
    converted = jax2tf.convert(
        inference_function(network),
        polymorphic_shapes=shape,
        with_gradient=False,
        native_serialization_platforms=EXPORT_PLATFORMS,
    )
    module = tf.Module()
    module.serve = tf.function(
        lambda image: converted(image),
        input_signature=[tf.TensorSpec([batch, res, res, 3], tf.float32, name="image")],
        autograph=False,
    )
    tf.saved_model.save(module, str(directory), signatures={"serving_default": module.serve})
    info = contract_lib.contract(network, fmt="savedmodel", batch=batch)
    info["savedmodel"] = {
        "load": "tf.saved_model.load(PATH).signatures['serving_default'](image=images)",
        "tensorflow_version": tf.__version__,
        "platforms": list(EXPORT_PLATFORMS),
    }
    fileio.write_json_atomic(Path(directory) / SAVEDMODEL_CONTRACT, info)


def check_writable(out):
    """Fails early, before the export's work and without creating anything, when `out`
    cannot be written: its nearest existing ancestor must be a writable folder."""
    out = Path(out)
    if out.exists() and out.is_dir() and not _is_savedmodel(out) and any(out.iterdir()):
        raise ExportError(f"output '{out}' is a non-empty folder; give a new path with --out.")
    ancestor = out.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        reason = f"'{ancestor}' is a file, not a folder"
    elif not os.access(ancestor, os.W_OK | os.X_OK):
        reason = f"'{ancestor}' is not writable"
    else:
        return
    raise ExportError(f"cannot write to '{out}' ({reason}); choose --out in a writable folder.")


def _is_savedmodel(path):
    return (Path(path) / "saved_model.pb").exists()


def _replace_dir(tmp, out):
    """Moves the finished folder `tmp` to `out`, replacing an older export there."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        os.replace(out, old / "x")
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def check_precision(fmt, precision, calibration_crops=None) -> str:
    """`precision` (None: fp32) when `fmt` can hold it, else ExportError."""
    precision = precision or "fp32"
    if precision not in PRECISIONS:
        raise ExportError(
            f"unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)}."
        )
    if precision != "fp32" and fmt != "openvino":
        raise ExportError(
            f"--precision {precision} is written as OpenVINO IR: use --format openvino "
            f"(--format {fmt} is fp32)."
        )
    if precision == "int8" and calibration_crops is None:
        raise ExportError(
            "--precision int8 needs a calibration set to fix its quantization ranges: "
            "give --calibration DIR (at least 8 images of people)."
        )
    return precision


def export(network, fmt, out, batch=None, *, precision=None, calibration_crops=None,
           overflow_fix="enable"):  # fmt: skip
    """Exports `network` as `fmt` to `out`; returns the paths written.

    onnx: one file (contract in its metadata). stablehlo: the file and OUT.json.
    savedmodel: a folder, its contract in assets.extra/. openvino: OUT (.xml) and its
    .bin, the contract and precision in the model's runtime information; int8 with
    NNCF's `overflow_fix` ("enable", 7-bit weights, runs accurately on any CPU).
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}.")
    precision = check_precision(fmt, precision, calibration_crops)
    if precision == "int8" and overflow_fix not in openvino_ir.WEIGHT_BITS:
        fixes = ", ".join(openvino_ir.WEIGHT_BITS)
        raise ExportError(f"unknown int8 overflow fix '{overflow_fix}'; choose one of {fixes}.")
    out = Path(out)
    check_writable(out)
    if fmt != "savedmodel" and out.is_dir():
        raise ExportError(
            f"output '{out}' is a folder; --format {fmt} writes a file: give its path."
        )
    if fmt == "onnx":
        return [fileio.write_bytes_atomic(out, onnx_bytes(network, batch))]
    if fmt == "openvino":
        return _write_openvino(network, out, batch, precision, calibration_crops, overflow_fix)
    if fmt == "stablehlo":
        data, info = stablehlo_bytes(network, batch)
        sidecar = out.with_name(out.name + ".json")
        fileio.write_json_atomic(sidecar, info)
        try:
            return [fileio.write_bytes_atomic(out, data), sidecar]
        except BaseException:
            sidecar.unlink(missing_ok=True)
            raise
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        _save_savedmodel(network, batch, tmp)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [out]


def _write_openvino(network, out, batch, precision, calibration_crops, overflow_fix):
    if out.suffix != ".xml":
        raise ExportError(f"--format openvino writes OUT.xml and OUT.bin: give --out {out}.xml.")
    info = contract_lib.contract(network, fmt="openvino", batch=batch)
    info["openvino"] = {
        "precision": precision,
        "load": (
            "model = openvino.Core().read_model(PATH); core.compile_model(model, 'CPU', "
            "{'INFERENCE_PRECISION_HINT': model.get_rt_info(['runtime_options', "
            "'INFERENCE_PRECISION_HINT']).astype(str)}) (OpenVINO does not apply the "
            "file's hint by itself)"
        ),
        "contract": "model.get_rt_info(['pose3d', 'contract']).astype(str)",
    }
    if precision == "int8":
        info["openvino"]["int8_method"] = openvino_ir.quantization_method(overflow_fix)
    return openvino_ir.write_ir(
        onnx_bytes(network, batch), out, precision,
        calibration_crops=calibration_crops, metadata={"contract": json.dumps(info)},
        overflow_fix=overflow_fix,
    )  # fmt: skip
