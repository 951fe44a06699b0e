"""The ONNX export as OpenVINO IR (.xml + .bin) at fp32, bf16 or int8.

bf16 is not a property of the weights in OpenVINO but of how its CPU plugin runs
them (the INFERENCE_PRECISION_HINT), so a bf16 IR holds fp32 weights and the hint in
its runtime information. OpenVINO 2026.4 does not apply that hint on its own (a
plain compile_model runs bf16 on a CPU with bf16 units whatever the file says), so a
loader passes it: `compile_config(model)`, the line the contract documents.

int8 is NNCF's post-training quantization (FakeQuantize nodes calibrated on crops
cut as inference cuts them). NNCF rather than ONNX Runtime's static QDQ tools,
because QDQ int8 gave no speed-up on our AMX CPU (7.3 against fp32's 7.5 images/s,
issue 29's measurement) while OpenVINO's int8 runs 1.2-1.3x its bf16
(benchmarks/README.md). Activation ranges are NNCF's mean quantiles, not its min-max:
a few calibration frames unlike the rest (real photos beside a synthetic model's
frames) stretched min-max ranges and cost the demo model 5.3% MPJPE, quantiles
0.9% (0.3% calibrated on its own frames); the same program, so the same speed
(benchmarks/README.md, "CPU precision"). Weights are 7-bit in every layer where the
CPU that runs them lacks VNNI (NNCF's overflow fix "enable"; inference/precision.py).
"""

import contextlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
CALIBRATION_SUBSET = 300  # NNCF's default number of calibration samples
RUNTIME_HINT_PATH = ["runtime_options", "INFERENCE_PRECISION_HINT"]
QUANTIZATION_METHOD = "mean-quantile"  # in the kept int8 files' names: a new method, new files
WEIGHT_BITS = {"enable": "w7", "first_layer_only": "w8"}  # by NNCF's overflow fix


def quantization_method(overflow_fix) -> str:
    """The int8 method's name (kept files, the IR's runtime information, kept choices)."""
    return f"{QUANTIZATION_METHOD}-{WEIGHT_BITS[overflow_fix]}"


def quantize(model, calibration_crops, overflow_fix="first_layer_only"):
    """`model` (an openvino.Model of the export) quantized to int8 on these crops, with
    NNCF's `overflow_fix` ("enable" for CPUs without VNNI: precision.overflow_fix)."""
    import nncf
    from nncf.quantization.advanced_parameters import (
        AdvancedQuantizationParameters,
        OverflowFix,
    )
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    crops = np.asarray(calibration_crops, np.float32)
    samples = nncf.Dataset([crops[i : i + 1] for i in range(len(crops))])
    ranges = AdvancedQuantizationParameters(
        activations_range_estimator_params=RangeEstimatorParametersSet.MEAN_QUANTILE,
        overflow_fix=OverflowFix(overflow_fix),
    )
    with contextlib.redirect_stdout(sys.stderr):  # NNCF's progress bar: stdout is the user's
        return nncf.quantize(
            model, samples, subset_size=min(len(crops), CALIBRATION_SUBSET),
            advanced_parameters=ranges,
        )  # fmt: skip


def save_atomic(model, xml_path) -> tuple[Path, Path]:
    """Writes `model` as XML_PATH and its .bin beside it, each under a temporary name
    first; the .xml last, so an .xml present means its weights are whole."""
    import openvino

    xml_path = Path(xml_path)
    weights_path = xml_path.with_suffix(".bin")
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{xml_path.stem}.", dir=xml_path.parent))
    try:
        openvino.save_model(model, str(tmp / "model.xml"), compress_to_fp16=False)
        os.replace(tmp / "model.bin", weights_path)
        os.replace(tmp / "model.xml", xml_path)
    finally:
        for leftover in tmp.iterdir():
            leftover.unlink()
        tmp.rmdir()
    return xml_path, weights_path


def compile_config(model) -> dict:
    """The compile_model configuration that runs `model` (an IR written here) at the
    precision it was written for."""
    if not model.has_rt_info(RUNTIME_HINT_PATH):
        return {}
    return {"INFERENCE_PRECISION_HINT": model.get_rt_info(RUNTIME_HINT_PATH).astype(str)}


def ir_model(onnx_path, precision, *, calibration_crops=None, metadata=None,
             overflow_fix="enable"):  # fmt: skip
    """The openvino.Model of the ONNX export at `onnx_path` for `precision`, with the
    precision hint and `metadata` (name -> string) in its runtime information. int8's
    `overflow_fix` defaults to "enable": a file may run on any CPU, VNNI or not."""
    import openvino

    model = openvino.Core().read_model(str(onnx_path))
    if precision == "int8":
        model = quantize(model, calibration_crops, overflow_fix)
        model.set_rt_info(quantization_method(overflow_fix), ["pose3d", "int8_method"])
    model.set_rt_info(HINTS[precision], RUNTIME_HINT_PATH)
    model.set_rt_info(precision, ["pose3d", "precision"])
    for name, value in (metadata or {}).items():
        model.set_rt_info(str(value), ["pose3d", name])
    return model


def write_ir(onnx_bytes: bytes, out, precision, *, calibration_crops=None, metadata=None,
             overflow_fix="enable"):  # fmt: skip
    """OUT (.xml) and OUT's .bin: the export in `onnx_bytes` as IR at `precision`."""
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        onnx_path.write_bytes(onnx_bytes)
        model = ir_model(
            onnx_path, precision, calibration_crops=calibration_crops, metadata=metadata,
            overflow_fix=overflow_fix,
        )  # fmt: skip
        return list(save_atomic(model, out))
