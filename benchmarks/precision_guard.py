"""The accuracy guard of bf16 and int8 on this CPU (OpenVINO) against fp32; one JSON line.

    python benchmarks/precision_guard.py [--precisions bf16 int8] [--checkpoint DIR]
        [--demo-checkpoint ~/.cache/pose3d_jax/demo] [--demo-data demo_out]

1. Frames: the paper-size network (a trained checkpoint with --checkpoint, else the
   authors' architecture with random weights and non-trivial BatchNorm statistics, as
   infer_engines.py builds it) on person crops of the release's real frames
   (../shared/data/images, cut as infer cuts them): the share of joints whose heatmap
   maximum moves by more than one heatmap pixel from fp32's; and, since an untrained
   network's maps are flat (any rounding moves their maxima), how far the maxima stand
   out (precision_guard.peak_margins) and the share moved among those that do.
2. Demo: the trained demo checkpoint (`make demo`) scored by the paper's protocols on
   its held-out synthetic H36M test subjects and MPII validation (evaluate
   --backend=openvino --precision=P) against OpenVINO fp32: MPJPE, PA-MPJPE, PCKh.
int8 is calibrated on the real frames and the demo's synthetic frames together.
Each precision's verdict is pose3d_jax.evaluation.precision_guard.judge's.
"""

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pose3d_jax.evaluation import precision_guard
from pose3d_jax.inference import calibration, onnx_engine, openvino_engine
from pose3d_jax.inference import precision as precision_lib

REAL_FRAMES = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"
PEAKED_MARGIN = 0.05  # a maximum 5% above the best value beyond one pixel: a real peak
DEMO_CHECKPOINT = Path.home() / ".cache" / "pose3d_jax" / "demo"


def paper_size_network(checkpoint_dir):
    from pose3d_jax.model import network

    if checkpoint_dir:
        return network.load_network(checkpoint_dir), "checkpoint"
    from benchmarks.infer_engines import _our_network, _torch_net

    net, res = _torch_net(tiny=False)
    return _our_network(net, res), "random weights, BatchNorm statistics as trained"


def demo_frames(demo_data: Path, limit=64) -> list[Path]:
    """The demo's synthetic H36M frames (training subjects: not those it is scored on)."""
    frames = sorted((demo_data / "raw" / "h36m" / "images").glob("s_01_*/*.jpg"))
    return frames[:: max(1, len(frames) // limit)][:limit]


def calibration_set(res, demo_data, detector):
    parts = [calibration.calibration_crops(REAL_FRAMES, res, detector)]
    frames = demo_frames(demo_data)
    if len(frames) >= calibration.MIN_IMAGES:
        parts.append(calibration.calibration_crops(frames, res, detector))
    return np.concatenate(parts)


def frames_check(loaded, precisions, demo_data, detector, tmp):
    res = loaded.input_res
    crops = calibration.calibration_crops(REAL_FRAMES, res, detector)
    export = onnx_engine.OnnxRuntimeEngine.for_network(loaded, cache_directory=tmp).model_path
    reference = openvino_engine.OpenVinoEngine(export, precision="fp32")(crops)["heatmaps"]
    calibration_crops = calibration_set(res, demo_data, detector)
    margins = precision_guard.peak_margins(reference)
    peaked = margins > PEAKED_MARGIN
    moved, details = {}, {"median_peak_margin": round(float(np.median(margins)), 5),
                          f"joints_with_margin_over_{PEAKED_MARGIN}": int(peaked.sum()),
                          "joints": int(margins.size)}  # fmt: skip
    for precision in precisions:
        engine = openvino_engine.OpenVinoEngine(
            export, precision=precision, calibration_crops=calibration_crops
        )
        heatmaps = engine(crops)["heatmaps"]
        moved[precision] = precision_guard.moved_share(reference, heatmaps)
        shifts = np.linalg.norm(
            precision_guard.heatmap_peaks(heatmaps) - precision_guard.heatmap_peaks(reference),
            axis=-1,
        )
        details[f"{precision}_moved_share_where_peaked"] = (
            round(float(np.mean(shifts[peaked] > precision_guard.MOVE_PIXELS)), 4)
            if peaked.any() else None
        )  # fmt: skip
    return moved, details, len(crops), len(calibration_crops)


def demo_check(precisions, demo_checkpoint, demo_data, detector):
    import importlib

    from pose3d_jax.evaluation import run as evaluation_run

    config = importlib.import_module("configs.synthetic").get_config()
    config.data.data_dir = str(demo_data / "shards")
    datasets = ("h36m", "mpii")

    def scored(precision, calibration_frames=None):
        results = evaluation_run.run(
            config, demo_checkpoint, datasets, backend="openvino", precision=precision,
            calibration=calibration_frames,
        )  # fmt: skip
        line = evaluation_run.headline(results)
        return {"mpjpe_mm": line["mpjpe_mm"], "pa_mpjpe_mm": line["pa_mpjpe_mm"],
                "pckh": line["pck"]}  # fmt: skip

    reference = scored("fp32")
    frames = [*calibration.calibration_images(REAL_FRAMES), *demo_frames(demo_data)]
    return reference, {p: scored(p, frames) for p in precisions}


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
    if "bf16" in args.precisions and not precision_lib.bf16_supported():
        print("this CPU has no bf16 instructions: bf16 would run fp32", file=sys.stderr)
    detector = calibration.default_detector()
    loaded, weights = paper_size_network(args.checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        moved, details, frames, calibrated = frames_check(
            loaded, args.precisions, args.demo_data, detector, tmp
        )
    result = {"benchmark": "precision_guard", "paper_size_weights": weights,
              "real_frames": frames, "calibration_crops": calibrated,
              "cropped_by": "detector" if detector else "centred",
              "cpu_bf16": precision_lib.bf16_supported(), "peaks": details}  # fmt: skip
    has_demo = (args.demo_data / "shards").is_dir() and args.demo_checkpoint.exists()
    reference, demo = None, {}
    if has_demo and not args.skip_demo:
        with contextlib.redirect_stdout(sys.stderr):  # the evaluation's tables
            reference, demo = demo_check(
                args.precisions, args.demo_checkpoint, args.demo_data, detector
            )
    result["demo"] = "scored" if demo else "absent (make demo) or skipped"
    result["verdicts"] = {
        p: precision_guard.judge(p, reference_metrics=reference,
                                 candidate_metrics=demo.get(p), moved=moved[p]).to_dict()
        for p in args.precisions
    }  # fmt: skip
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
