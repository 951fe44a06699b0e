"""CPU inference engines on the same network, interleaved in one run; one JSON line.

    python benchmarks/infer_engines.py [--rounds 5] [--calls 5] [--threads 2] [--tiny]

The authors' PyTorch network (benchmarks/pytorch_reference.py, random weights
with non-trivial BatchNorm statistics) is converted to our checkpoint layout
(pose3d_jax.weights.convert.map_state), so all engines compute one function:
  xla          our flax network under XLA:CPU (the jitted forward of Predictor)
  ort_ours     ONNX Runtime on our export (pose3d_jax.deploy, Predictor's onnxruntime backend)
  ort_torch    ONNX Runtime on torch.onnx.export of the authors' network (opset 17,
               TorchScript exporter), fed NCHW BGR/256 input made beforehand
  ov_fp32, ov_bf16, ov_int8
               OpenVINO on our export (Predictor's openvino backend) at each precision;
               int8 calibrated on crops of ../shared/data/images (the release's real
               frames; random crops where absent, said in the JSON), with this CPU's
               overflow fix (7-bit weights without VNNI: int8_method in the JSON)
  ov_int8_w8   (only when named in --engines) int8 with 8-bit weights after the first
               layer, NNCF's default, whatever the CPU: its speed beside ov_int8's
  ov_torch_bf16, ov_torch_fp32
               OpenVINO on the torch.onnx export, bf16 (the anchor: what a user
               deploying the authors' network on this CPU would run) and fp32
Each round times every engine in turn, the order rotated from round to round
(median of --calls calls after warm-up);
the JSON gives per engine and batch (1, 8) the median images/s over rounds, the
min-max spread, each engine's largest output difference from xla, and the
ratio of the default CPU backend to ort_torch per round.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pytorch_reference import HourglassNet3D
from pose3d_jax import checkpoint
from pose3d_jax.deploy import openvino_ir
from pose3d_jax.inference import engines, onnx_engine, openvino_engine, xla_engine
from pose3d_jax.inference import precision as precision_lib
from pose3d_jax.model import interface, network
from pose3d_jax.weights import convert

BATCHES = (1, 8)
ENGINES = ("xla", "ort_ours", "ort_torch", "ov_fp32", "ov_bf16", "ov_int8", "ov_torch_bf16",
           "ov_torch_fp32")  # fmt: skip
OPTIONAL_ENGINES = ("ov_int8_w8",)
REAL_FRAMES = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"


def _torch_net(tiny):
    features, stacks, res = (32, 1, 128) if tiny else (256, 2, 256)
    torch.manual_seed(0)
    net = HourglassNet3D(stacks, 2, features, 2, depth=4, input_size=res)
    with torch.no_grad():  # statistics as a trained network has them, so folding matters
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 2.0)
    return net.eval(), res


def _our_network(net, res):
    state = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    config, input_size = convert.infer_config({k: v.shape for k, v in state.items()})
    variables = convert.map_state(state, config, input_size)
    meta = {
        "model": convert.model_lib.model_meta(config),
        "input": {**checkpoint.INPUT_BGR_256, "res": res},
    }
    return network.network_from_variables(variables, meta)


class _LastStack(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        heatmaps, depth = self.net(x)
        return heatmaps[-1], depth


def _torch_onnx_engine(net, res, threads, directory):
    import onnxruntime

    path = Path(directory) / "torch.onnx"
    torch.onnx.export(
        _LastStack(net).eval(),  # export restores the wrapper's mode, and so the net's
        torch.zeros(1, 3, res, res),
        str(path),
        input_names=["image"],
        output_names=["heatmaps", "depth"],
        dynamic_axes={"image": {0: "batch"}, "heatmaps": {0: "batch"}, "depth": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(nchw_bgr):
        heatmaps, depth = session.run(["heatmaps", "depth"], {"image": nchw_bgr})
        return {"heatmaps": heatmaps.transpose(0, 2, 3, 1), "depth": depth}

    return run


def _ov_torch_engine(path, precision, threads):
    import openvino

    hint = {"fp32": "f32", "bf16": "bf16"}[precision]
    config = {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY",
              "INFERENCE_NUM_THREADS": threads}  # fmt: skip
    compiled = openvino.Core().compile_model(str(path), "CPU", config)
    request = compiled.create_infer_request()
    outputs = [compiled.output(name) for name in ("heatmaps", "depth")]

    def run(nchw_bgr):
        results = request.infer({"image": nchw_bgr})
        heatmaps, depth = (np.array(results[o]) for o in outputs)
        return {"heatmaps": heatmaps.transpose(0, 2, 3, 1), "depth": depth}

    return run


def _calibration(res):
    """(crops, source) for int8: the release's real frames, else random crops."""
    from pose3d_jax.inference import calibration

    if REAL_FRAMES.is_dir():
        return calibration.calibration_crops(REAL_FRAMES, res), "shared/data/images"
    rng = np.random.default_rng(1)
    return rng.uniform(0, 1, (16, res, res, 3)).astype(np.float32), "random crops"


def _median_seconds(fn, calls):
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _default_engine() -> tuple[str, str]:
    """What `infer` runs here by default ('auto' made concrete) and its key among ENGINES."""
    backend, precision, _ = engines.resolve()
    if backend == "openvino":
        return f"openvino {precision or 'fp32'}", f"ov_{precision or 'fp32'}"
    return backend, {"xla": "xla", "onnxruntime": "ort_ours"}[backend]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    parser.add_argument("--tiny", action="store_true", help="a small model, for a quick check")
    parser.add_argument(
        "--engines", nargs="+", default=None,
        help=f"a subset of {', '.join(ENGINES)}, or {', '.join(OPTIONAL_ENGINES)}",
    )  # fmt: skip
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    net, res = _torch_net(args.tiny)
    ours = _our_network(net, res)
    rng = np.random.default_rng(0)
    crops = rng.uniform(0, 1, (max(BATCHES), res, res, 3)).astype(np.float32)
    torch_inputs = np.ascontiguousarray(
        interface.to_network_input(crops, ours.input_convention, xp=np).transpose(0, 3, 1, 2)
    )
    with tempfile.TemporaryDirectory() as tmp:
        wanted = tuple(args.engines or ENGINES)
        unknown = sorted(set(wanted) - set(ENGINES) - set(OPTIONAL_ENGINES))
        if unknown:
            known = ", ".join((*ENGINES, *OPTIONAL_ENGINES))
            parser.error(f"unknown engines {unknown}; choose from {known}")
        wanted = tuple(dict.fromkeys(("xla", *wanted)))  # xla: the outputs' reference
        ort = onnx_engine.OnnxRuntimeEngine.for_network(
            ours, threads=args.threads, cache_directory=tmp
        )
        makers = {
            "xla": lambda: xla_engine.XlaEngine(ours),
            "ort_ours": lambda: ort,
            "ort_torch": lambda: _torch_onnx_engine(net, res, args.threads, tmp),
            "ov_torch_bf16": lambda: _ov_torch_engine(torch_path, "bf16", args.threads),
            "ov_torch_fp32": lambda: _ov_torch_engine(torch_path, "fp32", args.threads),
        }
        for key, precision, fix in [("ov_fp32", "fp32", None), ("ov_bf16", "bf16", None),
                                    ("ov_int8", "int8", None),
                                    ("ov_int8_w8", "int8", "first_layer_only")]:  # fmt: skip
            makers[key] = lambda p=precision, f=fix: openvino_engine.OpenVinoEngine(
                ort.model_path, precision=p, threads=args.threads, overflow_fix=f,
                calibration_crops=calibration_crops if p == "int8" else None,
            )  # fmt: skip
        torch_path = Path(tmp) / "torch.onnx"
        calibration_crops, calibration_source = (
            _calibration(res) if {"ov_int8", "ov_int8_w8"} & set(wanted) else (None, None)
        )
        runners = {}
        for name in ("ort_torch", *wanted):  # ort_torch writes torch.onnx
            if name not in runners:
                runners[name] = makers[name]()
        runners = {name: runners[name] for name in wanted}
        torch_fed = ("ort_torch", "ov_torch_bf16", "ov_torch_fp32")
        inputs = {name: torch_inputs if name in torch_fed else crops for name in runners}
        reference = runners["xla"](crops)
        with torch.no_grad():
            heatmaps, depth = _LastStack(net).eval()(torch.from_numpy(torch_inputs))
        pytorch = {"heatmaps": heatmaps.numpy().transpose(0, 2, 3, 1), "depth": depth.numpy()}
        result = {"model": "tiny" if args.tiny else "default", "input": res}
        result["cpu_bf16"] = precision_lib.bf16_supported()
        result["cpu_vnni"] = precision_lib.vnni_supported()
        result["int8_method"] = openvino_ir.quantization_method(precision_lib.overflow_fix())
        result["int8_calibration"] = calibration_source
        result["max_abs_diff_from_xla"] = {
            name: {k: float(np.abs(out[k] - reference[k]).max()) for k in ("heatmaps", "depth")}
            for name, out in [
                *((n, r(inputs[n])) for n, r in runners.items() if n != "xla"),
                ("pytorch", pytorch),
            ]
        }
        rates = {(n, b): [] for n in runners for b in BATCHES}
        for name, runner in runners.items():  # warm-up: compile, allocate
            for batch in BATCHES:
                runner(inputs[name][:batch])
        names = list(runners)
        for round_index in range(args.rounds):
            order = names[round_index % len(names) :] + names[: round_index % len(names)]
            for batch in BATCHES:
                for name in order:  # each engine goes first, middle and last in turn
                    runner = runners[name]
                    x = inputs[name][:batch]
                    rates[(name, batch)].append(
                        batch / _median_seconds(lambda r=runner, x=x: r(x), args.calls)
                    )
    default, default_key = _default_engine()
    for (name, batch), values in rates.items():
        result[f"{name}_b{batch}_images_per_s"] = round(statistics.median(values), 3)
        result[f"{name}_b{batch}_spread"] = [round(min(values), 3), round(max(values), 3)]
    anchor = "ov_torch_bf16" if ("ov_torch_bf16", 1) in rates else "ort_torch"
    compared = {default_key, "ov_bf16", "ov_int8", "ov_int8_w8"} & set(runners)
    for batch in BATCHES if anchor in runners else ():  # a subset may lack both anchors
        for name in sorted(compared):
            ratios = [
                a / b for a, b in zip(rates[(name, batch)], rates[(anchor, batch)], strict=True)
            ]
            result[f"{name}_vs_{anchor}_b{batch}"] = [round(min(ratios), 3), round(max(ratios), 3)]
    result.update(
        default_backend=default,
        default_engine=default_key,
        rounds=args.rounds,
        calls=args.calls,
        threads=args.threads,
        onnxruntime_version=__import__("onnxruntime").__version__,
        openvino_version=__import__("openvino").__version__,
        torch_version=torch.__version__,
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
