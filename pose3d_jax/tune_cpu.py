"""Command line: choose this machine's CPU engine and precision for `--backend auto`.

    python -m pose3d_jax.tune_cpu [--checkpoint DIR] [--frames DIR] [--calibration DIR]
        [--demo-checkpoint DIR --demo-data DIR] [--rounds 3] [--dry-run]

Times ONNX Runtime fp32, OpenVINO fp32, bf16 (where the CPU has bf16 units) and int8
(with --calibration) on the paper-size network (random weights: speed depends on the
architecture only; --checkpoint times that checkpoint's network), batch 1 and 8,
interleaved; runs the accuracy guard of each reduced precision
(evaluation/precision_guard.py): the trained demo checkpoint's MPJPE and PCKh against
fp32 (`make demo` writes it) and, with --checkpoint and --frames, the share of heatmap
maxima that move on those frames. The fastest at batch 8 among fp32 and the reduced
precisions that passed is kept for this machine (inference/engine_choice.py), unless
--dry-run; a precision with nothing to guard it is not chosen. One JSON line on stdout.
"""

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path

DEMO_CHECKPOINT = Path.home() / ".cache" / "pose3d_jax" / "demo"
PAPER_MODEL = {"num_stacks": 2, "num_modules": 2, "num_features": 256, "num_reg_modules": 2,
               "num_joints": 16, "hourglass_depth": 4, "dtype": "float32"}  # fmt: skip


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m pose3d_jax.tune_cpu", description=__doc__)
    parser.add_argument("--checkpoint", default=None, help="time and guard this network")
    parser.add_argument("--frames", default=None, help="real frames for the heatmap check")
    parser.add_argument("--calibration", default=None, help="int8's calibration frames")
    parser.add_argument("--demo-checkpoint", type=Path, default=DEMO_CHECKPOINT)
    parser.add_argument("--demo-data", type=Path, default=Path("demo_out"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dry-run", action="store_true", help="measure, keep nothing")
    return parser


def candidates(calibration) -> list[tuple[str, str]]:
    from pose3d_jax.inference import precision

    found = [("onnxruntime", "fp32"), ("openvino", "fp32")]
    if precision.bf16_supported():
        found.append(("openvino", "bf16"))
    if calibration:
        found.append(("openvino", "int8"))
    return found


def timed_network(checkpoint_dir, tmp):
    from pose3d_jax.model import network

    if checkpoint_dir:
        return network.load_network(checkpoint_dir)
    return network.load_network(network.write_random_checkpoint(Path(tmp) / "paper", PAPER_MODEL))


def guard_verdicts(args, reduced, crops_for) -> dict:
    """{precision: Verdict dict} from the demo metrics and the frames check (where given)."""
    from pose3d_jax.evaluation import precision_guard

    reference, demo = None, {}
    if args.demo_checkpoint.exists() and (args.demo_data / "shards").is_dir():
        import importlib

        config = importlib.import_module("configs.synthetic").get_config()
        config.data.data_dir = str(args.demo_data / "shards")
        with contextlib.redirect_stdout(sys.stderr):
            reference, demo = precision_guard.demo_check(
                reduced, config, args.demo_checkpoint,
                precision_guard.demo_calibration_frames(args.demo_data),
            )  # fmt: skip
    frames = crops_for(reduced) if args.checkpoint and args.frames else {}
    verdicts = {}
    for precision in reduced:
        check = frames.get(precision)
        if reference is None and not (check and check["applicable"]):
            verdicts[precision] = {"precision": precision, "passed": False,
                                   "reasons": ["nothing guards it here: run make demo, or give "
                                               "--checkpoint (trained) and --frames"],
                                   "measured": {"frames": check} if check else {}}  # fmt: skip
            continue
        verdicts[precision] = precision_guard.judge(
            precision, reference_metrics=reference, candidate_metrics=demo.get(precision),
            frames=check,
        ).to_dict()  # fmt: skip
    return verdicts


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from pose3d_jax.evaluation import precision_guard
    from pose3d_jax.inference import calibration, engine_choice, engine_timing, engines
    from pose3d_jax.inference import precision as precision_lib
    from pose3d_jax.inference.predictor import engine_precision

    try:
        options = candidates(args.calibration)
        with tempfile.TemporaryDirectory() as tmp:
            loaded = timed_network(args.checkpoint, tmp)
            made = {}
            for backend, precision in options:
                choice = precision_lib.choose(precision, backend, calibration=args.calibration)
                extra = engine_precision(choice, args.calibration, loaded)
                made[f"{backend}_{precision}"] = engines.create(loaded, backend, **extra)
            rates = engine_timing.interleaved_rates(made, loaded.input_res, rounds=args.rounds)

            def crops_for(reduced):
                export = made["openvino_fp32"].model_path
                crops = calibration.calibration_crops(args.frames, loaded.input_res)
                calibration_crops = (
                    calibration.calibration_crops(args.calibration, loaded.input_res)
                    if args.calibration else None
                )  # fmt: skip
                return precision_guard.frames_check(export, crops, reduced, calibration_crops)

            reduced = [p for b, p in options if p != "fp32"]
            verdicts = guard_verdicts(args, reduced, crops_for)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    allowed = [(b, p) for b, p in options if p == "fp32" or verdicts[p]["passed"]]
    backend, precision = max(allowed, key=lambda o: (rates[f"{o[0]}_{o[1]}"][8],
                                                      rates[f"{o[0]}_{o[1]}"][1]))  # fmt: skip
    best = rates[f"{backend}_{precision}"]
    reason = (f"fastest within the accuracy guard here: {best[8]:.1f} images/s at batch 8, "
              f"{best[1]:.1f} at batch 1")  # fmt: skip
    choice = {"backend": backend, "precision": precision, "source": "tune_cpu",
              "reason": reason, "images_per_s": rates, "verdicts": verdicts}  # fmt: skip
    if not args.dry_run:
        choice["kept_in"] = str(engine_choice.write_choice(choice))
    print(json.dumps(choice))
    return 0


if __name__ == "__main__":
    sys.exit(main())
