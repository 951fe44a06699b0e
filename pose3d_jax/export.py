"""Command line: the network of a checkpoint as a deployable file.

    python -m pose3d_jax.export --checkpoint DIR --format onnx|stablehlo|savedmodel|openvino \
        --out PATH [--batch N | --batch dynamic] [--precision fp32|bf16|int8 --calibration DIR
        [--overflow-fix enable|first_layer_only]]

onnx        PATH is an .onnx file (opset 17); its metadata property 'pose3d_contract'
            holds the JSON contract (input, outputs, joint names, provenance).
stablehlo   PATH is a jax.export serialization (load it with jax.export.deserialize);
            PATH.json beside it holds the contract and the serialization version.
savedmodel  PATH is a TF SavedModel folder (signature 'serving_default');
            the contract is PATH/assets.extra/pose3d_contract.json.
openvino    PATH is an OpenVINO IR .xml (its weights in PATH's .bin) at --precision:
            fp32, bf16 (fp32 weights; OpenVINO's CPU plugin is told to run bf16 by
            the file's runtime options) or int8 (NNCF, calibrated on --calibration's
            images cut as infer cuts them; 7-bit weights by default, which run
            accurately on every x86 CPU, or with --overflow-fix first_layer_only 8-bit
            weights after the first layer, for CPUs with VNNI or AMX only); the contract
            is in its runtime information.
All take a crop [batch, R, R, 3], RGB in [0, 1], and give the last stack's
heatmaps [batch, R/4, R/4, 16] and the depths [batch, 16]. Each file is
written whole or not at all.
"""

import argparse
import sys

FORMATS = ("onnx", "stablehlo", "savedmodel", "openvino")


def _batch(text):
    if text == "dynamic":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"--batch must be a positive integer or 'dynamic', got {text!r}"
        )
    return value


def _calibration_crops(folder, res):
    """int8's calibration crops from a folder (None without one), cut as infer cuts them."""
    if folder is None:
        return None
    from pose3d_jax.inference import calibration

    return calibration.calibration_crops(folder, res, calibration.default_detector())


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m pose3d_jax.export",
        description="Export a checkpoint's network to ONNX, StableHLO, a TF SavedModel or "
        "OpenVINO IR.",
    )
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="training workdir, checkpoint folder or step folder "
        "(default: $POSE3D_JAX_CHECKPOINT or ~/.cache/pose3d_jax/demo)",
    )
    parser.add_argument("--format", required=True, help=f"one of {', '.join(FORMATS)}")
    parser.add_argument("--out", required=True, help="output file (onnx, stablehlo) or folder")
    parser.add_argument(
        "--batch", type=_batch, default=None, help="fixed batch size, or 'dynamic' (default)"
    )
    parser.add_argument(
        "--precision",
        default=None,
        help="fp32 (default), bf16 or int8: --format openvino only",
    )
    parser.add_argument(
        "--calibration", default=None,
        help="--precision int8: a folder of images of people to calibrate on (at least 8)",
    )  # fmt: skip
    parser.add_argument(
        "--overflow-fix", default="enable",
        help="--precision int8: NNCF's overflow fix; enable (default: 7-bit weights, "
        "accurate on CPUs without VNNI too) or first_layer_only (8-bit weights after the "
        "first layer: only for CPUs with AVX-512 VNNI, AVX-VNNI or AMX)",
    )  # fmt: skip
    return parser


def main(argv=None) -> int:
    """Entry point; `argv` without the program name (defaults to sys.argv[1:])."""
    args = build_parser().parse_args(argv)
    if args.format not in FORMATS:
        print(
            f"error: unknown format '{args.format}'; choose one of {', '.join(FORMATS)}.",
            file=sys.stderr,
        )
        return 2
    from pose3d_jax import checkpoint
    from pose3d_jax.deploy import exporters
    from pose3d_jax.inference import precision as precision_lib
    from pose3d_jax.inference.precision import PrecisionError
    from pose3d_jax.model import network

    try:
        exporters.check_precision(args.format, args.precision, args.calibration)
        overflow_fix = precision_lib.check_overflow_fix(args.overflow_fix)
        exporters.check_writable(args.out)
        loaded = network.load_network(args.checkpoint)
        crops = _calibration_crops(args.calibration, loaded.input_res)
        written = exporters.export(
            loaded, args.format, args.out, batch=args.batch,
            precision=args.precision, calibration_crops=crops, overflow_fix=overflow_fix,
        )  # fmt: skip
    except (checkpoint.CheckpointError, exporters.ExportError, PrecisionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    warning = checkpoint.provenance_warning(loaded.meta)
    if warning:
        print(f"warning: {warning}.", file=sys.stderr)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
