"""The network's ONNX export compiled by OpenVINO for the CPU, in fp32, bf16 or int8.

OpenVINO reads the same export ONNX Runtime runs (deploy/export_cache.py). Its CPU
plugin executes bf16 on AMX / AVX-512 BF16 where the hint asks for it (on such CPUs
it would pick bf16 even unasked, so fp32 is asked for explicitly), and int8 from a
model quantized by NNCF's post-training quantization with calibration crops; the
quantized model is kept beside the export, named by its method (7- or 8-bit weights:
the CPU's VNNI decides, precision.overflow_fix) and the calibration set's hash, so it
is made once.
"""

import hashlib
from pathlib import Path

import numpy as np

from pose3d_jax.deploy import openvino_ir
from pose3d_jax.inference import onnx_engine
from pose3d_jax.inference import precision as precision_lib
from pose3d_jax.model import interface


def calibration_key(crops) -> str:
    crops = np.ascontiguousarray(crops, np.float32)
    return hashlib.sha256(str(crops.shape).encode() + crops.tobytes()).hexdigest()[:16]


def quantized_model(core, model_path: Path, calibration_crops, overflow_fix):
    """The int8 model of the export at `model_path` for these crops and NNCF overflow
    fix (made once, kept)."""
    method = openvino_ir.quantization_method(overflow_fix)
    stem = f"{model_path.stem}_int8_{method}_{calibration_key(calibration_crops)}"
    xml, weights = model_path.with_name(stem + ".xml"), model_path.with_name(stem + ".bin")
    if xml.exists() and weights.exists():
        return core.read_model(str(xml))
    model = openvino_ir.quantize(core.read_model(str(model_path)), calibration_crops, overflow_fix)
    openvino_ir.save_atomic(model, xml)
    return model


class OpenVinoEngine:
    """An ONNX export run by OpenVINO's CPU plugin at one precision (precision.py)."""

    name = "openvino"
    fixed_shapes = False

    def __init__(self, model_path, *, precision="fp32", threads=None, calibration_crops=None,
                 overflow_fix=None):  # fmt: skip
        import openvino

        self.model_path = Path(model_path)
        self.precision = precision_lib.check_precision(precision)
        self.overflow_fix = precision_lib.check_overflow_fix(
            overflow_fix or precision_lib.overflow_fix()
        )  # int8 only: this CPU's (7-bit weights without VNNI)
        core = openvino.Core()
        if self.precision == "int8":
            model = quantized_model(core, self.model_path, calibration_crops, self.overflow_fix)
        else:
            model = core.read_model(str(self.model_path))
        cpus = int(threads) if threads else onnx_engine.available_cpus()
        self._config = {"INFERENCE_PRECISION_HINT": openvino_ir.HINTS[self.precision],
                        "INFERENCE_NUM_THREADS": cpus}  # fmt: skip
        self._core, self._model = core, model
        latency = {**self._config, "PERFORMANCE_HINT": "LATENCY"}
        self.compiled = core.compile_model(model, "CPU", latency)
        self._outputs = [self.compiled.output(name) for name in ("heatmaps", "depth")]
        self.request = self.compiled.create_infer_request()
        self.parts = max(1, min(cpus, onnx_engine.MAX_PARTS))
        self._part_requests = None
        self.crops_run = 0

    def _run_parts(self, crops):
        """The batch cut into `parts` pieces run at once, one stream of CPUs/parts threads
        each (as OnnxRuntimeEngine's parts: 2-5% faster at batch 8 on 2 cores)."""
        if self._part_requests is None:
            streams = self._core.compile_model(
                self._model, "CPU", {**self._config, "NUM_STREAMS": self.parts}
            )
            self._part_requests = [streams.create_infer_request() for _ in range(self.parts)]
            self._part_outputs = [streams.output(name) for name in ("heatmaps", "depth")]
        pieces = np.array_split(crops, self.parts)
        for request, piece in zip(self._part_requests, pieces, strict=True):
            request.start_async({"image": np.ascontiguousarray(piece)})
        outputs = []
        for request in self._part_requests:
            request.wait()
            outputs.append([np.array(request.get_tensor(o).data) for o in self._part_outputs])
        heatmaps, depth = zip(*outputs, strict=True)
        return np.concatenate(heatmaps), np.concatenate(depth)

    def run(self, crops):
        """(heatmaps, depth) of contiguous float32 crops [B, R, R, 3]."""
        parts_pay = self.crops_run >= onnx_engine.PARTS_AFTER_CROPS or self._part_requests
        self.crops_run += len(crops)
        if self.parts > 1 and len(crops) >= self.parts and parts_pay:
            return self._run_parts(crops)
        results = self.request.infer({"image": crops})
        return tuple(np.array(results[output]) for output in self._outputs)

    @classmethod
    def for_network(cls, network, *, cache_directory=None, **options):
        """The engine of a restored model.network.Network (exported on first use)."""
        from pose3d_jax.deploy import export_cache, export_index

        model_path = export_cache.cached_onnx(network, cache_directory)
        if network.step_dir is not None:
            export_index.remember(network.step_dir, model_path, cache_directory)
        return cls(model_path, **options)

    def __call__(self, crops_rgb01, *, flip=False):
        crops = np.asarray(crops_rgb01, np.float32)
        batch = crops.shape[0]
        if flip:
            crops = np.concatenate([crops, crops[:, :, ::-1, :]], axis=0)
        heatmaps, depth = self.run(np.ascontiguousarray(crops))
        outputs = {"heatmaps": heatmaps[:batch], "depth": depth[:batch]}
        if not flip:
            return outputs
        mirrored = {"heatmaps": heatmaps[batch:], "depth": depth[batch:]}
        return interface.flip_average(outputs, mirrored, xp=np)
