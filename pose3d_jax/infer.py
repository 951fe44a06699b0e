"""Command line: 2D and 3D joints of the person in each image, as JSON and a picture.

    python -m pose3d_jax.infer IMAGE [IMAGE | DIR ...] [--checkpoint DIR]
        [--bbox x,y,w,h] [--detect] [--flip] [--backend xla|onnxruntime] [--out DIR]
        [--batch-size N] [--max-pixels 100e6]

For a video (or, with --frames, a folder of numbered frames) NAME it writes
OUT/NAME.jsonl (one line per frame), OUT/NAME.mp4 and OUT/NAME.json (see
pose3d_jax/inference/video.py); the person is found once and followed.
For each image NAME it writes OUT/NAME.json (joint names, 2D joints in
original-image pixels with confidences, pelvis-relative 3D joints in mm, the
crop used) and OUT/NAME.png (the skeleton over the image beside a 3D view),
each written whole or not at all. A bad image is reported in one sentence and
skipped; the others are still processed; the exit code is 1 if any failed.
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


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m pose3d_jax.infer",
        description="2D and 3D human pose of the (centred) person in each image.",
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
        const="network",
        default=False,
        choices=("network", "hog"),
        help="find the person: 'network' (default when given; the pose network scores windows "
        "over the image and refines the best) or 'hog' (OpenCV's HOG people detector)",
    )
    parser.add_argument(
        "--flip", action="store_true", help="average with the mirrored image (test-time flip)"
    )
    parser.add_argument(
        "--backend",
        choices=("xla", "onnxruntime"),
        default=None,
        help="runtime of the network (default: onnxruntime on CPUs, xla on GPUs)",
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
        "--relocalise-fraction",
        type=float,
        default=0.5,
        help="search the frame again when the score falls below this share of the last search's",
    )
    video.add_argument("--smooth", action="store_true", help="One-Euro filter on the joints")
    video.add_argument("--smooth-min-cutoff", type=float, default=1.0, help="Hz, at rest (1.0)")
    video.add_argument("--smooth-beta", type=float, default=0.05, help="speed coefficient (0.05)")
    video.add_argument("--smooth-d-cutoff", type=float, default=1.0, help="Hz, of the speed (1.0)")
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

    if args.bbox is not None and args.detect:
        images.print_error("--bbox and --detect exclude each other; give one.")
        return 2
    return images.run(args)


if __name__ == "__main__":
    sys.exit(main())
