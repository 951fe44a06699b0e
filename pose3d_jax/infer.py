"""Command line: 2D and 3D joints of every person in each image or video, as JSON and pictures.

    python -m pose3d_jax.infer IMAGE [IMAGE | DIR | VIDEO ...] [--checkpoint DIR]
        [--detect detector|network|hog|none | --bbox x,y,w,h] [--max-people N]
        [--flip] [--backend auto|xla|onnxruntime|openvino] [--precision fp32|bf16|int8]
        [--calibration DIR] [--out DIR] [--batch-size N]
        [--fov DEG | --intrinsics fx,fy,cx,cy] [--skeleton mpii16|h36m17] [--bvh]

For each image NAME it writes OUT/NAME.json (per person: box, detector score, crop,
2D joints in original-image pixels with confidences, pelvis-relative 3D joints in
mm; docs/schema/image.schema.json) and OUT/NAME.png (each person's skeleton and
index over the image beside a 3D view), each written whole or not at all. For a
video (or, with --frames, a folder of numbered frames) NAME it writes OUT/NAME.jsonl
(one line per frame, each person with a track ID), OUT/NAME.mp4 and OUT/NAME.json
(see pose3d_jax/inference/video.py), and with --bvh OUT/NAME_trackID.bvh per track.
--fov or --intrinsics adds each person's joints in the camera's frame (mm);
--skeleton h36m17 writes Human3.6M's 17 joints instead of our 16. A bad image is
reported in one sentence and skipped; the others are still processed; the exit code
is 1 if any failed.
"""

import argparse
import sys

from pose3d_jax.inference import image_io

DEFAULT_OUT = "pose3d_out"


def _parse_bbox(text):
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4 or values[2] <= 0 or values[3] <= 0:
        raise argparse.ArgumentTypeError(
            f"--bbox must be x,y,w,h with positive w and h (pixels), got '{text}'"
        )
    return values


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _fraction(text):
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _fov(text):
    from pose3d_jax.motion import camera

    try:
        return camera.check_fov(text)
    except (camera.CameraError, ValueError) as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--fov ")) from None


def _intrinsics(text):
    from pose3d_jax.motion import camera

    try:
        return camera.parse_intrinsics(text)
    except camera.CameraError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--intrinsics ")) from None


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m pose3d_jax.infer",
        description="2D and 3D human pose of every person in each image or video.",
    )
    parser.add_argument(
        "inputs", nargs="+", help="image files (PNG, JPEG), folders of them, or videos"
    )
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="training workdir, checkpoint folder or step folder "
        "(default: $POSE3D_JAX_CHECKPOINT or ~/.cache/pose3d_jax/demo)",
    )
    parser.add_argument(
        "--bbox", type=_parse_bbox, default=None, help="person box x,y,w,h in pixels (all images)"
    )
    parser.add_argument(
        "--detect",
        nargs="?",
        const="detector",
        default=None,
        choices=("detector", "network", "hog", "none"),
        help="how people are found: 'detector' (default: BlazePose's trained person detector, "
        "every person), or one person per image: 'network' (the pose network searches the "
        "image), 'hog' (OpenCV's HOG detector), 'none' (the centred crop, as the original demo)",
    )
    people = parser.add_argument_group("the person detector (--detect detector)")
    people.add_argument(
        "--max-people", type=_positive_int, default=None, help="at most this many, best first"
    )
    people.add_argument(
        "--detector-model",
        default=None,
        help="the detector's .tflite (default: $POSE3D_JAX_DETECTOR_MODEL or the file "
        "`python -m pose3d_jax.get_detector` fetched)",
    )
    people.add_argument(
        "--detect-threshold", type=_fraction, default=0.5, help="detector score threshold (0.5)"
    )
    people.add_argument(
        "--min-person",
        type=float,
        default=0.2,
        help="smallest person to look for, of the image's shorter side (0.2; smaller: slower)",
    )
    parser.add_argument(
        "--flip", action="store_true", help="average with the mirrored image (test-time flip)"
    )
    parser.add_argument(
        "--backend",
        choices=("auto", "xla", "onnxruntime", "openvino"),
        default=None,
        help="runtime of the network (default auto: xla on GPUs; on CPUs the fastest engine "
        "and precision within the accuracy guard, python -m pose3d_jax.tune_cpu measures it)",
    )
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16", "int8"),
        default=None,
        help="CPU precision on --backend openvino: bf16 uses the CPU's bf16 units (AMX, "
        "AVX-512 BF16), int8 a model quantized with --calibration (default fp32)",
    )
    parser.add_argument(
        "--calibration",
        default=None,
        metavar="DIR",
        help="frames like the ones to run (8 or more) that fix int8's quantization ranges",
    )
    video = parser.add_argument_group("videos (files OpenCV reads, or folders with --frames)")
    video.add_argument(
        "--frames", action="store_true", help="treat each folder as the numbered frames of a video"
    )
    video.add_argument("--fps", type=float, default=None, help="frame rate of frame folders (25)")
    video.add_argument(
        "--chunk", type=_positive_int, default=4, help="frames per network batch when tracking"
    )
    video.add_argument(
        "--detect-every", type=_positive_int, default=8, help="frames between detector runs (8)"
    )
    video.add_argument(
        "--redetect-fraction",
        type=float,
        default=0.5,
        help="run the detector again when a track's score falls below this share of its "
        "score when last detected (0.5)",
    )
    video.add_argument("--smooth", action="store_true", help="One-Euro filter on the joints")
    video.add_argument("--smooth-min-cutoff", type=float, default=1.0, help="Hz, at rest (1.0)")
    video.add_argument("--smooth-beta", type=float, default=0.05, help="speed coefficient (0.05)")
    video.add_argument("--smooth-d-cutoff", type=float, default=1.0, help="Hz, of the speed (1.0)")
    motion = parser.add_argument_group("metric 3D, joint order and animation")
    placed = motion.add_mutually_exclusive_group()
    placed.add_argument(
        "--fov",
        type=_fov,
        default=None,
        help="the camera's field of view in degrees across the image's longer side: adds "
        "joints_3d_camera_mm (the pose placed in the camera's frame, mean-skeleton size)",
    )
    placed.add_argument(
        "--intrinsics",
        type=_intrinsics,
        default=None,
        help="fx,fy,cx,cy in pixels (OpenCV's camera matrix): as --fov, with the real camera",
    )
    motion.add_argument(
        "--skeleton",
        choices=("mpii16", "h36m17"),
        default="mpii16",
        help="joint order of the JSON and BVH: ours (MPII's 16, default) or Human3.6M's 17 "
        "(its Neck/Nose derived, listed in derived_joints)",
    )
    motion.add_argument(
        "--bvh",
        action="store_true",
        help="videos and frame folders: a BVH animation per track (Y up; Blender imports it)",
    )
    motion.add_argument(
        "--bvh-units", choices=("m", "cm", "mm"), default="m", help="BVH length unit (m)"
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--batch-size", type=_positive_int, default=8, help="images per batch")
    parser.add_argument(
        "--max-pixels",
        type=float,
        default=float(image_io.DEFAULT_MAX_PIXELS),
        help="refuse images with more pixels than this (default 100e6)",
    )
    return parser


def main(argv=None) -> int:
    """Entry point; `argv` without the program name (defaults to sys.argv[1:])."""
    args = build_parser().parse_args(argv)
    from pose3d_jax.inference import images

    if args.bbox is not None and args.detect is not None:
        images.print_error("--bbox and --detect exclude each other; give one.")
        return 2
    if not 0.02 <= args.min_person <= 1.0:
        images.print_error(f"--min-person must be in [0.02, 1], got {args.min_person}.")
        return 2
    args.detect = args.detect or "detector"
    args.camera = camera_from_args(args)
    return images.run(args)


def camera_from_args(args):
    """The motion.camera.CameraModel of --fov / --intrinsics, or None."""
    if args.fov is None and args.intrinsics is None:
        return None
    from pose3d_jax.motion import camera

    return camera.CameraModel(fov_deg=args.fov, intrinsics=args.intrinsics)


if __name__ == "__main__":
    sys.exit(main())
