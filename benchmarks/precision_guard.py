"""The accuracy guard of bf16 and int8 on this CPU (OpenVINO) against fp32; one JSON line.

    python benchmarks/precision_guard.py [--precisions bf16 int8] [--checkpoint DIR]
        [--demo-checkpoint ~/.cache/pose3d_jax/demo] [--demo-data demo_out] [--skip-demo]

1. Frames: the paper-size network (a trained checkpoint with --checkpoint, else the
   authors' architecture with random weights and non-trivial BatchNorm statistics, as
   infer_engines.py builds it) on person crops of the release's real frames
   (../shared/data/images, cut as infer cuts them): the share of joints whose heatmap
   maximum moves by more than one heatmap pixel from fp32's, over all joints and over
   the joints whose maximum is a peak (precision_guard.frames_moved: an untrained
   network's maps are flat, and any rounding moves their maxima).
2. Demo: the trained demo checkpoint (`make demo`) scored by the paper's protocols on
   its held-out synthetic H36M test subjects and MPII validation (evaluate
   --backend=openvino --precision=P) against OpenVINO fp32: MPJPE, PA-MPJPE, PCKh.
int8 is calibrated on the real frames and 64 of the demo's synthetic frames together for
the frames check, and on the demo's own training frames for the demo check.
Each precision's verdict is pose3d_jax.evaluation.precision_guard.judge's.
"""

import argparse
import contextlib
import importlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pose3d_jax.deploy import openvino_ir
from pose3d_jax.evaluation import precision_guard
from pose3d_jax.inference import calibration, onnx_engine
from pose3d_jax.inference import precision as precision_lib

REAL_FRAMES = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"
DEMO_CHECKPOINT = Path.home() / ".cache" / "pose3d_jax" / "demo"


def paper_size_network(checkpoint_dir):
    from pose3d_jax.model import network

    if checkpoint_dir:
        return network.load_network(checkpoint_dir), "checkpoint"
    from benchmarks.infer_engines import _our_network, _torch_net

    net, res = _torch_net(tiny=False)
    return _our_network(net, res), "random weights, BatchNorm statistics as trained"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precisions", nargs="+", default=["bf16", "int8"],
                        choices=["bf16", "int8"])  # fmt: skip
    parser.add_argument("--checkpoint", default=None, help="a trained paper-size checkpoint")
    parser.add_argument("--demo-checkpoint", type=Path, default=DEMO_CHECKPOINT)
    parser.add_argument("--demo-data", type=Path, default=Path("demo_out"))
    parser.add_argument("--skip-demo", action="store_true", help="the frames check only")
    args = parser.parse_args(argv)
    if not REAL_FRAMES.is_dir():
        parser.error(f"the real frames are not at {REAL_FRAMES} (../shared/data/images)")
    detector = calibration.default_detector()
    loaded, weights = paper_size_network(args.checkpoint)
    calibration_frames = [*calibration.calibration_images(REAL_FRAMES)]
    calibration_frames += precision_guard.demo_calibration_frames(args.demo_data, limit=64)
    demo_calibration = precision_guard.demo_calibration_frames(args.demo_data)
    res = loaded.input_res
    with tempfile.TemporaryDirectory() as tmp:
        export = onnx_engine.OnnxRuntimeEngine.for_network(loaded, cache_directory=tmp)
        frames = precision_guard.frames_check(
            export.model_path,
            calibration.calibration_crops(REAL_FRAMES, res, detector),
            args.precisions,
            calibration.calibration_crops(calibration_frames, res, detector),
        )
    result = {"benchmark": "precision_guard", "paper_size_weights": weights,
              "real_frames": len(calibration.calibration_images(REAL_FRAMES)),
              "calibration_frames": len(calibration_frames),
              "demo_calibration_frames": len(demo_calibration),
              "cropped_by": "detector" if detector else "centred",
              "cpu_bf16": precision_lib.bf16_supported(),
              "int8_method": openvino_ir.quantization_method(
                  precision_lib.overflow_fix())}  # fmt: skip
    reference, demo = None, {}
    has_demo = (args.demo_data / "shards").is_dir() and args.demo_checkpoint.exists()
    if has_demo and not args.skip_demo:
        config = importlib.import_module("configs.synthetic").get_config()
        config.data.data_dir = str(args.demo_data / "shards")
        with contextlib.redirect_stdout(sys.stderr):  # the evaluation's tables
            reference, demo = precision_guard.demo_check(
                args.precisions, config, args.demo_checkpoint, demo_calibration
            )
    result["demo"] = "scored" if demo else "absent (make demo) or skipped"
    result["verdicts"] = {
        p: precision_guard.judge(p, reference_metrics=reference, candidate_metrics=demo.get(p),
                                 frames=frames[p]).to_dict()
        if demo or frames[p]["applicable"] else
        {"precision": p, "passed": None, "reasons": ["nothing applicable measured"],
         "measured": {"frames": frames[p]}}
        for p in args.precisions
    }  # fmt: skip
    print(json.dumps(result, default=lambda v: v.item() if isinstance(v, np.generic) else v))
    return result


if __name__ == "__main__":
    main()
